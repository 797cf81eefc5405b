import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { selectProtocol } from '../../../src/config/protocol.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic } from '../../../src/model/types.js';

const ctx = { source: 'mesh/a.yaml', defaultNamespace: 'default' };

function svc(spec: unknown, meta: Record<string, unknown> = { name: 'web', namespace: 'shop' }): unknown {
  return { apiVersion: 'v1', kind: 'Service', metadata: meta, spec };
}

test('Service: hostname, sorted ports, protocols, targetPort number or name, clusterIP kept', () => {
  const r = parseObject(svc({ clusterIP: '10.0.0.7', selector: { app: 'web' }, ports: [
    { name: 'tcp-db', port: 5432 }, { name: 'http-web', port: 80, targetPort: 8080 }, { name: 'grpc', port: 9090, targetPort: 'grpc-port' },
    { name: 'x', port: 7000, appProtocol: 'http2' },
  ] }), ctx, { domainSuffix: 'example.local' });
  assert.equal(r.status, 'ok');
  if (r.status !== 'ok' || r.object.kind !== 'Service') return;
  const s = r.object.value;
  assert.equal(s.hostname, 'web.shop.svc.example.local');
  assert.equal(s.clusterIP, '10.0.0.7');
  assert.deepEqual(s.ports.map((p) => [p.port, p.protocol, p.targetPort]), [[80, 'HTTP', 8080], [5432, 'TCP', 5432], [7000, 'HTTP2', 7000], [9090, 'GRPC', 'grpc-port']]);
  assert.equal(r.key, 'Service/shop/web');
});

test('protocol selection follows Istio: name prefix, appProtocol first, unknown → TCP, UDP unsupported', () => {
  assert.equal(selectProtocol('http', undefined, undefined), 'HTTP');
  assert.equal(selectProtocol('HTTP2-foo', undefined, undefined), 'HTTP2');
  assert.equal(selectProtocol('grpc-web', undefined, undefined), 'HTTP');
  assert.equal(selectProtocol('https', undefined, undefined), 'HTTPS');
  assert.equal(selectProtocol('tls-x', undefined, undefined), 'TLS');
  assert.equal(selectProtocol('mongo', undefined, undefined), 'TCP');
  assert.equal(selectProtocol('', undefined, undefined), 'TCP');
  assert.equal(selectProtocol('web', undefined, undefined), 'TCP');
  assert.equal(selectProtocol('tcp', 'grpc', undefined), 'GRPC');
  assert.equal(selectProtocol('http', 'kubernetes.io/h2c', undefined), 'HTTP2');
  assert.equal(selectProtocol('http', undefined, 'UDP'), 'UNSUPPORTED');
});

test('Service: wrong types name the file, the object and the field path', () => {
  const r = parseObject(svc({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 70000 }, { name: 'c', port: 'x' }], selector: { app: 3 } }), ctx);
  assert.equal(r.status, 'invalid');
  const lines = r.diagnostics.map(formatDiagnostic);
  assert.ok(lines.includes('error: mesh/a.yaml: Service shop/web: spec.ports[1].port: must be an integer 1-65535'), lines.join('\n'));
  assert.ok(lines.includes('error: mesh/a.yaml: Service shop/web: spec.ports[2].port: must be an integer 1-65535'));
  assert.ok(lines.includes('error: mesh/a.yaml: Service shop/web: spec.selector.app: must be a string'));
  assert.equal(r.status === 'invalid' ? r.key : undefined, 'Service/shop/web');
});

test('unknown fields are warnings and the object is still accepted', () => {
  const r = parseObject(svc({ ports: [{ port: 80, colour: 'red' }], selecter: { app: 'x' } }), ctx);
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.diagnostics.map((d) => [d.severity, d.field]), [['warning', 'spec.selecter'], ['warning', 'spec.ports[0].colour']]);
});

test('missing ports, bad names and unnamed multi-port services are errors', () => {
  const r = parseObject(svc({ ports: [] }, { name: 'Bad_Name' }), ctx);
  assert.equal(r.status, 'invalid');
  assert.deepEqual(r.diagnostics.map((d) => d.field).sort(), ['metadata.name', 'spec.ports']);
  const r2 = parseObject(svc({ ports: [{ port: 80 }, { port: 81 }] }), ctx);
  assert.deepEqual(r2.diagnostics.map((d) => d.field), ['spec.ports[0].name', 'spec.ports[1].name']);
});

test('WorkloadEntry: defaults, annotations, inject=false, ports map, all versions', () => {
  for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
    const r = parseObject({
      apiVersion: `networking.istio.io/${v}`, kind: 'WorkloadEntry',
      metadata: { name: 'w1', annotations: { 'meshd.dev/app-address': '127.0.20.1', 'meshd.dev/outbound-address': '127.0.30.1', 'sidecar.istio.io/inject': 'false' } },
      spec: { address: '127.0.10.1', labels: { app: 'a' }, ports: { http: 8080 } },
    }, ctx);
    assert.equal(r.status, 'ok', JSON.stringify(r.diagnostics));
    if (r.status !== 'ok' || r.object.kind !== 'WorkloadEntry') return;
    const w = r.object.value;
    assert.deepEqual({ name: w.name, ns: w.namespace, sa: w.serviceAccount, meshed: w.meshed, app: w.appAddress, out: w.outboundAddress, ports: w.ports, ready: w.ready },
      { name: 'w1', ns: 'default', sa: 'default', meshed: false, app: '127.0.20.1', out: '127.0.30.1', ports: { http: 8080 }, ready: true });
  }
  const labelled = parseObject({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'w2', labels: { 'sidecar.istio.io/inject': 'false' } }, spec: { address: '10.0.0.1' } }, ctx);
  assert.equal(labelled.status === 'ok' && labelled.object.kind === 'WorkloadEntry' && labelled.object.value.meshed, false);
});

test('WorkloadEntry: bad address, port and annotation are field errors', () => {
  const r = parseObject({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'w', namespace: 'n', annotations: { 'meshd.dev/app-address': 'localhost' } }, spec: { address: 'not-an-ip', ports: { http: 0 } } }, ctx);
  assert.equal(r.status, 'invalid');
  assert.deepEqual(r.diagnostics.map((d) => d.field).sort(), ['metadata.annotations["meshd.dev/app-address"]', 'spec.address', 'spec.ports.http']);
});

test('unknown kinds are ignored with a warning; security kinds go to the authz parsers', () => {
  const r = parseObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }, ctx);
  assert.equal(r.status, 'ignored');
  assert.equal(r.diagnostics[0]!.severity, 'warning');
  const pa = parseObject({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'prod' }, spec: { mtls: { mode: 'STRICT' } } }, ctx);
  assert.equal(pa.status, 'ok', JSON.stringify(pa.diagnostics));
  assert.equal(pa.status === 'ok' ? pa.key : '', 'PeerAuthentication/prod/default');
  const ap = parseObject({ apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy', metadata: { name: 'deny', namespace: 'prod' }, spec: { action: 'DENY', rules: [{}] } }, ctx);
  assert.equal(ap.status, 'ok', JSON.stringify(ap.diagnostics));
  const bad = parseObject({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'x', namespace: 'prod' }, spec: { mtls: { mode: 'SOMETIMES' } } }, ctx);
  assert.equal(bad.status, 'invalid');
  assert.equal(bad.status === 'invalid' ? bad.key : '', 'PeerAuthentication/prod/x');
});

test('buildSnapshot sorts, freezes and keeps the first of duplicates', () => {
  const a = parseObject(svc({ ports: [{ port: 1 }] }, { name: 'b', namespace: 'z' }), ctx);
  const b = parseObject(svc({ ports: [{ port: 2 }] }, { name: 'a', namespace: 'z' }), ctx);
  const b2 = parseObject(svc({ ports: [{ port: 3 }] }, { name: 'a', namespace: 'z' }), ctx);
  const n = parseObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'z' } }, ctx);
  const objs = [a, b, b2, n].map((r) => { assert.equal(r.status, 'ok'); return r.status === 'ok' ? r.object : undefined!; });
  const s = buildSnapshot(objs, DEFAULT_MESH_CONFIG, 7);
  assert.deepEqual(s.services.map((x) => [x.meta.name, x.ports[0]!.port]), [['a', 2], ['b', 1]]);
  assert.equal(s.namespaces.length, 1);
  assert.equal(s.generation, 7);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.services) && Object.isFrozen(s.services[0]!.ports[0]));
});

/**
 * The mesh config's providers stay in every proxy's scope: Envoy reaches an ext_authz
 * authorizer or a tracing collector by cluster name, never on demand, and it refuses a listener
 * whose tracer names a cluster it does not have. So a Sidecar's egress, the provider service's
 * exportTo and learned scopes all keep the provider's cluster, and nothing else they hide comes
 * back. Real Envoy validates the scoped proxy's listeners and clusters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { applyMeshConfig, parseMeshConfig } from '../../../src/config/mesh-config.js';
import { DEFAULT_MESH_CONFIG, type ProxyInfo } from '../../../src/model/types.js';
import { translate } from '../../../src/xds/translate/index.js';
import type { ProxyResources, TranslateOptions } from '../../../src/xds/translate/types.js';
import { validateEnvoyConfig } from '../../helpers/envoy-validate.js';

const BASE = `
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: production}
spec: {selector: {app: backend}, ports: [{name: http, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: backend, namespace: production}
spec: {address: 127.0.10.2, labels: {app: backend}, serviceAccount: backend, ports: {http: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: opa, namespace: authz, annotations: {networking.istio.io/exportTo: "."}}
spec: {selector: {app: opa}, ports: [{name: grpc, port: 9191}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: authz}
spec: {selector: {app: other}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: zipkin, namespace: istio-system}
spec: {selector: {app: zipkin}, ports: [{name: http, port: 9411}]}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: 100}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: production}
spec:
  selector: {matchLabels: {app: backend}}
  action: CUSTOM
  provider: {name: opa}
  rules: [{to: [{operation: {paths: ["/secure/*"]}}]}]
`;
const SIDECAR = `
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: production}
spec: {egress: [{hosts: ["./*"]}]}
`;
const OPA = 'outbound|9191||opa.authz.svc.cluster.local';
const ZIPKIN = 'outbound|9411||zipkin.istio-system.svc.cluster.local';
const OTHER = 'outbound|8080||other.authz.svc.cluster.local';

function translateBackend(yaml: string, options: TranslateOptions = {}): ProxyResources {
  const objects: MeshObject[] = [];
  for (const d of YAML.parseAllDocuments(yaml).map((x) => x.toJS() as unknown).filter((x) => x !== null)) {
    const r = parseObject(d, { source: 'in.yaml', defaultNamespace: 'default' });
    assert.equal(r.status, 'ok', JSON.stringify(r.diagnostics));
    if (r.status === 'ok') objects.push(r.object);
  }
  const m = parseMeshConfig({ extensionProviders: [
    { name: 'opa', envoyExtAuthzGrpc: { service: 'authz/opa.authz.svc.cluster.local', port: 9191 } },
    { name: 'zipkin', zipkin: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } },
  ] }, 'mesh');
  assert.ok(m.ok);
  const snapshot = buildSnapshot(objects, applyMeshConfig(DEFAULT_MESH_CONFIG, m.ok ? m.value : {}), 1);
  const proxy: ProxyInfo = { id: 'sidecar~127.0.10.2~backend.production~production.svc.cluster.local', ip: '127.0.10.2', workloadName: 'backend', namespace: 'production', labels: {}, interceptionMode: 'NONE', proxyless: false };
  return translate(snapshot, proxy, options);
}

const names = (r: ProxyResources): string[] => r.clusters.flatMap((c) => c.map((x) => String(x.name)));

test('a Sidecar, exportTo and a learned scope keep the providers\' clusters and nothing else they hide', () => {
  const full = names(translateBackend(BASE));
  assert.ok(full.includes(OPA) && full.includes(ZIPKIN) && full.includes(OTHER), 'unscoped: the whole registry (opa despite its exportTo)');
  for (const [label, r] of [
    ['Sidecar ./*', translateBackend(BASE + SIDECAR)],
    ['learned scope', translateBackend(BASE, { scope: { mode: 'observed', reason: 'test', kept: [], onDemand: false } })],
  ] as const) {
    const n = names(r);
    assert.ok(n.includes(OPA), `${label}: the authorizer's cluster`);
    assert.ok(n.includes(ZIPKIN), `${label}: the collector's cluster`);
    assert.ok(!n.includes(OTHER), `${label}: another service of the authorizer's namespace stays hidden`);
  }
});

test('Envoy accepts the listeners of a proxy whose Sidecar would hide the tracing collector', async () => {
  const r = translateBackend(BASE + SIDECAR);
  assert.match(JSON.stringify(r.listeners), /outbound\|9411\|\|zipkin/, 'the tracer names the collector cluster');
  const dir = mkdtempSync(join(tmpdir(), 'meshd-provider-scope-'));
  try {
    const xds = { name: 'xds-grpc', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] },
      typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } };
    const file = join(dir, 'bootstrap.yaml');
    writeFileSync(file, YAML.stringify({
      node: { id: 'validate', cluster: 'validate' },
      dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] } },
      static_resources: { listeners: r.listeners.flat(), clusters: [xds, ...r.clusters.flat().filter((c) => c.name !== 'xds-grpc')] },
    }));
    const v = await validateEnvoyConfig(file);
    assert.ok(v.code === 0 && /OK/.test(v.out), v.out.split('\n').filter((l) => /error|critical/i.test(l)).join('\n').slice(0, 1500));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

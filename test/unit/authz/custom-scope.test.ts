/**
 * A CUSTOM policy's authorizer must be in the proxy's scope: Envoy's ext_authz filter does not
 * discover clusters on demand, so a Sidecar (or learned scope) that hides the provider's service
 * makes every check fail closed. Istio says nothing; meshd names the policy and the cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { applyMeshConfig, parseMeshConfig } from '../../../src/config/mesh-config.js';
import { DEFAULT_MESH_CONFIG, type ProxyInfo } from '../../../src/model/types.js';
import { translate } from '../../../src/xds/translate/index.js';
import type { TranslateOptions } from '../../../src/xds/translate/types.js';

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
metadata: {name: opa, namespace: authz}
spec: {selector: {app: opa}, ports: [{name: grpc, port: 9191}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: authz}
spec: {selector: {app: other}, ports: [{name: http, port: 8080}]}
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

function translateBackend(yaml: string, options: TranslateOptions = {}): { clusters: string[]; warnings: string[] } {
  const objects: MeshObject[] = [];
  for (const d of YAML.parseAllDocuments(yaml).map((x) => x.toJS() as unknown).filter((x) => x !== null)) {
    const r = parseObject(d, { source: 'in.yaml', defaultNamespace: 'default' });
    assert.equal(r.status, 'ok', JSON.stringify(r.diagnostics));
    if (r.status === 'ok') objects.push(r.object);
  }
  const m = parseMeshConfig({ extensionProviders: [{ name: 'opa', envoyExtAuthzGrpc: { service: 'opa.authz.svc.cluster.local', port: 9191 } }] }, 'mesh');
  assert.ok(m.ok);
  const snapshot = buildSnapshot(objects, applyMeshConfig(DEFAULT_MESH_CONFIG, m.ok ? m.value : {}), 1);
  const proxy: ProxyInfo = { id: 'sidecar~127.0.10.2~backend.production~production.svc.cluster.local', ip: '127.0.10.2', workloadName: 'backend', namespace: 'production', labels: {}, interceptionMode: 'NONE', proxyless: false };
  const r = translate(snapshot, proxy, options);
  return {
    clusters: r.clusters.flatMap((c) => c.map((x) => String(x.name))),
    warnings: r.diagnostics.filter((d) => d.kind === 'AuthorizationPolicy' && d.severity === 'warning').map((d) => `${d.namespace}/${d.name} ${d.field}: ${d.message}`),
  };
}

test('a Sidecar that hides the ext_authz provider\'s service is named; without it, the cluster is there and nothing is said', () => {
  const open = translateBackend(BASE);
  assert.ok(open.clusters.includes('outbound|9191||opa.authz.svc.cluster.local'));
  assert.deepEqual(open.warnings, []);
  const hidden = translateBackend(BASE + SIDECAR);
  assert.ok(!hidden.clusters.includes('outbound|9191||opa.authz.svc.cluster.local'), 'the Sidecar hides authz/*');
  assert.equal(hidden.warnings.length, 1, hidden.warnings.join('\n'));
  assert.match(hidden.warnings[0]!, /^production\/ext spec\.provider\.name: the scope of production\/backend .* hides outbound\|9191\|\|opa\.authz\.svc\.cluster\.local, the service of extension provider "opa": its CUSTOM checks fail closed/);
});

test('a learned scope keeps the ext_authz provider\'s service (Envoy never asks for it on demand), and nothing else outside the namespace', () => {
  const r = translateBackend(BASE, { scope: { mode: 'observed', reason: 'test', kept: [], onDemand: false } });
  assert.ok(r.clusters.includes('outbound|9191||opa.authz.svc.cluster.local'), r.clusters.join('\n'));
  assert.ok(!r.clusters.includes('outbound|8080||other.authz.svc.cluster.local'), 'another service of that namespace stays out');
  assert.deepEqual(r.warnings, []);
});

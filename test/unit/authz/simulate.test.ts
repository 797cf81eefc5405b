/**
 * Simulation tables: (policies, call) → ALLOW / DENY / REJECT through checkCall, a row per rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { checkWithPolicies } from '../../../src/authz/index.js';
import type { Call } from '../../../src/authz/index.js';
import type { Service } from '../../../src/model/types.js';
import { REPO_ROOT } from '../../helpers/golden.js';
import { workload } from './fixtures.js';

const backend = workload('production', 'backend', { app: 'backend' }, { http: 8080, 'tcp-db': 9000 });
/** The ext_authz service CUSTOM rows send to (a provider must name a service in the registry). */
const opa: Service = { meta: { name: 'opa', namespace: 'authz', labels: {}, annotations: {}, source: 'test' }, hostname: 'opa.authz.svc.cluster.local', selector: { app: 'opa' }, ports: [{ name: 'grpc', port: 9191, targetPort: 9191, protocol: 'GRPC' }] };
const OPA = { extensionProviders: [{ name: 'opa', service: 'opa.authz.svc.cluster.local', port: 9191 }] };
const FE = { principal: 'spiffe://cluster.local/ns/production/sa/frontend' };
const OTHER = { principal: 'spiffe://cluster.local/ns/production/sa/other' };
const DEV = { principal: 'spiffe://cluster.local/ns/dev/sa/tool' };

function docs(yaml: string): unknown[] {
  return YAML.parseAllDocuments(yaml).map((d) => d.toJSON() as unknown).filter((d) => d !== null);
}

function ap(name: string, spec: Record<string, unknown>, ns = 'production', annotations: Record<string, string> = {}): unknown {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns, annotations }, spec };
}
function pa(name: string, spec: Record<string, unknown>, ns = 'production'): unknown {
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: ns }, spec };
}

interface Row { readonly name: string; readonly objects: readonly unknown[]; readonly call: Call; readonly want: 'ALLOW' | 'DENY' | 'REJECT'; readonly policy?: string; readonly config?: Record<string, unknown>; readonly services?: readonly Service[] }

const seed = docs(readFileSync(join(REPO_ROOT, 'test', 'golden', 'authz', 'seed', 'in.yaml'), 'utf8'))
  .filter((d) => (d as { kind?: string }).kind !== 'WorkloadEntry');
const get = (path: string, method = 'GET'): Pick<Call, 'port' | 'method' | 'path'> => ({ port: 8080, method, path });
const strict = pa('default', { mtls: { mode: 'STRICT' } });

const rows: Row[] = [
  // The seed.
  { name: 'seed: frontend GET /api/users', objects: seed, call: { from: FE, ...get('/api/users') }, want: 'ALLOW', policy: 'production/backend-access' },
  { name: 'seed: frontend DELETE /api/x', objects: seed, call: { from: FE, ...get('/api/x', 'DELETE') }, want: 'DENY' },
  { name: 'seed: frontend GET /admin', objects: seed, call: { from: FE, ...get('/admin') }, want: 'DENY' },
  { name: 'seed: another service account', objects: seed, call: { from: OTHER, ...get('/api/users') }, want: 'DENY' },
  { name: 'seed: plaintext under STRICT', objects: seed, call: { from: 'plaintext', ...get('/api/users') }, want: 'REJECT' },
  { name: 'seed: query string ignored by paths', objects: seed, call: { from: FE, ...get('/api/users?limit=1') }, want: 'ALLOW' },
  { name: 'seed: TCP port denies all (ALLOW rule with HTTP fields dropped)', objects: seed, call: { from: FE, port: 9000 }, want: 'DENY' },
  // PeerAuthentication.
  { name: 'no policy: PERMISSIVE accepts plaintext', objects: [], call: { from: 'plaintext', ...get('/') }, want: 'ALLOW' },
  { name: 'no policy: PERMISSIVE accepts mTLS', objects: [], call: { from: FE, ...get('/') }, want: 'ALLOW' },
  { name: 'STRICT rejects TLS without client cert', objects: [strict], call: { from: {}, ...get('/') }, want: 'REJECT' },
  { name: 'DISABLE port-level under STRICT accepts plaintext', objects: [strict, pa('be', { selector: { matchLabels: { app: 'backend' } }, portLevelMtls: { 9000: { mode: 'DISABLE' } } })], call: { from: 'plaintext', port: 9000 }, want: 'ALLOW' },
  { name: 'workload PERMISSIVE overrides namespace STRICT', objects: [strict, pa('be', { selector: { matchLabels: { app: 'backend' } }, mtls: { mode: 'PERMISSIVE' } })], call: { from: 'plaintext', ...get('/') }, want: 'ALLOW' },
  { name: 'mesh STRICT applies when namespace UNSET', objects: [pa('default', { mtls: { mode: 'STRICT' } }, 'istio-system'), pa('ns', { mtls: { mode: 'UNSET' } })], call: { from: 'plaintext', ...get('/') }, want: 'REJECT' },
  // ALLOW / DENY basics.
  { name: 'ALLOW spec {} allows nothing', objects: [ap('none', {})], call: { from: FE, ...get('/') }, want: 'DENY' },
  { name: 'ALLOW rules [{}] allows everything', objects: [ap('all', { rules: [{}] })], call: { from: 'plaintext', ...get('/x', 'PATCH') }, want: 'ALLOW', policy: 'production/all' },
  { name: 'DENY without rules has no effect', objects: [ap('d', { action: 'DENY' })], call: { from: FE, ...get('/') }, want: 'ALLOW' },
  { name: 'DENY wins over ALLOW', objects: [ap('a', { rules: [{}] }), ap('d', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] })], call: { from: FE, ...get('/', 'DELETE') }, want: 'DENY', policy: 'production/d' },
  { name: 'root-namespace DENY applies mesh-wide', objects: [ap('d', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }, 'istio-system')], call: { from: FE, ...get('/admin/x') }, want: 'DENY', policy: 'istio-system/d' },
  { name: 'policy in another namespace does not apply', objects: [ap('d', { action: 'DENY', rules: [{}] }, 'other')], call: { from: FE, ...get('/') }, want: 'ALLOW' },
  { name: 'selector not matching does not apply', objects: [ap('d', { selector: { matchLabels: { app: 'x' } }, action: 'DENY', rules: [{}] })], call: { from: FE, ...get('/') }, want: 'ALLOW' },
  // Source fields.
  { name: 'principals prefix', objects: [ap('a', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/production/*'] } }] }] })], call: { from: OTHER, ...get('/') }, want: 'ALLOW' },
  { name: 'principals suffix', objects: [ap('a', { rules: [{ from: [{ source: { principals: ['*/sa/tool'] } }] }] })], call: { from: DEV, ...get('/') }, want: 'ALLOW' },
  { name: 'principals need mTLS (plaintext never matches)', objects: [ap('a', { rules: [{ from: [{ source: { principals: ['*'] } }] }] })], call: { from: 'plaintext', ...get('/') }, want: 'DENY' },
  { name: 'notPrincipals', objects: [ap('d', { action: 'DENY', rules: [{ from: [{ source: { notPrincipals: ['cluster.local/ns/production/sa/frontend'] } }] }] })], call: { from: OTHER, ...get('/') }, want: 'DENY' },
  { name: 'namespaces', objects: [ap('a', { rules: [{ from: [{ source: { namespaces: ['dev'] } }] }] })], call: { from: DEV, ...get('/') }, want: 'ALLOW' },
  { name: 'notNamespaces', objects: [ap('d', { action: 'DENY', rules: [{ from: [{ source: { notNamespaces: ['production'] } }] }] })], call: { from: DEV, ...get('/') }, want: 'DENY' },
  { name: 'ipBlocks', objects: [ap('a', { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }] })], call: { from: FE, sourceIp: '10.1.2.3', ...get('/') }, want: 'ALLOW' },
  { name: 'notIpBlocks', objects: [ap('d', { action: 'DENY', rules: [{ from: [{ source: { notIpBlocks: ['10.0.0.0/8'] } }] }] })], call: { from: FE, sourceIp: '192.168.0.1', ...get('/') }, want: 'DENY' },
  { name: 'remoteIpBlocks (IPv6)', objects: [ap('a', { rules: [{ from: [{ source: { remoteIpBlocks: ['2001:db8::/32'] } }] }] })], call: { from: FE, sourceIp: '2001:db8::5', ...get('/') }, want: 'ALLOW' },
  { name: 'notRemoteIpBlocks', objects: [ap('a', { rules: [{ from: [{ source: { notRemoteIpBlocks: ['127.0.0.1'] } }] }] })], call: { from: FE, sourceIp: '127.0.0.1', ...get('/') }, want: 'DENY' },
  { name: 'requestPrincipals never match without JWT', objects: [ap('a', { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] })], call: { from: FE, ...get('/') }, want: 'DENY' },
  { name: 'notRequestPrincipals match without JWT', objects: [ap('d', { action: 'DENY', rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }] }] })], call: { from: FE, ...get('/') }, want: 'DENY' },
  // Operation fields.
  { name: 'hosts are case-insensitive', objects: [ap('a', { rules: [{ to: [{ operation: { hosts: ['Backend.Example.com'] } }] }] })], call: { from: FE, host: 'backend.example.COM', ...get('/') }, want: 'ALLOW' },
  { name: 'hosts exact does not match host:port (as Istio)', objects: [ap('a', { rules: [{ to: [{ operation: { hosts: ['backend.example.com'] } }] }] })], call: { from: FE, host: 'backend.example.com:8080', ...get('/') }, want: 'DENY' },
  { name: 'hosts suffix', objects: [ap('a', { rules: [{ to: [{ operation: { hosts: ['*.example.com'] } }] }] })], call: { from: FE, host: 'api.example.com', ...get('/') }, want: 'ALLOW' },
  { name: 'notHosts', objects: [ap('d', { action: 'DENY', rules: [{ to: [{ operation: { notHosts: ['good.example.com'] } }] }] })], call: { from: FE, host: 'evil.example.com', ...get('/') }, want: 'DENY' },
  { name: 'ports', objects: [ap('a', { rules: [{ to: [{ operation: { ports: ['9000'] } }] }] })], call: { from: FE, port: 9000 }, want: 'ALLOW' },
  { name: 'notPorts', objects: [ap('a', { rules: [{ to: [{ operation: { notPorts: ['8080'] } }] }] })], call: { from: FE, ...get('/') }, want: 'DENY' },
  { name: 'methods', objects: [ap('a', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })], call: { from: FE, ...get('/', 'POST') }, want: 'DENY' },
  { name: 'notMethods', objects: [ap('a', { rules: [{ to: [{ operation: { notMethods: ['DELETE'] } }] }] })], call: { from: FE, ...get('/', 'PUT') }, want: 'ALLOW' },
  { name: 'paths suffix', objects: [ap('a', { rules: [{ to: [{ operation: { paths: ['*.json'] } }] }] })], call: { from: FE, ...get('/a/b.json') }, want: 'ALLOW' },
  { name: 'paths exact', objects: [ap('a', { rules: [{ to: [{ operation: { paths: ['/exact'] } }] }] })], call: { from: FE, ...get('/exact/more') }, want: 'DENY' },
  { name: 'notPaths', objects: [ap('d', { action: 'DENY', rules: [{ to: [{ operation: { notPaths: ['/public*'] } }] }] })], call: { from: FE, ...get('/private') }, want: 'DENY' },
  // when conditions.
  { name: 'when request.headers', objects: [ap('a', { rules: [{ when: [{ key: 'request.headers[X-Version]', values: ['v2*'] }] }] })], call: { from: FE, headers: { 'x-version': 'v2.1' }, ...get('/') }, want: 'ALLOW' },
  { name: 'when request.headers notValues', objects: [ap('a', { rules: [{ when: [{ key: 'request.headers[x-version]', notValues: ['v1'] }] }] })], call: { from: FE, headers: { 'x-version': 'v1' }, ...get('/') }, want: 'DENY' },
  { name: 'when source.ip', objects: [ap('a', { rules: [{ when: [{ key: 'source.ip', values: ['10.0.0.0/8'] }] }] })], call: { from: FE, sourceIp: '11.0.0.1', ...get('/') }, want: 'DENY' },
  { name: 'when remote.ip', objects: [ap('a', { rules: [{ when: [{ key: 'remote.ip', values: ['10.0.0.1'] }] }] })], call: { from: FE, sourceIp: '10.0.0.1', ...get('/') }, want: 'ALLOW' },
  { name: 'when source.namespace', objects: [ap('a', { rules: [{ when: [{ key: 'source.namespace', values: ['production'] }] }] })], call: { from: DEV, ...get('/') }, want: 'DENY' },
  { name: 'when source.principal', objects: [ap('a', { rules: [{ when: [{ key: 'source.principal', values: ['cluster.local/ns/dev/sa/tool'] }] }] })], call: { from: DEV, ...get('/') }, want: 'ALLOW' },
  { name: 'when request.auth.claims never match without JWT', objects: [ap('a', { rules: [{ when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] }] })], call: { from: FE, ...get('/') }, want: 'DENY' },
  { name: 'when destination.port', objects: [ap('a', { rules: [{ when: [{ key: 'destination.port', values: ['9000'] }] }] })], call: { from: FE, port: 9000 }, want: 'ALLOW' },
  { name: 'when destination.ip', objects: [ap('a', { rules: [{ when: [{ key: 'destination.ip', values: ['10.0.0.1'] }] }] })], call: { from: FE, destinationIp: '10.0.0.2', ...get('/') }, want: 'DENY' },
  { name: 'when connection.sni', objects: [ap('a', { rules: [{ when: [{ key: 'connection.sni', values: ['*.svc.cluster.local'] }] }] })], call: { from: FE, sni: 'outbound_.8080_._.backend.production.svc.cluster.local', ...get('/') }, want: 'ALLOW' },
  // TCP handling of HTTP-only fields.
  { name: 'TCP: DENY with methods denies the whole port (field dropped)', objects: [ap('d', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] })], call: { from: FE, port: 9000 }, want: 'DENY', policy: 'production/d' },
  { name: 'TCP: ALLOW with paths is dropped (default deny)', objects: [ap('a', { rules: [{ to: [{ operation: { paths: ['/x'] } }] }] })], call: { from: FE, port: 9000 }, want: 'DENY' },
  // Dry run, audit, custom.
  { name: 'dry-run DENY does not deny', objects: [ap('d', { action: 'DENY', rules: [{}] }, 'production', { 'istio.io/dry-run': 'true' })], call: { from: FE, ...get('/') }, want: 'ALLOW' },
  { name: 'dry-run ALLOW does not default-deny', objects: [ap('a', { rules: [{ to: [{ operation: { methods: ['POST'] } }] }] }, 'production', { 'istio.io/dry-run': 'true' })], call: { from: FE, ...get('/') }, want: 'ALLOW' },
  { name: 'AUDIT never denies', objects: [ap('au', { action: 'AUDIT', rules: [{}] })], call: { from: FE, ...get('/') }, want: 'ALLOW' },
  { name: 'CUSTOM without provider fails closed for matching requests', objects: [ap('c', { action: 'CUSTOM', provider: { name: 'nope' }, rules: [{ to: [{ operation: { paths: ['/secure*'] } }] }] })], call: { from: FE, ...get('/secure/x') }, want: 'DENY', policy: 'production/c' },
  { name: 'CUSTOM without provider leaves other requests alone', objects: [ap('c', { action: 'CUSTOM', provider: { name: 'nope' }, rules: [{ to: [{ operation: { paths: ['/secure*'] } }] }] })], call: { from: FE, ...get('/open') }, want: 'ALLOW' },
  { name: 'CUSTOM with provider sends matching requests to ext_authz', objects: [ap('c', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] })], call: { from: FE, ...get('/') }, want: 'ALLOW', config: OPA, services: [opa] },
  { name: 'CUSTOM whose provider service is not in the registry fails closed', objects: [ap('c', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] })], call: { from: FE, ...get('/') }, want: 'DENY', policy: 'production/c', config: OPA },
];

for (const r of rows) {
  test(`simulate: ${r.name} → ${r.want}`, () => {
    const d = checkWithPolicies({ workloads: [backend], objects: r.objects, ...(r.config ? { config: r.config } : {}), ...(r.services ? { services: r.services } : {}) }, backend, r.call);
    assert.equal(d.decision, r.want, `${d.decision}: ${d.reason}`);
    if (r.policy) assert.equal(d.policy, r.policy, d.reason);
    assert.deepEqual(d.diagnostics.filter((x) => x.severity === 'error' && !/provider/.test(x.message)), []);
  });
}

test('simulate: the DENY decision names the policy and rule', () => {
  const d = checkWithPolicies({ workloads: [backend], objects: [ap('a', { rules: [{}] }), ap('block', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }, { to: [{ operation: { methods: ['DELETE'] } }] }] })] }, backend, { from: FE, ...get('/', 'DELETE') });
  assert.deepEqual({ decision: d.decision, policy: d.policy, rule: d.rule, rbacPolicy: d.rbacPolicy }, { decision: 'DENY', policy: 'production/block', rule: 1, rbacPolicy: 'ns[production]-policy[block]-rule[1]' });
});

test('simulate: dry-run and ext_authz results are reported', () => {
  const dry = checkWithPolicies({ workloads: [backend], objects: [ap('d', { action: 'DENY', rules: [{}] }, 'production', { 'istio.io/dry-run': 'true' })] }, backend, { from: FE, ...get('/') });
  assert.deepEqual(dry.shadow, [{ rbacPolicy: 'ns[production]-policy[d]-rule[0]', result: 'denied', filter: 'envoy.filters.http.rbac shadow' }]);
  const ext = checkWithPolicies({ workloads: [backend], objects: [ap('c', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { paths: ['/s*'] } }] }] })], config: OPA, services: [opa] }, backend, { from: FE, ...get('/s') });
  assert.deepEqual(ext.extAuthz, ['outbound|9191||opa.authz.svc.cluster.local']);
  const skip = checkWithPolicies({ workloads: [backend], objects: [ap('c', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{ to: [{ operation: { paths: ['/s*'] } }] }] })], config: OPA, services: [opa] }, backend, { from: FE, ...get('/other') });
  assert.equal(skip.extAuthz, undefined);
});

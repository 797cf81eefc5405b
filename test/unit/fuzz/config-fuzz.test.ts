// Fuzzing the file store's parsers and every policy kind: never a crash; always either a
// valid object or a diagnostic; a valid policy always translates to config that encodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import YAML from 'yaml';
import { parseYamlDocuments, DEFAULT_YAML_LIMITS } from '../../../src/config/safe-yaml.js';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG } from '../../../src/model/types.js';
import { translate } from '../../../src/xds/translate/index.js';
import { encodeResource, ResourceType, type ResourceTypeUrl } from '../../../src/xds/resource-types.js';
import { fuzz } from '../../helpers/fuzz.js';

const ctx = { source: 'fuzz.yaml', defaultNamespace: 'default' };

test('fuzz: YAML text never crashes the safe parser', async () => {
  const yamlish = fc.stringMatching(/^[a-z0-9:\-[\]{}&*!|>'"#,. \n?%@`]*$/, { maxLength: 300 });
  await fuzz('yaml-text', fc.oneof(yamlish, fc.string({ maxLength: 200 }), fc.anything().map((v) => { try { return YAML.stringify(v); } catch { return ''; } })), (text) => {
    const r = parseYamlDocuments(text, DEFAULT_YAML_LIMITS);
    if (!r.ok) assert.ok(r.message.length > 0);
    else for (const d of r.docs) parseObject(d, ctx);
  });
});

const label = fc.stringMatching(/^[a-z]([a-z0-9-]{0,6}[a-z0-9])?$/);
const value = fc.oneof(fc.string({ maxLength: 12 }), label, fc.constantFrom('*', 'GET', '/api/*', '*.example', '10.0.0.0/8', '8080', 'cluster.local/ns/a/sa/b', 'request.auth.claims[groups]', 'source.ip', 'request.headers[x]'), fc.integer(), fc.boolean(), fc.constant(null));
const list = fc.array(value, { maxLength: 3 });
/** Somewhere between schema-valid and nonsense: known fields with random values, plus random junk. */
const loose = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 5, arbitrary: a as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) });
const selector = loose(fc.record({ matchLabels: fc.dictionary(label, label, { maxKeys: 2 }) }, { requiredKeys: [] }));
const source = loose(fc.record({ principals: list, notPrincipals: list, requestPrincipals: list, notRequestPrincipals: list, namespaces: list, notNamespaces: list, ipBlocks: list, notIpBlocks: list, remoteIpBlocks: list }, { requiredKeys: [] }));
const operation = loose(fc.record({ hosts: list, notHosts: list, ports: list, notPorts: list, methods: list, notMethods: list, paths: list, notPaths: list }, { requiredKeys: [] }));
const condition = loose(fc.record({ key: value, values: list, notValues: list }, { requiredKeys: [] }));
const rule = loose(fc.record({ from: fc.array(fc.record({ source }), { maxLength: 2 }), to: fc.array(fc.record({ operation }), { maxLength: 2 }), when: fc.array(condition, { maxLength: 2 }) }, { requiredKeys: [] }));
const jwks = fc.constantFrom('{"keys":[{"kty":"EC","crv":"P-256","x":"IcxJEvawWw5G_k7MbxSDbQoKIQhgPXETXIO4ZMhh5z4","y":"vzldYLst84LbdEOFT_YMa5BPbbyIgz0rvZbY9sUNwAs"}]}', '{"keys":[]}', 'x', '{}');
const jwtRule = loose(fc.record({ issuer: value, audiences: list, jwks, jwksUri: fc.constantFrom('https://issuer.example/keys', 'ftp://x', ''), fromHeaders: fc.array(fc.record({ name: value, prefix: value }, { requiredKeys: [] }), { maxLength: 2 }), fromParams: list, forwardOriginalToken: fc.oneof(fc.boolean(), value), outputPayloadToHeader: value }, { requiredKeys: [] }));
const meta = fc.record({ name: fc.oneof(label, value), namespace: fc.oneof(label, fc.constant('prod')) }, { requiredKeys: [] });
const specs: Record<string, fc.Arbitrary<unknown>> = {
  AuthorizationPolicy: fc.record({ selector, action: fc.oneof(fc.constantFrom('ALLOW', 'DENY', 'AUDIT', 'CUSTOM'), value), provider: loose(fc.record({ name: value })), rules: fc.array(rule, { maxLength: 3 }), targetRefs: fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 1 }) }, { requiredKeys: [] }),
  PeerAuthentication: fc.record({ selector, mtls: loose(fc.record({ mode: fc.oneof(fc.constantFrom('STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'), value) })), portLevelMtls: fc.dictionary(fc.oneof(fc.constantFrom('8080', '0', '70000'), label), loose(fc.record({ mode: fc.constantFrom('STRICT', 'DISABLE', 'x') })), { maxKeys: 2 }) }, { requiredKeys: [] }),
  RequestAuthentication: fc.record({ selector, jwtRules: fc.array(jwtRule, { maxLength: 3 }) }, { requiredKeys: [] }),
  Service: fc.record({ selector: fc.dictionary(label, label, { maxKeys: 2 }), ports: fc.array(loose(fc.record({ name: fc.oneof(fc.constantFrom('http', 'grpc-x', 'tcp'), value), port: fc.oneof(fc.integer({ min: 1, max: 65535 }), value), targetPort: value }, { requiredKeys: [] })), { maxLength: 2 }) }, { requiredKeys: [] }),
  WorkloadEntry: fc.record({ address: fc.oneof(fc.constantFrom('10.1.0.1', '::1', 'not-an-ip'), value), labels: fc.dictionary(label, label, { maxKeys: 2 }), serviceAccount: fc.oneof(label, value), ports: fc.dictionary(label, fc.oneof(fc.integer({ min: 1, max: 65535 }), value), { maxKeys: 2 }) }, { requiredKeys: [] }),
};
const API: Record<string, string> = { AuthorizationPolicy: 'security.istio.io/v1', PeerAuthentication: 'security.istio.io/v1beta1', RequestAuthentication: 'security.istio.io/v1', Service: 'v1', WorkloadEntry: 'networking.istio.io/v1' };

const WORKLOAD = parseObject({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'w', namespace: 'prod' }, spec: { address: '10.1.0.1', labels: { app: 'a' }, serviceAccount: 'w', ports: { http: 8080 } } }, ctx);
const SERVICE = parseObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'prod' }, spec: { selector: { app: 'a' }, ports: [{ name: 'http', port: 8080 }] } }, ctx);

for (const kind of Object.keys(specs)) {
  test(`fuzz: ${kind} objects: a valid object (that translates and encodes) or an error diagnostic, never a crash`, async () => {
    const arb = fc.record({ apiVersion: fc.constant(API[kind]!), kind: fc.constant(kind), metadata: meta, spec: specs[kind]! });
    await fuzz(`object-${kind}`, arb, (raw) => {
      const r = parseObject(raw, ctx);
      for (const d of r.diagnostics) assert.doesNotMatch(d.message, /internal error/, `a parser threw: ${d.message}`);
      if (r.status === 'invalid') { assert.ok(r.diagnostics.some((d) => d.severity === 'error'), 'an invalid object has an error diagnostic'); return; }
      if (r.status !== 'ok') return;
      assert.equal(r.object.kind, kind);
      assert.ok(WORKLOAD.status === 'ok' && SERVICE.status === 'ok');
      const snap = buildSnapshot([WORKLOAD.object, SERVICE.object, r.object as MeshObject], DEFAULT_MESH_CONFIG, 1);
      const res = translate(snap, { id: 'p', workloadName: 'w', namespace: 'prod', ip: '10.1.0.1', labels: { app: 'a' }, interceptionMode: 'NONE', proxyless: false });
      for (const [t, chunks] of [[ResourceType.Listener, res.listeners], [ResourceType.Cluster, res.clusters], [ResourceType.Route, res.routes], [ResourceType.Endpoint, res.endpoints]] as const) {
        for (const c of chunks) for (const o of c) encodeResource(t as ResourceTypeUrl, o);
      }
    });
  });
}

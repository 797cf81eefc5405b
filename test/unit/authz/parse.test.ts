/**
 * Validation: each bad input gives a diagnostic with its field path and the object is not
 * applied; legal-but-suspicious input gives warnings; good input keeps what precedence needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuthorizationPolicy, parsePeerAuthentication } from '../../../src/authz/index.js';
import type { Diagnostic } from '../../../src/model/types.js';

const ctx = { source: 'policies.yaml', defaultNamespace: 'default' };
const ap = (spec: unknown, metadata: Record<string, unknown> = { name: 'p', namespace: 'prod' }, apiVersion = 'security.istio.io/v1'): unknown =>
  ({ apiVersion, kind: 'AuthorizationPolicy', metadata, spec });
const pa = (spec: unknown, metadata: Record<string, unknown> = { name: 'p', namespace: 'prod' }): unknown =>
  ({ apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication', metadata, spec });

function errors(r: { ok: true } | { ok: false; diagnostics: readonly Diagnostic[] }): [string, string][] {
  assert.equal(r.ok, false, 'expected the object to be rejected');
  return r.ok ? [] : r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.field, d.message]);
}

const bad: [string, unknown, string, RegExp][] = [
  ['unknown spec field', ap({ rulez: [] }), 'spec.rulez', /unknown field/],
  ['unknown source field', ap({ rules: [{ from: [{ source: { principal: ['x'] } }] }] }), 'spec.rules[0].from[0].source.principal', /unknown field/],
  ['unknown when key', ap({ rules: [{ when: [{ key: 'request.headers[a]', values: ['1'] }, { key: 'source.colour', values: ['x'] }] }] }), 'spec.rules[0].when[1].key', /unknown attribute/],
  ['when without values', ap({ rules: [{ when: [{ key: 'source.ip' }] }] }), 'spec.rules[0].when[0]', /values or notValues/],
  ['wrong type: rules not a list', ap({ rules: { from: [] } }), 'spec.rules', /must be a list/],
  ['wrong type: principals not strings', ap({ rules: [{ from: [{ source: { principals: [1] } }] }] }), 'spec.rules[0].from[0].source.principals[0]', /must be a string/],
  ['wrong type: port as a number', ap({ rules: [{ to: [{ operation: { ports: [8080] } }] }] }), 'spec.rules[0].to[0].operation.ports[0]', /quote it/],
  ['invalid CIDR', ap({ rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }] }), 'spec.rules[0].from[0].source.ipBlocks[0]', /CIDR/],
  ['invalid IP in when', ap({ rules: [{ when: [{ key: 'remote.ip', values: ['300.1.1.1'] }] }] }), 'spec.rules[0].when[0].values[0]', /CIDR/],
  ['bad port', ap({ rules: [{ to: [{ operation: { notPorts: ['70000'] } }] }] }), 'spec.rules[0].to[0].operation.notPorts[0]', /port/],
  ['bad destination.port', ap({ rules: [{ when: [{ key: 'destination.port', values: ['http'] }] }] }), 'spec.rules[0].when[0].values[0]', /port/],
  ['wildcard in the middle', ap({ rules: [{ to: [{ operation: { paths: ['/a/*/b'] } }] }] }), 'spec.rules[0].to[0].operation.paths[0]', /wildcard/],
  ['empty source', ap({ rules: [{ from: [{ source: {} }] }] }), 'spec.rules[0].from[0].source', /at least one field/],
  ['from without source', ap({ rules: [{ from: [{}] }] }), 'spec.rules[0].from[0].source', /required/],
  ['invalid action', ap({ action: 'REJECT' }), 'spec.action', /invalid action/],
  ['CUSTOM without provider', ap({ action: 'CUSTOM', rules: [{}] }), 'spec.provider.name', /provider/],
  ['provider without CUSTOM', ap({ action: 'ALLOW', provider: { name: 'x' } }), 'spec.provider', /only allowed with action CUSTOM/],
  ['selector and targetRefs', ap({ selector: { matchLabels: { a: 'b' } }, targetRefs: [{ kind: 'Service', name: 'x' }] }), 'spec.selector', /mutually exclusive/],
  ['unknown apiVersion', ap({}, { name: 'p' }, 'security.istio.io/v1alpha1'), 'apiVersion', /unsupported/],
  ['missing name', ap({}, { namespace: 'prod' }), 'metadata.name', /required/],
  ['spec not an object', ap('yes'), 'spec', /must be an object/],
  ['bad creationTimestamp', ap({}, { name: 'p', creationTimestamp: 'yesterday' }), 'metadata.creationTimestamp', /RFC 3339/],
];

for (const [name, raw, field, message] of bad) {
  test(`AuthorizationPolicy invalid: ${name}`, () => {
    const errs = errors(parseAuthorizationPolicy(raw, ctx));
    assert.ok(errs.some(([f, m]) => f === field && message.test(m)), `want ${field} ~ ${message}, got ${JSON.stringify(errs)}`);
  });
}

const badPeer: [string, unknown, string, RegExp][] = [
  ['invalid mode', pa({ mtls: { mode: 'STRICTER' } }), 'spec.mtls.mode', /invalid mode/],
  ['portLevelMtls without selector', pa({ portLevelMtls: { 8080: { mode: 'DISABLE' } } }), 'spec.portLevelMtls', /selector/],
  ['bad port key', pa({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { http: { mode: 'DISABLE' } } }), 'spec.portLevelMtls[http]', /port number/],
  ['port 0', pa({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { 0: { mode: 'DISABLE' } } }), 'spec.portLevelMtls[0]', /port number/],
  ['unknown field', pa({ mtls: { mode: 'STRICT', strict: true } }), 'spec.mtls.strict', /unknown field/],
  ['wrong kind', { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'x' }, spec: {} }, 'kind', /expected "PeerAuthentication"/],
];

for (const [name, raw, field, message] of badPeer) {
  test(`PeerAuthentication invalid: ${name}`, () => {
    const errs = errors(parsePeerAuthentication(raw, ctx));
    assert.ok(errs.some(([f, m]) => f === field && message.test(m)), `want ${field} ~ ${message}, got ${JSON.stringify(errs)}`);
  });
}

test('diagnostics carry source, kind, namespace and name', () => {
  const r = parseAuthorizationPolicy(ap({ action: 'NOPE' }), ctx);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.diagnostics[0], { severity: 'error', source: 'policies.yaml', kind: 'AuthorizationPolicy', namespace: 'prod', name: 'p', field: 'spec.action', message: 'invalid action "NOPE" (allowed: ALLOW, DENY, AUDIT, CUSTOM)' });
});

test('warnings: DENY without rules, AUDIT, dry-run not a boolean; request principals are supported (RequestAuthentication)', () => {
  const w = (raw: unknown): string[] => {
    const r = parseAuthorizationPolicy(raw, ctx);
    assert.ok(r.ok);
    return r.ok ? r.warnings.map((d) => `${d.field}: ${d.message}`) : [];
  };
  assert.match(w(ap({ action: 'DENY' })).join('\n'), /spec.rules: a DENY policy without rules/);
  assert.match(w(ap({ action: 'AUDIT', rules: [{}] })).join('\n'), /spec.action: AUDIT/);
  assert.match(w(ap({}, { name: 'p', annotations: { 'istio.io/dry-run': 'maybe' } })).join('\n'), /not a boolean/);
  assert.deepEqual(w(ap({ rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] })), []);
});

test('good AuthorizationPolicy: defaults, dry-run, Kubernetes metadata kept', () => {
  const r = parseAuthorizationPolicy({
    apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy',
    metadata: { name: 'p', annotations: { 'istio.io/dry-run': 'true' }, creationTimestamp: '2024-01-01T00:00:00Z', resourceVersion: '7', uid: 'u', managedFields: [] },
    spec: { selector: { matchLabels: { app: 'a' } }, rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
    status: {},
  }, ctx);
  // managedFields is not a field this parser knows, but metadata is Kubernetes' own: only spec is strict.
  assert.ok(r.ok, JSON.stringify(r.ok ? [] : r.diagnostics));
  if (!r.ok) return;
  assert.equal(r.value.action, 'ALLOW');
  assert.equal(r.value.dryRun, true);
  assert.equal(r.value.meta.namespace, 'default');
  assert.equal(r.value.meta.creationTimestamp, '2024-01-01T00:00:00Z');
  assert.deepEqual(r.value.selector, { app: 'a' });
  assert.deepEqual(r.value.rules, [{ to: [{ operation: { methods: ['GET'] } }] }]);
});

test('spec: {} keeps rules absent; rules: [] keeps an empty list', () => {
  const a = parseAuthorizationPolicy(ap({}), ctx);
  const b = parseAuthorizationPolicy(ap({ rules: [] }), ctx);
  assert.ok(a.ok && b.ok);
  if (a.ok && b.ok) { assert.equal(a.value.rules, undefined); assert.deepEqual(b.value.rules, []); }
});

test('good PeerAuthentication: mtls absent is UNSET-equivalent; portLevelMtls keys normalised', () => {
  const r = parsePeerAuthentication(pa({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { '08080': { mode: 'DISABLE' }, 9000: null } }), ctx);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.mtls, undefined);
  assert.deepEqual(r.value.portLevelMtls, { 8080: { mode: 'DISABLE' }, 9000: { mode: 'UNSET' } });
});

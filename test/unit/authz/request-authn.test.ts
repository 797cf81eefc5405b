// RequestAuthentication: parsing (bad input names the field), the JWKS fetcher (last good keys
// stay on failure, with a diagnostic and a metric), and the evaluator behind meshctl authz check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { parseRequestAuthentication } from '../../../src/authz/parse-request-authn.js';
import { createJwksFetcher } from '../../../src/authz/jwks-fetcher.js';
import { checkWithPolicies } from '../../../src/authz/simulate.js';
import { requestPrincipalMatcher } from '../../../src/authz/request-authn-match.js';
import { jwksServer, mintJwt, testSigner } from '../../helpers/jwt.js';
import { workload } from './fixtures.js';

const ctx = { source: 'ra.yaml', defaultNamespace: 'default' };
const ra = (spec: unknown) => ({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'ra', namespace: 'prod' }, spec });
const signer = testSigner('k');
const JWKS = JSON.stringify({ keys: [signer.jwk] });

test('bad RequestAuthentications are refused naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ jwtRules: [{ jwks: JWKS }] }, /spec.jwtRules\[0\].issuer: is required/],
    [{ jwtRules: [{ issuer: 'i' }] }, /spec.jwtRules\[0\].jwksUri: jwks or jwksUri is required/],
    [{ jwtRules: [{ issuer: 'i', jwks: '{"keys":[]}' }] }, /spec.jwtRules\[0\].jwks: must be a JSON Web Key Set/],
    [{ jwtRules: [{ issuer: 'i', jwks: 'nope' }] }, /jwks: is not JSON/],
    [{ jwtRules: [{ issuer: 'i', jwks: JWKS, jwksUri: 'https://x/k' }] }, /mutually exclusive/],
    [{ jwtRules: [{ issuer: 'i', jwksUri: 'file:///etc/passwd' }] }, /jwksUri: "file:\/\/\/etc\/passwd" is not an http\(s\) URL/],
    [{ jwtRules: [{ issuer: 'i', jwks: JWKS, fromHeaders: [{ prefix: 'x' }] }] }, /fromHeaders\[0\].name: is required/],
    [{ jwtRules: [{ issuer: 'i', jwks: JWKS }, { issuer: 'i', jwks: JWKS }] }, /issuer "i" appears twice/],
    [{ jwtRules: [{ issuer: 'i', jwks: JWKS, bogus: 1 }] }, /unknown field "bogus"/],
  ];
  for (const [spec, want] of cases) {
    const r = parseRequestAuthentication(ra(spec), ctx);
    assert.equal(r.ok, false, JSON.stringify(spec));
    if (!r.ok) assert.match(r.diagnostics.map((d) => `${d.field}: ${d.message}`).join('\n'), want);
  }
  const good = parseRequestAuthentication(ra({ selector: { matchLabels: { app: 'a' } }, jwtRules: [{ issuer: 'i', jwks: JWKS, fromHeaders: [{ name: 'X-Token', prefix: 'T ' }], forwardOriginalToken: true }] }), ctx);
  assert.ok(good.ok);
  if (good.ok) assert.deepEqual(good.value.jwtRules[0]!.fromHeaders, [{ name: 'x-token', prefix: 'T ' }]);
});

test('requestPrincipals split <iss>/<sub> at the last slash', () => {
  const s = JSON.stringify(requestPrincipalMatcher('https://issuer.example/alice'));
  assert.match(s, /"key":"iss".*"exact":"https:\/\/issuer.example".*"key":"sub".*"exact":"alice"/);
  assert.match(JSON.stringify(requestPrincipalMatcher('https://issuer.example/*')), /"exact":"https:\/\/issuer.example".*"regex":".\+"/);
  assert.match(JSON.stringify(requestPrincipalMatcher('*')), /present_match/);
  assert.match(JSON.stringify(requestPrincipalMatcher('no-slash')), /not_id/);
});

test('JWKS fetcher: fetched once, served; a failing refresh keeps the last good keys, with a diagnostic and a metric', async () => {
  let keys = [signer.jwk];
  const srv = await jwksServer(() => keys);
  const registry = new Registry();
  let changes = 0;
  const f = createJwksFetcher({ onChange: () => { changes++; }, registry, refreshMs: 50, retryMs: 50 });
  try {
    f.want([srv.url]);
    await f.idle();
    assert.deepEqual(JSON.parse(f.current()[srv.url]!), { keys: [signer.jwk] });
    assert.equal(changes, 1);
    srv.fail(true);
    await new Promise((r) => setTimeout(r, 200));
    await f.idle();
    assert.deepEqual(JSON.parse(f.current()[srv.url]!), { keys: [signer.jwk] }, 'last good keys kept');
    assert.match(f.diagnostics().map((d) => `${d.source}: ${d.message}`).join('\n'), /fetch failed: HTTP 503; the keys fetched at .* stay in force/);
    assert.match(await registry.getSingleMetricAsString('meshd_jwks_fetch_failures_total'), /meshd_jwks_fetch_failures_total\{uri=".*"\} [1-9]/);
    // Recovery: new keys are picked up and the diagnostic goes away.
    keys = [signer.jwk, testSigner('k2').jwk];
    srv.fail(false);
    await new Promise((r) => setTimeout(r, 200));
    await f.idle();
    assert.equal((JSON.parse(f.current()[srv.url]!) as { keys: unknown[] }).keys.length, 2);
    assert.deepEqual(f.diagnostics(), []);
    f.want([]);
    assert.deepEqual(f.current(), {}, 'an unused URI is dropped');
  } finally {
    f.close();
    srv.server.close();
  }
});

test('meshctl authz check: --jwt is validated as jwt_authn would; --claims stands for a verified token', () => {
  const backend = workload('prod', 'backend', { app: 'backend' }, { http: 8080 });
  const objects = [
    ra({ selector: { matchLabels: { app: 'backend' } }, jwtRules: [{ issuer: 'iss', jwks: JWKS }] }),
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'ap', namespace: 'prod' },
      spec: { selector: { matchLabels: { app: 'backend' } }, rules: [{ from: [{ source: { requestPrincipals: ['iss/alice'] } }], when: [{ key: 'request.auth.claims[role]', values: ['admin'] }] }] } },
  ];
  const now = Math.floor(Date.now() / 1000);
  const call = (jwt?: { token?: string; claims?: Record<string, unknown> }) => checkWithPolicies({ workloads: [backend], objects }, backend, { from: { principal: 'spiffe://cluster.local/ns/prod/sa/fe' }, port: 8080, path: '/', ...(jwt ? { jwt } : {}) });
  const good = { iss: 'iss', sub: 'alice', exp: now + 60, role: 'admin' };
  assert.equal(call({ token: mintJwt(signer, good) }).decision, 'ALLOW');
  assert.equal(call({ token: mintJwt(signer, { ...good, role: 'viewer' }) }).decision, 'DENY');
  assert.equal(call().decision, 'DENY', 'no token: authentication passes, authorization denies');
  const bad = call({ token: mintJwt(signer, { ...good, iss: 'other' }) });
  assert.equal(bad.decision, 'UNAUTHENTICATED');
  assert.match(bad.reason, /401 from jwt_authn: Jwt issuer "other" is not configured/);
  assert.equal(call({ token: mintJwt(signer, { ...good, exp: now - 3600 }) }).decision, 'UNAUTHENTICATED');
  assert.equal(call({ token: mintJwt(testSigner('k'), good) }).decision, 'UNAUTHENTICATED', 'bad signature');
  assert.equal(call({ claims: good }).decision, 'ALLOW');
  assert.equal(call({ claims: { ...good, sub: 'bob' } }).decision, 'DENY');
});

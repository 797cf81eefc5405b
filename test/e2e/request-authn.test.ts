/**
 * RequestAuthentication on real Envoy: meshd fetches the JWKS (a loopback server the test
 * runs) and serves it inline; jwt_authn then RBAC on backend's inbound chain. A valid token
 * with the required claim passes; a wrong issuer, an expired token or a bad signature get 401;
 * a valid token without the claim, and a request without a token, get 403. `meshctl authz
 * check --jwt` over the listeners meshd sent says the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT } from '../helpers/meshd.js';
import { jwksServer, mintJwt, testSigner } from '../helpers/jwt.js';

function meshctl(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('RequestAuthentication: 401 for a bad token, 403 without the required claim, 200 with it; meshctl authz check --jwt agrees', async (t) => {
  const signer = testSigner('k1');
  const jwks = await jwksServer(() => [signer.jwk]);
  t.after(() => { jwks.server.close(); });
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  const ISS = 'https://issuer.meshd.test';
  mesh.writeConfig('20-jwt.yaml', [
    { apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'backend-jwt', namespace: 'production' },
      spec: { selector: { matchLabels: { app: 'backend' } }, jwtRules: [{ issuer: ISS, jwksUri: jwks.url, audiences: ['backend'] }] } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'need-admins', namespace: 'production' },
      spec: { selector: { matchLabels: { app: 'backend' } }, rules: [{ from: [{ source: { requestPrincipals: [`${ISS}/*`] } }], when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }] }] } },
  ]);
  await mesh.startMeshd();
  await mesh.startWorkloads();
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: ISS, sub: 'alice', aud: 'backend', iat: now, exp: now + 3600, groups: ['admins', 'devs'] };
  const tokens: Record<string, { token?: string; want: number }> = {
    'valid, in group admins': { token: mintJwt(signer, claims), want: 200 },
    'wrong issuer': { token: mintJwt(signer, { ...claims, iss: 'https://evil.test' }), want: 401 },
    'expired': { token: mintJwt(signer, { ...claims, iat: now - 7200, exp: now - 3600 }), want: 401 },
    // Envoy answers a token for another audience with 403, not 401.
    'wrong audience': { token: mintJwt(signer, { ...claims, aud: 'someone-else' }), want: 403 },
    'signed by another key': { token: mintJwt(testSigner('k1'), claims), want: 401 },
    'valid, without the groups claim': { token: mintJwt(signer, { ...claims, groups: undefined }), want: 403 },
    'no token': { want: 403 },
  };
  // The first call waits until the sidecars have config (and meshd has fetched the keys).
  await mesh.waitForCall('frontend', 'backend', 200, { path: '/x', headers: { authorization: `Bearer ${tokens['valid, in group admins']!.token}` } });
  assert.ok(jwks.hits() >= 1, 'meshd fetched the JWKS; Envoy never did (it has no route to it)');
  const backend = mesh.get('backend');
  for (const [name, c] of Object.entries(tokens)) {
    const r = await mesh.call('frontend', 'backend', { path: '/x', headers: c.token ? { authorization: `Bearer ${c.token}` } : {} });
    assert.equal(r.status, c.want, `Envoy: ${name}: ${r.status} ${r.body}`);
    const args = ['authz', 'check', '--meshd', `http://127.0.0.1:${mesh.meshd!.adminPort}`, '--to', 'production/backend', '--from', 'production/frontend', '--port', String(backend.port), '--path', '/x', '-o', 'json', ...(c.token ? ['--jwt', c.token] : [])];
    const d = JSON.parse(meshctl(args).out) as { decision: string; reason: string };
    assert.equal(d.decision, c.want === 200 ? 'ALLOW' : c.want === 401 ? 'UNAUTHENTICATED' : 'DENY', `meshctl authz check: ${name}: ${JSON.stringify(d)}`);
  }
});

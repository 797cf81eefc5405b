import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, statSync } from 'node:fs';
import { Metadata } from '@grpc/grpc-js';
import { loadOrCreateTokenSigningKey, mintJoinToken, verifyJoinToken } from '../../../src/ca/tokens.js';
import { authenticateMetadata, chainAuthenticators, joinTokenAuthenticator, kubernetesAuthenticator } from '../../../src/ca/auth.js';
import { tempDir } from './helpers.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

test('mint and verify: identity from the token', () => {
  const t = mintJoinToken({ namespace: 'default', serviceAccount: 'alice', ttlSeconds: 3600 }, privateKey, NOW);
  const r = verifyJoinToken(t, publicKey, NOW + 1000);
  assert.ok(r.ok);
  assert.deepEqual(r.identity, { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'alice' });
  assert.equal(r.claims.sub, 'spiffe://cluster.local/ns/default/sa/alice');
  assert.equal(r.claims.exp - r.claims.iat, 3600);
});

test('typed errors: expired, bad signature, malformed, wrong audience, wrong identity', () => {
  const t = mintJoinToken({ namespace: 'default', serviceAccount: 'alice', ttlSeconds: 60 }, privateKey, NOW);
  const err = (r: ReturnType<typeof verifyJoinToken>): string => (r.ok ? 'ok' : r.error);
  assert.equal(err(verifyJoinToken(t, publicKey, NOW + 3600_000)), 'expired');
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.equal(err(verifyJoinToken(t, other.publicKey, NOW)), 'bad-signature');
  const [h, p, s] = t.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sa: 'admin', sub: 'spiffe://cluster.local/ns/default/sa/admin' })).toString('base64url')}.${s}`;
  assert.equal(err(verifyJoinToken(forged, publicKey, NOW)), 'bad-signature', 'identity cannot be changed');
  assert.equal(err(verifyJoinToken('abc', publicKey, NOW)), 'malformed');
  assert.equal(err(verifyJoinToken('a.b.c', publicKey, NOW)), 'malformed');
  const signed = (c: Record<string, unknown>): string => {
    const input = `${h}.${Buffer.from(JSON.stringify(c)).toString('base64url')}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  assert.equal(err(verifyJoinToken(signed({ ...claims, aud: 'someone-else' }), publicKey, NOW)), 'wrong-audience');
  assert.equal(err(verifyJoinToken(signed({ ...claims, sa: 'bob' }), publicKey, NOW)), 'wrong-identity', 'sub must match ns/sa');
  assert.equal(err(verifyJoinToken(t, publicKey, NOW, { trustDomain: 'example.org' })), 'wrong-identity');
  assert.throws(() => mintJoinToken({ namespace: 'Bad_NS', serviceAccount: 'a', ttlSeconds: 60 }, privateKey));
});

test('authenticateMetadata reads the bearer token; chain falls through to Kubernetes', async () => {
  const t = mintJoinToken({ namespace: 'prod', serviceAccount: 'web', ttlSeconds: 60 }, privateKey, NOW);
  const md = new Metadata();
  md.set('authorization', `Bearer ${t}`);
  const r = await authenticateMetadata(md, publicKey, { now: () => NOW });
  assert.ok(r.ok && r.identity.namespace === 'prod' && r.identity.serviceAccount === 'web');
  const none = await authenticateMetadata(new Metadata(), publicKey);
  assert.ok(!none.ok && none.reason === 'no-credentials');

  const k8s = kubernetesAuthenticator({ review: async (tok) => (tok === 'k8s-token' ? { authenticated: true, username: 'system:serviceaccount:ns1:sa1' } : { authenticated: false }) }, 'cluster.local');
  const chain = chainAuthenticators([joinTokenAuthenticator(publicKey, { now: () => NOW }), k8s]);
  const viaK8s = await chain.authenticate({ authorization: 'Bearer k8s-token' });
  assert.ok(viaK8s.ok && viaK8s.method === 'kubernetes' && viaK8s.identity.namespace === 'ns1');
  const bad = await chain.authenticate({ authorization: 'Bearer nope' });
  assert.ok(!bad.ok && bad.reason === 'malformed', 'the first real failure is reported');
  assert.ok(!bad.ok && /join token: .*; TokenReview: not authenticated/.test(bad.message), `every objection is named: ${bad.ok ? '' : bad.message}`);
});

test('the signing key is created 0600 in the state dir and refused when readable by others', () => {
  const dir = tempDir();
  const k = loadOrCreateTokenSigningKey(dir);
  assert.equal(statSync(k.path).mode & 0o777, 0o600);
  const again = loadOrCreateTokenSigningKey(dir);
  const t = mintJoinToken({ namespace: 'a', serviceAccount: 'b', ttlSeconds: 60 }, k.privateKey);
  assert.ok(verifyJoinToken(t, again.publicKey).ok, 'same key after reload');
  chmodSync(k.path, 0o604);
  assert.throws(() => loadOrCreateTokenSigningKey(dir), /accessible by group or others/);
});


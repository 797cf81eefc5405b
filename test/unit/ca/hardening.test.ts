// CA limits of issue 14: CSR rate limits, lifetime caps, no self-renewing certificates, RSA
// exponent 3, a deleted join-token key, a loose state dir, and retire while old certificates
// are still held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { CaMetrics } from '../../../src/ca/metrics.js';
import { chainAuthenticators, clientCertificateAuthenticator, joinTokenAuthenticator } from '../../../src/ca/auth.js';
import { loadOrCreateTokenSigningKey, mintJoinToken } from '../../../src/ca/tokens.js';
import { handleCreateCertificate, type CaServiceDeps } from '../../../src/ca/csr-service.js';
import { createCsrLimiter } from '../../../src/ca/csr-limits.js';
import { createCsr, csrToPem } from '../../../src/ca/csr.js';
import { generateP256, p256PrivateKeyObject } from '../../../src/ca/keys.js';
import { ensureStateDir } from '../../../src/ca/state-dir.js';
import { retireBlocker } from '../../../src/ca/rotation-guard.js';
import { WorkloadCertManager } from '../../../src/sds/cert-manager.js';
import { ALICE, tempDir } from './helpers.js';

const tokenKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const token = (sa = 'alice'): string => mintJoinToken({ namespace: 'default', serviceAccount: sa, ttlSeconds: 600 }, tokenKey.privateKey);
const call = (t?: string, peer?: Buffer) => {
  const metadata = new Metadata();
  if (t) metadata.set('authorization', `Bearer ${t}`);
  return { metadata, getAuthContext: () => (peer ? { sslPeerCertificate: { raw: peer } } : {}) };
};
const csr = (): string => { const k = generateP256(); return csrToPem(createCsr(p256PrivateKeyObject(k), k.spki)); };

async function setup(o: { perSecond?: number; perIdentityPerMinute?: number; ttl?: number; now?: () => number } = {}) {
  const registry = new Registry();
  const metrics = new CaMetrics(registry);
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { metrics, workloadCertTtlSeconds: o.ttl ?? 86_400, ...(o.now ? { now: o.now } : {}) });
  const limiter = createCsrLimiter({ perSecond: o.perSecond ?? 0, perIdentityPerMinute: o.perIdentityPerMinute ?? 0, ...(o.now ? { now: o.now } : {}) });
  const deps: CaServiceDeps = { ca, metrics, limiter, authenticator: chainAuthenticators([joinTokenAuthenticator(tokenKey.publicKey), clientCertificateAuthenticator(ca, o.now ? { now: o.now } : {})]) };
  const metric = async (name: string) => (await registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n');
  return { deps, ca, metric };
}

test('CSRs per identity per minute: the next one is RESOURCE_EXHAUSTED naming the limit; others are unaffected', async () => {
  const { deps, metric } = await setup({ perIdentityPerMinute: 5 });
  for (let i = 0; i < 5; i++) assert.equal((await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(token()))).code, status.OK);
  const o = await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(token()));
  assert.equal(o.code, status.RESOURCE_EXHAUSTED);
  assert.match(o.details, /5 per minute for spiffe:\/\/cluster.local\/ns\/default\/sa\/alice \(--csr-per-identity-per-minute\)/);
  assert.match(await metric('meshd_ca_csr_rate_limited_total'), /limit="identity"} 1/);
  assert.equal((await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(token('bob')))).code, status.OK, 'another identity still gets certificates');
});

test('CSRs per second overall: refused before authentication, refilled over time', async () => {
  let now = 1_800_000_000_000;
  const { deps, metric } = await setup({ perSecond: 3, now: () => now });
  for (let i = 0; i < 3; i++) assert.equal((await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(token()))).code, status.OK);
  const o = await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call('not-a-token'));
  assert.equal(o.code, status.RESOURCE_EXHAUSTED, 'even an unauthenticated caller is refused cheaply');
  assert.match(o.details, /3 per second from all callers \(--csr-per-second\)/);
  assert.match(await metric('meshd_ca_csr_rate_limited_total'), /limit="global"} 1/);
  now += 1000;
  assert.equal((await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(token()))).code, status.OK);
});

test('the per-identity limiter keeps a bounded number of identities', () => {
  const l = createCsrLimiter({ perSecond: 0, perIdentityPerMinute: 10, maxIdentities: 100 });
  for (let i = 0; i < 1000; i++) l.admitIdentity(`spiffe://x/ns/a/sa/s${i}`);
  assert.ok(l.tracked <= 100, `tracked ${l.tracked}`);
});

test('a CSR cannot ask for more than --cert-ttl', async () => {
  const { deps } = await setup({ ttl: 86_400 });
  const o = await handleCreateCertificate(deps, { csr: csr(), validity_duration: 90 * 86_400 }, call(token()));
  assert.equal(o.code, status.OK);
  const life = Date.parse(new X509Certificate(o.response!.cert_chain[0]!).validTo) - Date.now();
  assert.ok(life <= 86_400_000 + 5000, `lifetime ${life / 3_600_000} h`);
});

test('a certificate presented as the credential bounds the one it gets: no renewal forever', async () => {
  let now = Date.now();
  const { deps } = await setup({ ttl: 3600, now: () => now });
  const first = await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(token()));
  const firstLeaf = new X509Certificate(first.response!.cert_chain[0]!);
  // Renew with the certificate itself, later on: the new one ends when the first one does.
  now += 1_800_000;
  const second = await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(undefined, firstLeaf.raw));
  assert.equal(second.code, status.OK, second.details);
  const secondLeaf = new X509Certificate(second.response!.cert_chain[0]!);
  assert.ok(Date.parse(secondLeaf.validTo) <= Date.parse(firstLeaf.validTo), `${secondLeaf.validTo} outlives ${firstLeaf.validTo}`);
  // Past it, the chain ends: the credential itself has expired.
  now = Date.parse(firstLeaf.validTo) + 1000;
  assert.equal((await handleCreateCertificate(deps, { csr: csr(), validity_duration: 0 }, call(undefined, secondLeaf.raw))).code, status.UNAUTHENTICATED);
});

test('an RSA key with public exponent 3 is refused', async () => {
  const { deps } = await setup();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const o = await handleCreateCertificate(deps, { csr: csrToPem(createCsr(privateKey, spki)), validity_duration: 0 }, call(token()));
  assert.equal(o.code, status.INVALID_ARGUMENT);
  assert.match(o.details, /public exponent 3/);
});

test('a deleted join-token key is refused, not silently replaced', () => {
  const dir = tempDir();
  const k = loadOrCreateTokenSigningKey(dir);
  rmSync(k.path);
  assert.throws(() => loadOrCreateTokenSigningKey(dir), /join-token key .* is missing but .*join-token-key\.pub\.pem shows it was made.*Restore the key/);
  assert.ok(!existsSync(k.path), 'no new key was written');
  rmSync(join(dir, 'ca', 'join-token-key.pub.pem'));
  assert.ok(loadOrCreateTokenSigningKey(dir).privateKey, 'deleting the public half too is the explicit way to make a new key');
  // An installation from before the public half existed gets one, and keeps its key.
  const pem = readFileSync(k.path, 'utf8');
  rmSync(join(dir, 'ca', 'join-token-key.pub.pem'));
  loadOrCreateTokenSigningKey(dir);
  assert.equal(readFileSync(k.path, 'utf8'), pem);
});

test('an existing state dir with mode 0755 is tightened to 0700 with a warning', () => {
  const dir = join(tempDir(), 'state');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  assert.match(ensureStateDir(dir) ?? '', /had mode 0755.*tightened to 0700/);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(ensureStateDir(dir), undefined, 'no warning once it is private');
});

test('retire is refused while a connected workload still holds a certificate from the old root', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const timers: (() => void)[] = [];
  const certs = new WorkloadCertManager({ issuer: ca, onRotate: () => {}, onTrustBundleChange: () => {}, schedule: (_ms, fn) => { timers.push(fn); return () => {}; } });
  certs.acquire('p1', ALICE);
  certs.acquire('p2', ALICE);
  await ca.introduceRoot();
  await ca.activateNewRoot();
  assert.match(retireBlocker(ca, certs) ?? '', /^retire refused: 2 connected workloads still hold a certificate issued under the old root/);
  certs.rotate('p1');
  assert.match(retireBlocker(ca, certs) ?? '', /1 connected workload still holds/);
  certs.rotate('p2');
  assert.equal(retireBlocker(ca, certs), undefined, 'every certificate was re-issued under the new root');
  certs.close();
});

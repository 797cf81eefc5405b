import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { Metadata, status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { CaMetrics } from '../../../src/ca/metrics.js';
import { joinTokenAuthenticator } from '../../../src/ca/auth.js';
import { mintJoinToken } from '../../../src/ca/tokens.js';
import { handleCreateCertificate, type CaServiceDeps } from '../../../src/ca/csr-service.js';
import { createCsr, csrToPem } from '../../../src/ca/csr.js';
import { generateP256, p256PrivateKeyObject, spkiOf } from '../../../src/ca/keys.js';
import { openssl, tempDir } from './helpers.js';

const tokenKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function setup(opts: { maxCertTtlSeconds?: number } = {}): Promise<{ deps: CaServiceDeps; registry: Registry; call: (token?: string) => { metadata: Metadata } }> {
  const registry = new Registry();
  const metrics = new CaMetrics(registry);
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { metrics, ...opts });
  const deps: CaServiceDeps = { ca, metrics, authenticator: joinTokenAuthenticator(tokenKey.publicKey) };
  const call = (token = mintJoinToken({ namespace: 'default', serviceAccount: 'alice', ttlSeconds: 600 }, tokenKey.privateKey)): { metadata: Metadata } => {
    const metadata = new Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    return { metadata };
  };
  return { deps, registry, call };
}

async function metric(registry: Registry, name: string): Promise<string> {
  return (await registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n');
}

function p256Csr(uris?: string[]): string {
  const k = generateP256();
  return csrToPem(createCsr(p256PrivateKeyObject(k), k.spki, { uris }));
}

test('good P-256 CSR: chain leaf first, root last, identity from the token, SANs in the CSR ignored', async () => {
  const { deps, call, registry } = await setup();
  const o = await handleCreateCertificate(deps, { csr: p256Csr(['spiffe://cluster.local/ns/kube-system/sa/admin']), validity_duration: 3600 }, call());
  assert.equal(o.code, status.OK, o.details);
  const chain = o.response!.cert_chain;
  assert.equal(chain.length, 2);
  const leaf = new X509Certificate(chain[0]!);
  assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/alice');
  assert.equal(chain[1], deps.ca.trustBundlePem()[0]);
  assert.deepEqual(o.response!.trust_bundle, deps.ca.trustBundlePem());
  assert.ok(Math.abs(Date.parse(leaf.validTo) - Date.now() - 3600_000) < 5000);
  assert.match(await metric(registry, 'meshd_ca_csr_total'), /meshd_ca_csr_total 1/);
  assert.match(await metric(registry, 'meshd_ca_issuance_seconds'), /meshd_ca_issuance_seconds_count 1/);
});

test('RSA CSR made by openssl is accepted; SAN in it ignored', async () => {
  const { deps, call } = await setup();
  const dir = tempDir();
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-subj', '/O=evil', '-addext', 'subjectAltName=URI:spiffe://evil/ns/x/sa/y', '-out', join(dir, 'r.csr')]);
  const o = await handleCreateCertificate(deps, { csr: readFileSync(join(dir, 'r.csr'), 'utf8'), validity_duration: 0 }, call());
  assert.equal(o.code, status.OK, o.details);
  const leaf = new X509Certificate(o.response!.cert_chain[0]!);
  assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/alice');
  assert.equal(leaf.publicKey.asymmetricKeyType, 'rsa');
  assert.ok(Math.abs(Date.parse(leaf.validTo) - Date.now() - 86_400_000) < 5000, 'default 24 h');
});

test('unsupported key types are INVALID_ARGUMENT "unsupported key type"', async () => {
  const { deps, call, registry } = await setup();
  const dir = tempDir();
  for (const alg of [['-newkey', 'ed25519'], ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']]) {
    openssl(['req', '-new', ...alg, '-nodes', '-keyout', join(dir, 'k.pem'), '-subj', '/O=x', '-out', join(dir, 'r.csr')]);
    const o = await handleCreateCertificate(deps, { csr: readFileSync(join(dir, 'r.csr'), 'utf8'), validity_duration: 0 }, call());
    assert.equal(o.code, status.INVALID_ARGUMENT);
    assert.match(o.details, /unsupported key type/);
  }
  assert.match(await metric(registry, 'meshd_ca_signing_errors_total'), /meshd_ca_signing_errors_total 2/);
});

test('malformed CSRs and bad signatures are INVALID_ARGUMENT', async () => {
  const { deps, call } = await setup();
  for (const csr of ['', 'hello', '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n']) {
    const o = await handleCreateCertificate(deps, { csr, validity_duration: 0 }, call());
    assert.equal(o.code, status.INVALID_ARGUMENT, csr);
  }
  // Signed by one key, carrying another's public key.
  const a = generateP256();
  const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const forged = csrToPem(createCsr(p256PrivateKeyObject(a), spkiOf(b.publicKey)));
  const o = await handleCreateCertificate(deps, { csr: forged, validity_duration: 0 }, call());
  assert.equal(o.code, status.INVALID_ARGUMENT);
  assert.match(o.details, /signature does not verify/);
});

test('over-max lifetime is capped', async () => {
  const { deps, call } = await setup({ maxCertTtlSeconds: 7200 });
  const o = await handleCreateCertificate(deps, { csr: p256Csr(), validity_duration: 365 * 86_400 }, call());
  assert.equal(o.code, status.OK);
  const leaf = new X509Certificate(o.response!.cert_chain[0]!);
  assert.ok(Math.abs(Date.parse(leaf.validTo) - Date.now() - 7200_000) < 5000);
});

test('no or bad credentials: UNAUTHENTICATED with a reason metric; identity never from metadata', async () => {
  const { deps, call, registry } = await setup();
  const none = await handleCreateCertificate(deps, { csr: p256Csr(), validity_duration: 0 }, call(''));
  assert.equal(none.code, status.UNAUTHENTICATED);
  const md = call('').metadata;
  md.set('namespace', 'default');
  md.set('serviceaccount', 'alice');
  assert.equal((await handleCreateCertificate(deps, { csr: p256Csr(), validity_duration: 0, metadata: { fields: {} } }, { metadata: md })).code, status.UNAUTHENTICATED);
  const expired = mintJoinToken({ namespace: 'default', serviceAccount: 'alice', ttlSeconds: 1 }, tokenKey.privateKey, Date.now() - 3600_000);
  const o = await handleCreateCertificate(deps, { csr: p256Csr(), validity_duration: 0 }, call(expired));
  assert.equal(o.code, status.UNAUTHENTICATED);
  assert.match(o.details, /expired/);
  const text = await metric(registry, 'meshd_ca_auth_failures_total');
  assert.match(text, /reason="no-credentials"} 2/);
  assert.match(text, /reason="expired"} 1/);
});

test('CSRs built by createCsr pass openssl req -verify', () => {
  const dir = tempDir();
  const k = generateP256();
  writeFileSync(join(dir, 'a.csr'), csrToPem(createCsr(p256PrivateKeyObject(k), k.spki, { uris: ['spiffe://cluster.local/ns/a/sa/b'] })));
  assert.match(openssl(['req', '-in', join(dir, 'a.csr'), '-noout', '-verify']) + openssl(['req', '-in', join(dir, 'a.csr'), '-noout', '-text']), /URI:spiffe:\/\/cluster.local\/ns\/a\/sa\/b/);
});

test('client-certificate authentication accepts only this CA\'s SPIFFE certificates', async () => {
  const { clientCertificateAuthenticator } = await import('../../../src/ca/auth.js');
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const stranger = await CertificateAuthority.open(new MemoryCaStore());
  const auth = clientCertificateAuthenticator(ca);
  const der = (pem: string): Buffer => new X509Certificate(pem).raw;
  const ok = await auth.authenticate({ peerCertificate: der(ca.issueWorkload({ trustDomain: 'cluster.local', namespace: 'ns', serviceAccount: 'sa' }).certChainPem[0]!) });
  assert.ok(ok.ok && ok.method === 'client-certificate' && ok.identity.namespace === 'ns' && ok.identity.serviceAccount === 'sa');
  const bad = await auth.authenticate({ peerCertificate: der(stranger.issueWorkload({ trustDomain: 'cluster.local', namespace: 'ns', serviceAccount: 'sa' }).certChainPem[0]!) });
  assert.ok(!bad.ok && bad.reason === 'untrusted-certificate');
  const none = await auth.authenticate({});
  assert.ok(!none.ok && none.reason === 'no-credentials');
});

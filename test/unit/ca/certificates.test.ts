import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { CaError } from '../../../src/ca/errors.js';
import { ALICE, openssl, tempDir, writePem } from './helpers.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');

test('workload certificate: SPIFFE SAN, KU, EKU, validity, chain; openssl and Node accept it', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { now: () => T0 });
  const c = ca.issueWorkload(ALICE);
  assert.equal(c.certChainPem.length, 2, 'leaf then root');
  const leaf = new X509Certificate(c.certChainPem[0]!);
  const root = new X509Certificate(c.certChainPem[1]!);
  assert.equal(root.toString(), new X509Certificate(ca.trustBundlePem()[0]!).toString());
  assert.ok(leaf.verify(root.publicKey), 'leaf verifies with the root key');
  assert.ok(leaf.checkIssued(root));
  assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/alice');
  assert.equal(leaf.ca, false);
  assert.equal(Date.parse(leaf.validFrom), T0 - 300_000, 'backdated 5 minutes');
  assert.equal(Date.parse(leaf.validTo), T0 + 86_400_000, '24 h');
  assert.equal(c.notAfter.getTime(), T0 + 86_400_000);
  assert.ok(leaf.checkPrivateKey(createPrivateKey(c.privateKeyPem)), 'key matches certificate');
  assert.equal(createPublicKey(c.privateKeyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');

  const dir = tempDir();
  const text = openssl(['x509', '-in', writePem(dir, 'leaf.pem', c.certChainPem[0]!), '-noout', '-text']);
  assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
  assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster.local\/ns\/default\/sa\/alice/);
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /X509v3 Authority Key Identifier:/);
  assert.match(text, /Version: 3/);
  const rootText = openssl(['x509', '-in', writePem(dir, 'root.pem', c.certChainPem[1]!), '-noout', '-text']);
  assert.match(rootText, /CA:TRUE/);
  assert.match(rootText, /Certificate Sign, CRL Sign/);
  assert.match(rootText, /Subject Key Identifier/);
  assert.match(rootText, /Not After : \w+ +\d+ [\d:]+ 2039 GMT/, 'root lives 10 years');
  openssl(['pkey', '-in', writePem(dir, 'key.pem', c.privateKeyPem), '-noout', '-check']);
  const verified = openssl(['verify', '-attime', String(T0 / 1000 + 60), '-partial_chain', '-CAfile', join(dir, 'root.pem'), join(dir, 'leaf.pem')]);
  assert.match(verified, /leaf\.pem: OK/);
});

test('serials are random and positive; configured trust domain is used', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { trustDomain: 'example.org' });
  const serials = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const leaf = new X509Certificate(ca.issueWorkload(ALICE).certChainPem[0]!);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://example.org/ns/default/sa/alice');
    assert.ok(/^[0-7]/.test(leaf.serialNumber), `positive serial ${leaf.serialNumber}`);
    serials.add(leaf.serialNumber);
  }
  assert.equal(serials.size, 50);
});

test('lifetime: configurable, more than 90 days refused, never beyond the root', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { workloadCertTtlSeconds: 3600, now: () => T0 });
  assert.equal(ca.issueWorkload(ALICE).notAfter.getTime(), T0 + 3_600_000);
  await assert.rejects(CertificateAuthority.open(new MemoryCaStore(), { workloadCertTtlSeconds: 91 * 86_400 }), (e: unknown) => e instanceof CaError && e.code === 'INVALID_CONFIG' && /90 days/.test(e.message));
  const shortRoot = await CertificateAuthority.open(new MemoryCaStore(), { rootTtlSeconds: 600, now: () => T0 });
  assert.ok(shortRoot.issueWorkload(ALICE).notAfter.getTime() <= T0 + 600_000);
});

test('RSA-2048 root option signs certificates openssl accepts', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { keyType: 'rsa-2048' });
  const c = ca.issueWorkload(ALICE);
  const root = new X509Certificate(ca.trustBundlePem()[0]!);
  assert.equal(root.publicKey.asymmetricKeyType, 'rsa');
  const dir = tempDir();
  const out = openssl(['verify', '-CAfile', writePem(dir, 'root.pem', ca.trustBundlePem()), writePem(dir, 'leaf.pem', c.certChainPem[0]!)]);
  assert.match(out, /OK/);
  assert.match(openssl(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text']), /sha256WithRSAEncryption/);
});

test('server certificate carries DNS, IP and URI SANs', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const { generateP256 } = await import('../../../src/ca/keys.js');
  const k = generateP256();
  const c = ca.signServer(k.spki, { dnsNames: ['meshd', 'localhost'], ips: ['127.0.0.1', '::1'], uris: ['spiffe://cluster.local/ns/istio-system/sa/meshd'] });
  const leaf = new X509Certificate(c.certChainPem[0]!);
  assert.equal(leaf.checkHost('localhost'), 'localhost');
  assert.equal(leaf.checkHost('meshd'), 'meshd');
  assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(leaf.checkIP('::1'), '::1');
  assert.match(leaf.subjectAltName ?? '', /URI:spiffe:\/\/cluster.local\/ns\/istio-system\/sa\/meshd/);
});

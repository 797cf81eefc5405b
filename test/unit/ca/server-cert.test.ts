import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { MeshdServerCertificates } from '../../../src/ca/server-cert.js';

test('meshd server certificate: SANs, and reissued under the new root on activation', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const certs = new MeshdServerCertificates(ca);
  const updates: Buffer[] = [];
  const bundles: Buffer[] = [];
  certs.addIdentityCertificateListener((u) => u && updates.push(u.certificate));
  certs.addCaCertificateListener((u) => u && bundles.push(u.caCertificate));
  await new Promise((r) => setImmediate(r));
  assert.equal(updates.length, 1, 'current certificate delivered to a new listener');
  const first = new X509Certificate(updates[0]!);
  assert.equal(first.checkHost('meshd'), 'meshd');
  assert.equal(first.checkHost('localhost'), 'localhost');
  assert.equal(first.checkIP('127.0.0.1'), '127.0.0.1');
  assert.match(first.subjectAltName ?? '', /URI:spiffe:\/\/cluster.local\/ns\/istio-system\/sa\/meshd/);

  await ca.introduceRoot();
  assert.equal(bundles.at(-1)!.toString().match(/BEGIN CERTIFICATE/g)?.length, 2, 'TLS trust follows the bundle');
  await ca.activateNewRoot();
  assert.equal(updates.length, 2);
  const newRoot = new X509Certificate(ca.trustBundlePem()[1]!);
  assert.ok(new X509Certificate(updates[1]!).verify(newRoot.publicKey));
  certs.close();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPluggedCa } from '../../../src/ca/cacerts.js';
import { CaError } from '../../../src/ca/errors.js';
import { ALICE, openssl, tempDir, writePem } from './helpers.js';

/** An Istio-style cacerts directory made with the openssl CLI: root → intermediate. */
function makeCacerts(): string {
  const dir = tempDir('meshd-cacerts-');
  const ext = join(dir, 'ext.cnf');
  writeFileSync(ext, '[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'root-key.pem')]);
  openssl(['req', '-x509', '-new', '-key', join(dir, 'root-key.pem'), '-subj', '/O=Istio/CN=Root CA', '-days', '3650', '-out', join(dir, 'root-cert.pem'), '-extensions', 'v3_ca', '-config', ext]);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'ca-key.pem')]);
  openssl(['req', '-new', '-key', join(dir, 'ca-key.pem'), '-subj', '/O=Istio/CN=Intermediate CA/L=cluster1', '-out', join(dir, 'ca.csr'), '-config', ext]);
  openssl(['x509', '-req', '-in', join(dir, 'ca.csr'), '-CA', join(dir, 'root-cert.pem'), '-CAkey', join(dir, 'root-key.pem'), '-CAcreateserial', '-days', '730', '-out', join(dir, 'ca-cert.pem'), '-extfile', ext, '-extensions', 'v3_ca']);
  writeFileSync(join(dir, 'cert-chain.pem'), readFileSync(join(dir, 'ca-cert.pem'), 'utf8') + readFileSync(join(dir, 'root-cert.pem'), 'utf8'));
  return dir;
}

test('plugged-in cacerts: signs as the intermediate, chain leaf → intermediate → root', () => {
  const dir = makeCacerts();
  const ca = openPluggedCa(dir);
  assert.equal(ca.kind, 'plugged');
  const c = ca.issueWorkload(ALICE);
  assert.equal(c.certChainPem.length, 3);
  const [leaf, inter, root] = c.certChainPem.map((p) => new X509Certificate(p)) as [X509Certificate, X509Certificate, X509Certificate];
  assert.match(inter.subject, /CN=Intermediate CA/);
  assert.match(root.subject, /CN=Root CA/);
  assert.ok(leaf.checkIssued(inter) && leaf.verify(inter.publicKey));
  assert.ok(inter.checkIssued(root));
  assert.deepEqual(ca.trustBundlePem().map((p) => new X509Certificate(p).fingerprint256), [root.fingerprint256]);
  const out = tempDir();
  const verified = openssl(['verify', '-CAfile', join(dir, 'root-cert.pem'), '-untrusted', writePem(out, 'inter.pem', c.certChainPem[1]!), writePem(out, 'leaf.pem', c.certChainPem[0]!)]);
  assert.match(verified, /OK/);
  assert.match(openssl(['x509', '-in', join(out, 'leaf.pem'), '-noout', '-issuer']), /Intermediate CA/);
});

test('plugged-in cacerts: chain without the root still ends at the root; errors name the file', () => {
  const dir = makeCacerts();
  writeFileSync(join(dir, 'cert-chain.pem'), readFileSync(join(dir, 'ca-cert.pem')));
  const c = openPluggedCa(dir).issueWorkload(ALICE);
  assert.equal(c.certChainPem.length, 3);
  assert.match(new X509Certificate(c.certChainPem[2]!).subject, /CN=Root CA/);

  writeFileSync(join(dir, 'ca-cert.pem'), 'garbage');
  assert.throws(() => openPluggedCa(dir), (e: unknown) => e instanceof CaError && e.message.includes(join(dir, 'ca-cert.pem')));
  const other = makeCacerts();
  writeFileSync(join(other, 'ca-key.pem'), readFileSync(join(makeCacerts(), 'ca-key.pem')));
  assert.throws(() => openPluggedCa(other), /ca-key\.pem does not match/);
});

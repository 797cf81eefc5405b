import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { FileCaStore } from '../../../src/ca/store.js';
import { CaError } from '../../../src/ca/errors.js';
import { ALICE, tempDir } from './helpers.js';

test('first start generates and persists a root; restart reloads it, never regenerates', async () => {
  const dir = tempDir();
  const a = await CertificateAuthority.open(new FileCaStore(dir));
  const keyPath = join(dir, 'ca', 'root-1-key.pem');
  assert.equal(statSync(keyPath).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ca')).mode & 0o777, 0o700);
  const keyBefore = readFileSync(keyPath, 'utf8');
  const b = await CertificateAuthority.open(new FileCaStore(dir));
  assert.deepEqual(b.trustBundlePem(), a.trustBundlePem());
  assert.equal(readFileSync(keyPath, 'utf8'), keyBefore, 'key file untouched');
  const leaf = new X509Certificate(b.issueWorkload(ALICE).certChainPem[0]!);
  assert.ok(leaf.verify(new X509Certificate(a.trustBundlePem()[0]!).publicKey), 'reloaded CA signs with the same key');
});

test('refuses a key file readable by group or others, naming the file', async () => {
  const dir = tempDir();
  await CertificateAuthority.open(new FileCaStore(dir));
  const keyPath = join(dir, 'ca', 'root-1-key.pem');
  chmodSync(keyPath, 0o644);
  await assert.rejects(CertificateAuthority.open(new FileCaStore(dir)), (e: unknown) => e instanceof CaError && e.code === 'KEY_PERMISSIONS' && e.message.includes(keyPath) && e.message.includes('0644'));
  chmodSync(keyPath, 0o640);
  await assert.rejects(CertificateAuthority.open(new FileCaStore(dir)), /accessible by group or others/);
});

test('a corrupt file is a start-up error naming it, and is never overwritten', async () => {
  for (const [file, junk] of [['root-1-key.pem', 'not a key'], ['root-1-cert.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'], ['state.json', '{"version":1,']] as const) {
    const dir = tempDir();
    await CertificateAuthority.open(new FileCaStore(dir));
    const path = join(dir, 'ca', file);
    writeFileSync(path, junk, { mode: 0o600 });
    await assert.rejects(CertificateAuthority.open(new FileCaStore(dir)), (e: unknown) => e instanceof CaError && e.code === 'STATE_CORRUPT' && e.message.includes(path), file);
    assert.equal(readFileSync(path, 'utf8'), junk, `${file} left as it was`);
  }
});

test('a missing state.json next to existing root files is an error, not a new root', async () => {
  const dir = tempDir();
  await CertificateAuthority.open(new FileCaStore(dir));
  const { rmSync } = await import('node:fs');
  rmSync(join(dir, 'ca', 'state.json'));
  await assert.rejects(CertificateAuthority.open(new FileCaStore(dir)), /state\.json is missing/);
  assert.deepEqual(readdirSync(join(dir, 'ca')).sort(), ['root-1-cert.pem', 'root-1-key.pem']);
});

test('a key that does not match its certificate is refused', async () => {
  const a = tempDir();
  const b = tempDir();
  await CertificateAuthority.open(new FileCaStore(a));
  await CertificateAuthority.open(new FileCaStore(b));
  writeFileSync(join(a, 'ca', 'root-1-key.pem'), readFileSync(join(b, 'ca', 'root-1-key.pem')), { mode: 0o600 });
  await assert.rejects(CertificateAuthority.open(new FileCaStore(a)), /does not match/);
});

test('root rotation: introduce → [old, new], activate → new signs, retire → [new]; phase persisted', async () => {
  const dir = tempDir();
  const ca = await CertificateAuthority.open(new FileCaStore(dir));
  const events: string[] = [];
  ca.onTrustBundleChange(() => events.push('bundle'));
  ca.onSignerChange(() => events.push('signer'));
  const [oldRoot] = ca.trustBundlePem();
  await assert.rejects(ca.activateNewRoot(), (e: unknown) => e instanceof CaError && e.code === 'ROTATION_PHASE');

  await ca.introduceRoot();
  assert.equal(ca.rotationPhase, 'introduced');
  assert.equal(ca.trustBundlePem().length, 2);
  assert.equal(ca.trustBundlePem()[0], oldRoot);
  const newRoot = ca.trustBundlePem()[1]!;
  const issuedByOld = new X509Certificate(ca.issueWorkload(ALICE).certChainPem[0]!);
  assert.ok(issuedByOld.verify(new X509Certificate(oldRoot!).publicKey), 'old root still signs');
  const reopened = await CertificateAuthority.open(new FileCaStore(dir));
  assert.equal(reopened.rotationPhase, 'introduced');
  assert.deepEqual(reopened.trustBundlePem(), ca.trustBundlePem());

  await ca.activateNewRoot();
  const issuedByNew = ca.issueWorkload(ALICE);
  assert.equal(issuedByNew.certChainPem[1], newRoot);
  assert.ok(new X509Certificate(issuedByNew.certChainPem[0]!).verify(new X509Certificate(newRoot).publicKey));
  assert.equal((await CertificateAuthority.open(new FileCaStore(dir))).rotationPhase, 'activated');

  await ca.retireOldRoot();
  assert.deepEqual(ca.trustBundlePem(), [newRoot]);
  assert.equal(ca.rotationPhase, 'steady');
  assert.ok(!existsSync(join(dir, 'ca', 'root-1-key.pem')), 'retired key removed');
  const again = await CertificateAuthority.open(new FileCaStore(dir));
  assert.deepEqual(again.trustBundlePem(), [newRoot]);
  assert.deepEqual(events, ['bundle', 'signer', 'bundle']);
});

/**
 * The certificate manager with an asynchronous issuer (an external signer): no certificate
 * until the first one arrives (then a push), and a failed renewal keeps the current
 * certificate, is counted, and is retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { CertificateAuthority, type IssuedKeyAndCertificate } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { CaMetrics } from '../../../src/ca/metrics.js';
import { WorkloadCertManager, type WorkloadIssuer } from '../../../src/sds/cert-manager.js';
import type { Identity } from '../../../src/model/types.js';

const ALICE: Identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'alice' };
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('async issuer: first certificate pushed when it arrives; a failed renewal keeps the old one and retries', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  let fail = false;
  const calls: ((v?: unknown) => void)[] = [];
  const issuer: WorkloadIssuer = {
    spiffeUri: (id) => ca.spiffeUri(id),
    issueWorkload: (id, ttl) => new Promise<IssuedKeyAndCertificate>((resolve, reject) => {
      calls.push(() => (fail ? reject(new Error('denied by the signer')) : resolve(ca.issueWorkload(id, ttl))));
    }),
    trustBundlePem: () => ca.trustBundlePem(),
    onTrustBundleChange: (fn) => ca.onTrustBundleChange(fn),
    onSignerChange: (fn) => ca.onSignerChange(fn),
  };
  const timers: { delay: number; fn: () => void }[] = [];
  const rotated: string[] = [];
  const logs: string[] = [];
  const registry = new Registry();
  const m = new WorkloadCertManager({
    issuer, onRotate: (id) => rotated.push(id), onTrustBundleChange: () => {}, metrics: new CaMetrics(registry), log: (l) => logs.push(l),
    schedule: (delay, fn) => { const t = { delay, fn }; timers.push(t); return () => { timers.splice(timers.indexOf(t), 1); }; }, random: () => 0.5,
  });
  assert.equal(m.acquire('p1', ALICE), undefined, 'nothing yet');
  assert.equal(m.acquire('p1', ALICE), undefined, 'asking again does not send a second request');
  assert.equal(calls.length, 1);
  calls.shift()!();
  await tick();
  assert.deepEqual(rotated, ['p1'], 'pushed when it arrived');
  const first = m.defaultSecret('p1');
  assert.ok(first);
  assert.equal(timers.length, 1, 'renewal armed');

  fail = true;
  timers.shift()!.fn();
  calls.shift()!();
  await tick();
  assert.equal(m.defaultSecret('p1'), first, 'the current certificate stays in force');
  assert.match(logs.join('\n'), /denied by the signer; the current certificate \(valid until .*\) stays in force; retrying/);
  assert.match(await registry.getSingleMetricAsString('meshd_sds_push_errors_total'), / 1$/m);
  assert.equal(timers.length, 1, 'retry armed');
  assert.equal(timers[0]!.delay, 10_000);

  fail = false;
  timers.shift()!.fn();
  calls.shift()!();
  await tick();
  assert.notEqual(m.defaultSecret('p1'), first, 'renewed');
  assert.deepEqual(rotated, ['p1', 'p1']);
  m.close();
});

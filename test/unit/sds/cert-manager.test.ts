import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { CaMetrics } from '../../../src/ca/metrics.js';
import { WorkloadCertManager } from '../../../src/sds/cert-manager.js';

const ALICE = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'alice' };

function fakeTimers(): { schedule: (d: number, fn: () => void) => () => void; pending: { delay: number; fn: () => void; cancelled: boolean }[] } {
  const pending: { delay: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    pending,
    schedule: (delay, fn) => {
      const t = { delay, fn, cancelled: false };
      pending.push(t);
      return () => { t.cancelled = true; };
    },
  };
}

test('one key per proxy, renewal at ~50% with jitter, onRotate, metrics', async () => {
  const registry = new Registry();
  const metrics = new CaMetrics(registry);
  const now = Date.parse('2030-01-01T00:00:00Z');
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { now: () => now });
  const timers = fakeTimers();
  const rotated: string[] = [];
  const m = new WorkloadCertManager({ issuer: ca, onRotate: (id) => rotated.push(id), onTrustBundleChange: () => {}, metrics, now: () => now, random: () => 0.5, schedule: timers.schedule, renewal: { fraction: 0.5, jitter: 0.1 } });
  const a = m.acquire('p1', ALICE)!;
  const b = m.acquire('p2', ALICE)!;
  assert.notEqual(a.privateKeyPem, b.privateKeyPem, 'one key per proxy');
  assert.equal(m.acquire('p1', ALICE), a, 'same connection keeps its certificate');
  // Half of the lifetime from issuance (the 5-minute NotBefore backdate does not count).
  assert.equal(timers.pending[0]!.delay, (a.notAfter.getTime() - now) / 2, 'random 0.5 → exactly half');
  assert.match(await registry.getSingleMetricAsString('meshd_ca_workload_cert_expiry_timestamp_seconds'), /proxy="p1"} \d+/);

  timers.pending[0]!.fn();
  assert.deepEqual(rotated, ['p1']);
  const renewed = m.defaultSecret('p1') as { tls_certificate: { private_key: { inline_bytes: string } } };
  assert.notEqual(Buffer.from(renewed.tls_certificate.private_key.inline_bytes, 'base64').toString(), a.privateKeyPem, 'new key on renewal');

  m.release('p2');
  assert.equal(m.size, 1);
  assert.doesNotMatch(await registry.getSingleMetricAsString('meshd_ca_workload_cert_expiry_timestamp_seconds'), /proxy="p2"/);
  m.close();
});

test('jitter spreads renewals; a failed renewal is retried and counted', async () => {
  const registry = new Registry();
  const metrics = new CaMetrics(registry);
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const timers = fakeTimers();
  let r = 0;
  const m = new WorkloadCertManager({ issuer: ca, onRotate: () => {}, onTrustBundleChange: () => {}, metrics, random: () => [0, 0.999][r++ % 2]!, schedule: timers.schedule, retryDelayMs: 1234 });
  m.acquire('a', ALICE);
  m.acquire('b', ALICE);
  const [da, db] = timers.pending.map((t) => t.delay) as [number, number];
  assert.ok(db - da > 0.15 * 86_400_000, `spread ${da} ${db}`);
  const failing = new WorkloadCertManager({
    issuer: { ...ca, spiffeUri: ca.spiffeUri.bind(ca), trustBundlePem: () => ca.trustBundlePem(), onTrustBundleChange: () => () => {}, onSignerChange: () => () => {}, issueWorkload: (() => { let n = 0; return (id, ttl) => { if (n++ > 0) throw new Error('boom'); return ca.issueWorkload(id, ttl); }; })() },
    onRotate: () => {}, onTrustBundleChange: () => {}, metrics, schedule: timers.schedule, retryDelayMs: 1234,
  });
  failing.acquire('c', ALICE);
  timers.pending[timers.pending.length - 1]!.fn();
  assert.equal(timers.pending[timers.pending.length - 1]!.delay, 1234);
  assert.match(await registry.getSingleMetricAsString('meshd_sds_push_errors_total'), /meshd_sds_push_errors_total 1/);
});

test('root rotation: bundle change pushes ROOTCA; activation reissues under the new root', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const timers = fakeTimers();
  const events: string[] = [];
  const m = new WorkloadCertManager({ issuer: ca, onRotate: (id) => events.push(`rotate ${id}`), onTrustBundleChange: () => events.push('bundle'), schedule: timers.schedule });
  m.acquire('p', ALICE);
  const rootBefore = m.rootCaSecret();
  await ca.introduceRoot();
  assert.deepEqual(events, ['bundle']);
  assert.notEqual(m.rootCaSecret(), rootBefore);
  const bundle = Buffer.from((m.rootCaSecret() as { validation_context: { trusted_ca: { inline_bytes: string } } }).validation_context.trusted_ca.inline_bytes, 'base64').toString();
  assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2);
  await ca.activateNewRoot();
  timers.pending.filter((t) => !t.cancelled).at(-1)!.fn();
  assert.deepEqual(events, ['bundle', 'rotate p']);
  const chain = Buffer.from((m.defaultSecret('p') as { tls_certificate: { certificate_chain: { inline_bytes: string } } }).tls_certificate.certificate_chain.inline_bytes, 'base64').toString();
  const newRoot = new X509Certificate(ca.trustBundlePem()[1]!);
  assert.ok(new X509Certificate(chain).verify(newRoot.publicKey));
  m.close();
});

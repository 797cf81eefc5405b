/** The observed-dependency window and its bounds (src/telemetry/observed.ts): a simulation table over a driven clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObservedCalls } from '../../../src/telemetry/observed.js';

const hosts = (o: ObservedCalls, ns: string, w: string, now: number): string[] => o.dependencies(ns, w, now).map((d) => d.hostname);

test('a dependency stays for the whole window after its last call and leaves only after it', () => {
  const o = new ObservedCalls(10_000);
  assert.equal(o.record('apps', 'web', 'shop', 'orders.shop.svc.cluster.local', 'observed', 1_000), 'added');
  const table: [number, string[]][] = [
    [1_000, ['orders.shop.svc.cluster.local']],
    [10_999, ['orders.shop.svc.cluster.local']],
    [11_000, []],
  ];
  for (const [now, want] of table) assert.deepEqual(hosts(o, 'apps', 'web', now), want, `at ${now}`);
  // A later call refreshes it: the window restarts from the last call.
  assert.equal(o.record('apps', 'web', 'shop', 'orders.shop.svc.cluster.local', 'observed', 9_000), 'refreshed');
  assert.deepEqual(hosts(o, 'apps', 'web', 18_999), ['orders.shop.svc.cluster.local']);
  assert.deepEqual(hosts(o, 'apps', 'web', 19_000), []);
  const [d] = o.dependencies('apps', 'web', 9_000);
  assert.deepEqual([d!.lastSeen, d!.expiresAt, d!.source], [9_000, 19_000, 'observed']);
});

test('an on-demand request becomes observed once a call is logged; an older record does not move lastSeen back', () => {
  const o = new ObservedCalls(10_000);
  o.record('apps', 'web', 'bank', 'pay.bank.svc.cluster.local', 'on-demand', 5_000);
  assert.equal(o.dependencies('apps', 'web', 5_000)[0]!.source, 'on-demand');
  o.record('apps', 'web', 'bank', 'pay.bank.svc.cluster.local', 'observed', 4_000);
  const [d] = o.dependencies('apps', 'web', 5_000);
  assert.deepEqual([d!.source, d!.lastSeen], ['observed', 5_000]);
});

test('a flood of fake records is bounded: at most maxPerWorkload dependencies per workload, the rest counted; expired ones make room', () => {
  const o = new ObservedCalls(1_000, { maxPerWorkload: 3, maxWorkloads: 2 });
  const results = Array.from({ length: 1000 }, (_, i) => o.record('apps', 'web', 'x', `h${i}.x.svc.cluster.local`, 'observed', 100));
  assert.deepEqual([results.filter((r) => r === 'added').length, results.filter((r) => r === 'dropped_cap').length], [3, 997]);
  assert.equal(o.dropped, 997);
  assert.equal(o.dependencies('apps', 'web', 100).length, 3);
  // Once the first ones expired, a new dependency is taken.
  assert.equal(o.record('apps', 'web', 'x', 'late.x.svc.cluster.local', 'observed', 1_200), 'added');
  assert.deepEqual(hosts(o, 'apps', 'web', 1_200), ['late.x.svc.cluster.local']);
});

test('callers are bounded too: the least recently active is evicted past maxWorkloads', () => {
  const o = new ObservedCalls(10_000, { maxPerWorkload: 10, maxWorkloads: 2 });
  o.record('a', 'w1', 's', 'h.s.svc.cluster.local', 'observed', 1);
  o.record('a', 'w2', 's', 'h.s.svc.cluster.local', 'observed', 2);
  o.record('a', 'w1', 's', 'h.s.svc.cluster.local', 'observed', 3);
  o.record('a', 'w3', 's', 'h.s.svc.cluster.local', 'observed', 4);
  assert.equal(o.size, 2);
  assert.deepEqual(o.callersAt(5).map((c) => c.workload), ['w1', 'w3']);
  o.expire(20_000);
  assert.equal(o.size, 0, 'expire forgets what left the window');
});

test('a window of zero is a programmer error', () => {
  assert.throws(() => new ObservedCalls(0), /windowMs/);
});

/**
 * Real Envoy: a policy edited while traffic flows takes effect for new requests (convergence
 * time measured from the file write to the first request that sees the new decision), and a
 * policy change in one namespace pushes only to the proxies it selects (pushes counted both in
 * meshd's /debug/syncz nonces and in each Envoy's own update counters).
 */
import { seedYaml } from '../helpers/seed.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import type { ProxySyncStatus } from '../../src/xds/server/types.js';

const SEED = seedYaml();

function histogram(text: string, name: string): { sum: number; count: number } {
  const sum = Number(new RegExp(`^${name}_sum(?:\\{\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  const count = Number(new RegExp(`^${name}_count(?:\\{\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { sum, count };
}

test('a policy edited while traffic flows takes effect for new requests; convergence reported', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  mesh.writeConfig('20-seed.yaml', SEED);
  await mesh.startMeshd();
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend', 200, { path: '/api/users' });
  const figures: string[] = [];
  let totalResets = 0;
  // GET is dropped from the seed's rule, then put back: each edit flips the decision.
  const edits: { yaml: string; want: number }[] = [
    { yaml: SEED.replace('methods: ["GET", "POST"]', 'methods: ["POST"]'), want: 403 },
    { yaml: SEED, want: 200 },
    { yaml: SEED.replace('methods: ["GET", "POST"]', 'methods: ["POST"]'), want: 403 },
    { yaml: SEED, want: 200 },
  ];
  assert.notEqual(edits[0]!.yaml, SEED, 'the edit changes the seed');
  for (const e of edits) {
    const before = histogram(await (await mesh.meshd!.admin('/metrics')).text(), 'meshd_xds_convergence_seconds');
    const be = mesh.get('backend').envoy!;
    // Listener content, not version_info: Envoy keeps a listener's first version_info across in-place filter-chain updates.
    const version = async (): Promise<string> => JSON.stringify((await be.configDump('dynamic_listeners')).configs.map((c) => (c as { active_state?: { listener?: unknown } }).active_state?.listener));
    const v0 = await version();
    const t0 = performance.now();
    mesh.writeConfig('20-seed.yaml', e.yaml);
    // When backend's Envoy holds the new listeners (polled on its admin API, every 5 ms): seen
    // at `ms`; it was applied after `notBefore`, the start of the last poll that saw the old one.
    const applied = (async (): Promise<{ ms: number; notBefore: number }> => {
      let notBefore = 0;
      while (performance.now() - t0 < 20000) {
        const start = performance.now() - t0;
        if (await version() !== v0) return { ms: performance.now() - t0, notBefore };
        notBefore = start;
        await new Promise((r) => setTimeout(r, 5));
      }
      return { ms: NaN, notBefore };
    })();
    let first: number | undefined;
    let requests = 0;
    let resets = 0;
    const old = e.want === 200 ? 403 : 200;
    // Back-to-back requests until the new decision shows, then 20 more: after the first new
    // decision the old one never comes back. A 503 "connection termination" is a pooled
    // frontend → backend connection closed by the inbound listener's drain (its filter chain
    // changed): counted and reported, not a decision.
    for (let after = 0; after < 20;) {
      const r = await mesh.call('frontend', 'backend', { path: '/api/users' });
      requests++;
      if (r.status === 503 && /connection termination/.test(r.body)) { resets++; continue; }
      if (first === undefined) {
        if (r.status === e.want) first = performance.now() - t0;
        else assert.equal(r.status, old, `only the old or the new decision: ${r.body}`);
        assert.ok(performance.now() - t0 < 20000, 'converged within 20 s');
      } else {
        assert.equal(r.status, e.want, 'the new decision holds for every new request');
        after++;
      }
    }
    totalResets += resets;
    const { ms: appliedMs, notBefore } = await applied;
    assert.ok(Number.isFinite(appliedMs), 'backend Envoy got the new listener');
    // The new decision cannot show before Envoy applied the listener (poll resolution aside).
    assert.ok(notBefore <= first!, `the new decision (${first} ms) showed before Envoy could have applied the listener (after ${notBefore} ms)`);
    const after = await waitFor('meshd convergence recorded', async () => {
      const h = histogram(await (await mesh.meshd!.admin('/metrics')).text(), 'meshd_xds_convergence_seconds');
      return h.count > before.count ? h : undefined;
    }, 10000);
    const meshdMs = ((after.sum - before.sum) / (after.count - before.count)) * 1000;
    figures.push(`→${e.want}: backend Envoy has the new listener ${appliedMs.toFixed(0)} ms after the write, first new decision at ${first!.toFixed(0)} ms (${requests} requests, ${resets} drain resets), meshd_xds_convergence_seconds ${meshdMs.toFixed(1)} ms (${after.count - before.count} pushes)`);
  }
  t.diagnostic(`policy edit convergence: ${figures.join('; ')}`);
  assert.ok(totalResets <= edits.length * 3, `drain resets stay rare: ${totalResets}`);
});

type Counts = Map<string, { nonces: Record<string, string | undefined>; lds: number; cds: number }>;

async function pushCounts(mesh: MeshFixture, names: readonly string[]): Promise<Counts> {
  const syncz = await mesh.meshd!.adminJson<{ proxies: ProxySyncStatus[] }>('/debug/syncz');
  const out: Counts = new Map();
  for (const n of names) {
    const w = mesh.get(n);
    const p = syncz.proxies.find((x) => x.proxyId.includes(`~${n}.${w.namespace}~`));
    assert.ok(p, `${n} in syncz`);
    const nonces = Object.fromEntries(Object.entries(p.types).map(([k, v]) => [k, v?.sentNonce]));
    const stats = await w.envoy!.stats('update_success');
    out.set(n, { nonces, lds: stats.get('listener_manager.lds.update_success') ?? -1, cds: stats.get('cluster_manager.cds.update_success') ?? -1 });
  }
  return out;
}

/** Which proxies got a response of some type between two counts, and how many LDS updates each Envoy applied. */
function pushedTo(a: Counts, b: Counts): { proxies: string[]; ldsDelta: Record<string, number>; cdsDelta: Record<string, number> } {
  const proxies: string[] = [];
  const ldsDelta: Record<string, number> = {};
  const cdsDelta: Record<string, number> = {};
  for (const [n, x] of a) {
    const y = b.get(n)!;
    if (Object.keys(y.nonces).some((k) => y.nonces[k] !== x.nonces[k])) proxies.push(n);
    ldsDelta[n] = y.lds - x.lds;
    cdsDelta[n] = y.cds - x.cds;
  }
  return { proxies: proxies.sort(), ldsDelta, cdsDelta };
}

test('a policy change in one namespace pushes only to the proxies it selects', async (t) => {
  const mesh = await MeshFixture.create([
    { name: 'frontend' }, { name: 'backend' },
    { name: 'api', namespace: 'staging' }, { name: 'worker', namespace: 'staging' },
  ]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  await mesh.waitForCall('worker', 'api');
  const names = ['frontend', 'backend', 'api', 'worker'];
  await waitFor('every proxy acked', async () => {
    const s = await mesh.meshd!.adminJson<{ proxies: ProxySyncStatus[] }>('/debug/syncz');
    return s.proxies.length === 4 && s.proxies.every((p) => Object.values(p.types).every((v) => v && !v.awaitingAck));
  }, 20000);
  const quiet = async (): Promise<void> => { await new Promise((r) => setTimeout(r, 1500)); };

  // 1. A policy selecting one workload in staging: only api's proxy gets anything.
  const c0 = await pushCounts(mesh, names);
  mesh.writeConfig('30-staging.yaml', [{
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'api-only-frontend', namespace: 'staging' },
    spec: { selector: { matchLabels: { app: 'api' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/production/sa/frontend'] } }] }] },
  }]);
  await mesh.waitForCall('worker', 'api', 403);
  await quiet();
  const c1 = await pushCounts(mesh, names);
  const p1 = pushedTo(c0, c1);
  t.diagnostic(`selector policy in staging: responses to ${JSON.stringify(p1.proxies)}; Envoy LDS updates ${JSON.stringify(p1.ldsDelta)}, CDS ${JSON.stringify(p1.cdsDelta)}`);
  assert.deepEqual(p1.proxies, ['api']);
  assert.deepEqual(p1.ldsDelta, { frontend: 0, backend: 0, api: 1, worker: 0 });
  assert.deepEqual(p1.cdsDelta, { frontend: 0, backend: 0, api: 0, worker: 0 });

  // 2. A namespace-wide policy in staging: both staging proxies, nothing in production.
  mesh.writeConfig('31-staging-ns.yaml', [{
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'no-debug', namespace: 'staging' },
    spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/debug*'] } }] }] },
  }]);
  await mesh.waitForCall('api', 'worker', 403, { path: '/debug/x' });
  await quiet();
  const c2 = await pushCounts(mesh, names);
  const p2 = pushedTo(c1, c2);
  t.diagnostic(`namespace-wide policy in staging: responses to ${JSON.stringify(p2.proxies)}; Envoy LDS updates ${JSON.stringify(p2.ldsDelta)}`);
  assert.deepEqual(p2.proxies, ['api', 'worker']);
  assert.equal(p2.ldsDelta.frontend, 0);
  assert.equal(p2.ldsDelta.backend, 0);
  assert.equal((await mesh.call('frontend', 'backend')).status, 200);
});

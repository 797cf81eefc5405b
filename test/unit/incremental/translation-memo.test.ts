/**
 * Simulation: for every golden translation case, the memo's result after a workload change
 * (moved, relabelled, re-accounted, removed, added, unmeshed) equals a full translation of
 * the new snapshot, for every proxy; and the memo does reuse where it may.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { deepFreeze } from '../../../src/config/snapshot.js';
import type { MeshSnapshot, ProxyInfo, Workload } from '../../../src/model/types.js';
import { forgetCarriedChunks, translate } from '../../../src/xds/translate/index.js';
import { TranslationMemo } from '../../../src/xds/incremental/translation-memo.js';
import { snapshotDelta } from '../../../src/xds/incremental/snapshot-delta.js';
import { goldenCases } from '../../helpers/golden.js';
import { loadCase } from '../translate/load-case.js';

type Mutation = { readonly name: string; apply(ws: readonly Workload[], i: number): Workload[] };

const order = (a: Workload, b: Workload): number => {
  const x = a.meta.namespace + '\u0000' + a.meta.name;
  const y = b.meta.namespace + '\u0000' + b.meta.name;
  return x < y ? -1 : x > y ? 1 : 0;
};
const edit = (ws: readonly Workload[], i: number, f: (w: Workload) => Workload): Workload[] => ws.map((w, k) => (k === i ? f(w) : w));
const bumpIp = (ip: string): string => ip.replace(/\d+$/, (d) => String((Number(d) % 250) + 2));

const MUTATIONS: readonly Mutation[] = [
  { name: 'moved', apply: (ws, i) => edit(ws, i, (w) => ({ ...w, address: bumpIp(w.address) })) },
  { name: 'relabelled', apply: (ws, i) => edit(ws, i, (w) => ({ ...w, labels: { ...w.labels, extra: 'x' } })) },
  { name: 'unlabelled', apply: (ws, i) => edit(ws, i, (w) => ({ ...w, labels: {} })) },
  { name: 'new service account', apply: (ws, i) => edit(ws, i, (w) => ({ ...w, serviceAccount: `${w.serviceAccount}-2` })) },
  { name: 'unmeshed', apply: (ws, i) => edit(ws, i, (w) => ({ ...w, meshed: !w.meshed })) },
  { name: 'ports changed', apply: (ws, i) => edit(ws, i, (w) => ({ ...w, ports: Object.fromEntries(Object.entries(w.ports).map(([k, v]) => [k, v + 1])) })) },
  { name: 'removed', apply: (ws, i) => ws.filter((_, k) => k !== i) },
  {
    name: 'added',
    apply: (ws, i) => {
      const w = ws[i]!;
      const copy = { ...w, name: `${w.name}-copy`, meta: { ...w.meta, name: `${w.meta.name}-copy` }, address: bumpIp(bumpIp(w.address)) };
      return [...ws, copy].sort(order);
    },
  },
];

const withWorkloads = (s: MeshSnapshot, workloads: Workload[], generation: number): MeshSnapshot => deepFreeze({ ...s, generation, workloads });

// The traffic cases too: route and cluster chunks are carried across workload-only changes (translate/index.ts, dest-clusters.ts).
const cases = [...goldenCases('translate'), ...goldenCases('authz'), ...goldenCases('traffic-xlate'), ...goldenCases('traffic-xlate-routes')];

/** The case's proxies, plus one per workload in each interception mode, an unknown one and a proxyless one. */
function proxiesOf(snapshot: MeshSnapshot, declared: readonly ProxyInfo[]): ProxyInfo[] {
  const base = { labels: {}, proxyless: false } as const;
  const made: ProxyInfo[] = snapshot.workloads.flatMap((w) => (['NONE', 'REDIRECT'] as const).map((mode) => ({
    ...base, id: `sidecar~${w.address}~${w.name}.${w.namespace}~${mode}`, ip: w.address, workloadName: w.name, namespace: w.namespace, interceptionMode: mode,
  })));
  const ns = snapshot.workloads[0]?.namespace ?? 'default';
  made.push({ ...base, id: 'unknown', ip: '10.99.99.99', workloadName: 'nobody', namespace: ns, interceptionMode: 'NONE' });
  made.push({ ...base, id: 'grpc', ip: '', workloadName: '', namespace: ns, interceptionMode: 'NONE', proxyless: true });
  return [...declared, ...made];
}

for (const c of cases) {
  test(`translation memo equals full translation after workload changes: ${c.name}`, async () => {
    const loaded = await loadCase(c.dir);
    const snapshot = loaded.snapshot;
    const proxies = proxiesOf(snapshot, loaded.proxies);
    for (const m of MUTATIONS) {
      for (let i = 0; i < snapshot.workloads.length; i++) {
        const memo = new TranslationMemo();
        const owners = proxies.map(() => ({}));
        proxies.forEach((p, k) => memo.translate(owners[k]!, snapshot, p));
        const next = withWorkloads(snapshot, m.apply(snapshot.workloads, i), 2);
        // Two steps: a change, then its reverse (the memo carries state across both).
        const back = withWorkloads(snapshot, [...snapshot.workloads], 3);
        for (const s of [next, back]) {
          const got = proxies.map((p, k) => memo.translate(owners[k]!, s, p));
          // The oracle: a translation from scratch (nothing carried from earlier snapshots, a new snapshot object).
          forgetCarriedChunks();
          const fresh = deepFreeze({ ...s });
          proxies.forEach((p, k) => {
            const want = translate(fresh, p);
            assert.ok(isDeepStrictEqual(got[k], want), `${c.name}: ${m.name} workload ${snapshot.workloads[i]!.name}, proxy ${p.id}: memo differs from translate`);
          });
        }
      }
    }
  });
}

test('translation memo reuses proxies whose own workload did not change, and interns unchanged resources', async () => {
  const { snapshot, proxies: declared } = await loadCase(cases.find((c) => c.name === 'mtls-modes')!.dir);
  assert.ok(snapshot.workloads.length >= 2);
  // Every workload but the last one runs a proxy; the last one moves.
  const proxies = proxiesOf(snapshot, declared).filter((p) => p.workloadName !== snapshot.workloads.at(-1)!.name && p.id !== 'unknown' && p.id !== 'grpc');
  const memo = new TranslationMemo();
  const owners = proxies.map(() => ({}));
  const before = proxies.map((p, k) => memo.translate(owners[k]!, snapshot, p));
  // Move a workload that no proxy runs as.
  const i = snapshot.workloads.length - 1;
  // To an address no proxy has (a proxy at the new or old address is translated again, as findWorkload may match it).
  const next = withWorkloads(snapshot, edit(snapshot.workloads, i, (w) => ({ ...w, address: '10.254.254.254' })), 2);
  const d = snapshotDelta(snapshot, next);
  assert.equal(d.kind, 'workloads');
  const t0 = memo.stats.translated;
  const after = proxies.map((p, k) => memo.translate(owners[k]!, next, p));
  // Translated again: only the first proxy of each cluster and endpoint variant, which builds
  // them; route chunks (one per namespace × interception mode) are carried, not rebuilt.
  const keyOf = (k: number): string => `${memo.interner.keyOf(before[k]!.clusters[0]!)}\n${memo.interner.keyOf(before[k]!.endpoints[0]!)}`;
  const variants = new Set(proxies.map((_, k) => keyOf(k))).size;
  assert.ok(new Set(proxies.map((p) => `${p.namespace}|${p.interceptionMode}`)).size > variants, 'the case has more route variants than destination variants');
  assert.equal(memo.stats.translated - t0, variants, `one translation per destination variant (${proxies.length} proxies)`);
  assert.equal(memo.stats.reused, proxies.length - variants);
  // Unchanged types keep their chunk objects; endpoints keep every unchanged resource object.
  for (let k = 0; k < proxies.length; k++) {
    assert.equal(after[k]!.listeners, before[k]!.listeners, 'listeners: the same list');
    assert.equal(after[k]!.clusters[0], before[k]!.clusters[0], 'outbound clusters: the same chunk');
    const old = new Set(before[k]!.endpoints.flat());
    const kept = after[k]!.endpoints.flat().filter((r) => old.has(r)).length;
    assert.equal(kept, after[k]!.endpoints.flat().length - 1, 'one ClusterLoadAssignment is new, the others are the old objects');
  }
  // A full change (a new policy or service) translates again.
  const full = deepFreeze({ ...next, generation: 3, services: [...next.services].slice(1) });
  assert.equal(snapshotDelta(next, full).kind, 'full');
  const t1 = memo.stats.translated;
  proxies.forEach((p, k) => memo.translate(owners[k]!, full, p));
  assert.equal(memo.stats.translated - t1, proxies.length);
});

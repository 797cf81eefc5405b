/**
 * What an endpoint change costs with a VirtualService and a DestinationRule (subsets v1/v2) on
 * every service, as the xDS bench's `--traffic` model: one proxy is translated (it builds the
 * shared destination chunks for the others), no route or cluster is rebuilt, only the changed
 * service's ClusterLoadAssignments (base, v1, v2) are built again, only those whose content
 * changed are encoded, and a SotW EDS response carries only those.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelMesh } from '../../../bench/xds-model.js';
import type { ProxyInfo } from '../../../src/model/types.js';
import { TranslationMemo, byTypeUrl } from '../../../src/xds/incremental/translation-memo.js';
import { builtSharedChunk, type ProxyResources } from '../../../src/xds/translate/index.js';
import { ResourceCache } from '../../../src/xds/cache/resource-cache.js';
import { ConsistencyChecker } from '../../../src/xds/cache/consistency.js';
import { planSotw, TypeState } from '../../../src/xds/server/type-state.js';
import { ResourceType, type EnvoyObject, type ResourceTypeUrl } from '../../../src/xds/resource-types.js';
import { outboundClusterName, outboundSubsetClusterName } from '../../../src/xds/names.js';

const SHAPE = { namespaces: 3, servicesPerNamespace: 4, endpointsPerService: 2 };

function proxies(mesh: ModelMesh): ProxyInfo[] {
  const n = SHAPE.namespaces * SHAPE.servicesPerNamespace;
  return Array.from({ length: n }, (_, k) => {
    const s = mesh.sidecar(k);
    return { id: `sidecar~${s.ip}~${s.workload}.${s.namespace}`, ip: s.ip, workloadName: s.workload, namespace: s.namespace, labels: {}, interceptionMode: 'REDIRECT', proxyless: false };
  });
}

const names = (objs: readonly EnvoyObject[]): string[] => objs.map((o) => String(o['cluster_name'] ?? o['name'])).sort();

test('an endpoint change with VS and DR everywhere touches only the changed service\'s load assignments', () => {
  const mesh = new ModelMesh(SHAPE, { traffic: true });
  const infos = proxies(mesh);
  const memo = new TranslationMemo();
  const owners = infos.map(() => ({}));
  const cache = new ResourceCache();
  const checker = new ConsistencyChecker(cache);
  const old = mesh.snapshot;
  const before = infos.map((p, k) => memo.translate(owners[k]!, old, p));
  // Each proxy subscribes to the EDS names of its clusters and gets its first response.
  const eds = before.map((r) => {
    const st = new TypeState(ResourceType.Endpoint);
    st.requested = true;
    st.replaceWith(new Set(names(r.endpoints.flat())), false);
    assert.ok(planSotw(cache, st, r.endpoints));
    assert.deepEqual(checker.check(byTypeUrl(r)), []);
    return st;
  });
  for (const r of before) for (const [t, chunks] of Object.entries(byTypeUrl(r))) for (const c of chunks) cache.chunk(t as ResourceTypeUrl, c);
  const encoded = cache.encodeCount;
  const t0 = memo.stats.translated;

  // Workload svc-3-1 of ns-1 (version v2) moves: the model's first endpoint change.
  const next = mesh.changeOneEndpoint();
  const host = 'svc-3.ns-1.svc.cluster.local';
  const changed = [outboundClusterName(80, host), outboundSubsetClusterName(80, 'v2', host)].sort();
  const touched = [...changed, outboundSubsetClusterName(80, 'v1', host)].sort();
  const after = infos.map((p, k) => memo.translate(owners[k]!, next, p));

  assert.equal(memo.stats.translated - t0, 1, 'one proxy translated (it builds the shared destination chunks); the others reused');
  const key = (r: ProxyResources, l: 'clusters' | 'endpoints' | 'routes'): string => memo.interner.keyOf(r[l][0]!)!;
  for (const l of ['routes', 'clusters', 'endpoints'] as const) {
    // What translation built for the new snapshot, before interning: rebuilt objects show here.
    const keys = new Set(before.map((r) => key(r, l)));
    for (const k of keys) {
      const was = builtSharedChunk(old, k)!;
      const now = builtSharedChunk(next, k);
      assert.ok(now, `${l}: ${k} built or carried for the new snapshot`);
      if (l === 'routes') assert.equal(now, was, `routes: the chunk is carried, not rebuilt (${k})`);
      const fresh = now.filter((o, i) => o !== was[i]);
      // Endpoints: the service's assignments are built again (its endpoints changed); interning keeps v1's object.
      assert.deepEqual(names(fresh), l === 'endpoints' ? touched : [], `${l}: only the changed service's resources are new objects (${k})`);
    }
  }
  for (let k = 0; k < infos.length; k++) {
    assert.equal(after[k]!.listeners, before[k]!.listeners, 'listeners: the same list');
    assert.equal(after[k]!.clusters, before[k]!.clusters, 'clusters: the same list');
    assert.equal(after[k]!.routes, before[k]!.routes, 'routes: the same list');
    assert.deepEqual(checker.check(byTypeUrl(after[k]!)), []);
  }
  for (const r of after) for (const [t, chunks] of Object.entries(byTypeUrl(r))) for (const c of chunks) cache.chunk(t as ResourceTypeUrl, c);
  assert.equal(cache.encodeCount - encoded, changed.length, 'only the changed load assignments are encoded');
  // SotW EDS: every proxy gets the two changed assignments and nothing else (Envoy keeps the rest).
  after.forEach((r, k) => {
    const plan = planSotw(cache, eds[k]!, r.endpoints);
    assert.ok(plan, 'an EDS response is due');
    assert.equal(plan.count, changed.length);
    const want = new Set(r.endpoints.flat().filter((o) => changed.includes(String(o['cluster_name']))).map((o) => cache.encode(ResourceType.Endpoint, o).sotwField));
    assert.equal(want.size, changed.length);
    assert.ok(plan.resources.every((b) => want.has(b)), 'the changed assignments');
  });
});

/**
 * translate(snapshot, proxy) → the proxy's Envoy resources. Pure: no I/O, no clock. Chunks that
 * do not depend on the proxy are built once per snapshot (WeakMap) and shared by identity.
 */
import type { Diagnostic, MeshSnapshot, ProxyInfo, Workload } from '../../model/types.js';
import type { EnvoyObject } from '../resource-types.js';
import { outboundRouteName } from '../names.js';
import type { ProxyResources, ResourceChunk, TranslateOptions } from './types.js';
import { chunk, freeze, type SecretSource } from './common.js';
import { explicitInboundListeners, inboundCluster, inboundPorts, virtualInboundListener } from './inbound.js';
import { loadAssignment, meshPorts, proxylessCluster, specialClusters } from './outbound-clusters.js';
import { destClusters, destEndpoints, forgetServiceClusters, destEndpointsKey, destScope, localityView, type DestScope } from './dest-clusters.js';
import type { LocalityView } from './locality-lb.js';
import { forgetCarriedEndpoints } from './host-endpoints.js';
import { outboundPolicy } from './registry.js';
import { serviceEntryListeners } from './service-entries.js';
import { withOutboundPolicy } from './outbound-policy.js';
import { scopeListeners } from './listener-scope.js';
import { explicitOutboundListeners, transparentOutboundListeners } from './outbound-listeners.js';
import { outboundHttpRoutes, outboundRoutesKey, type RouteInputs } from './http-routes.js';
import { withL4Routes } from './tcp-routes.js';
import { routeHosts } from './route-hosts.js';
import { proxylessDiagnostics, proxylessListeners, proxylessRoutes } from './proxyless.js';
import { outboundHcmTelemetry, withListenerTelemetry, type HcmTelemetry } from './telemetry.js';
import { resolveScope } from './scoping.js';
import { withOnDemandCatchAll, withOnDemandFilters } from './on-demand.js';
import { differsOnlyInWorkloads } from '../incremental/snapshot-delta.js';

export type { ProxyResources, ResourceChunk, TranslateOptions } from './types.js';

const DEFAULT_CONNECT_TIMEOUT = '10s';

/** Per-snapshot memo of the shared chunks, keyed further by what they depend on. */
interface Shared {
  readonly byKey: Map<string, ResourceChunk>;
}
const memo = new WeakMap<MeshSnapshot, Shared>();

function shared(snapshot: MeshSnapshot, key: string, build: () => EnvoyObject[]): ResourceChunk {
  let s = memo.get(snapshot);
  if (!s) { s = { byKey: new Map() }; memo.set(snapshot, s); }
  let c = s.byKey.get(key);
  if (!c) { c = chunk(build()); s.byKey.set(key, c); sharedKeys.set(c, key); }
  return c;
}

/** Makes `c` (built for an earlier snapshot, still right for this one) the shared chunk for `key`. */
function adopt(snapshot: MeshSnapshot, key: string, c: ResourceChunk): void {
  let s = memo.get(snapshot);
  if (!s) { s = { byKey: new Map() }; memo.set(snapshot, s); }
  s.byKey.set(key, c);
}

/** The key a chunk was shared under (undefined: built for one proxy), for src/xds/incremental. */
const sharedKeys = new WeakMap<ResourceChunk, string>();
export const sharedChunkKey = (c: ResourceChunk): string | undefined => sharedKeys.get(c);
/** The shared chunk already built for `key` from `snapshot`, if any proxy's translation built it. */
export const builtSharedChunk = (snapshot: MeshSnapshot, key: string): ResourceChunk | undefined => memo.get(snapshot)?.byKey.get(key);

/** Outbound clusters of the hosts a proxy sees, with DestinationRule subsets and policies (shared per destination scope). */
function outboundClusters(snapshot: MeshSnapshot, ds: DestScope, src: SecretSource, timeout: string, diagnostics: Diagnostic[]): ResourceChunk {
  const built = destClusters(snapshot, ds, src, timeout);
  diagnostics.push(...built.diagnostics);
  return shared(snapshot, `clusters|${src}|${timeout}|${ds.key}`, () => [...built.resources]);
}

/** Endpoints of those clusters (shared per destination scope, and per caller locality where it matters). */
function outboundEndpoints(snapshot: MeshSnapshot, ds: DestScope, view: LocalityView): ResourceChunk {
  return shared(snapshot, destEndpointsKey(ds, view), () => [...destEndpoints(snapshot, ds, view).resources]);
}

function endpoints(snapshot: MeshSnapshot): ResourceChunk {
  return shared(snapshot, 'endpoints', () =>
    snapshot.services.flatMap((svc) => meshPorts(svc).map((sp) => loadAssignment(snapshot, svc, sp))));
}

/** Diagnostics met while building a shared route chunk, reported to every proxy that gets it. */
const routeDiagnostics = new WeakMap<ResourceChunk, readonly Diagnostic[]>();

/**
 * The last route chunk built per route key, with its snapshot (bounded). Routes read the
 * snapshot's services, route sets, DestinationRules, ServiceEntries, Sidecars and mesh config
 * but never its workloads, so a snapshot that differs from that one only in workloads (an
 * endpoint change: most pushes) takes the chunk as it is instead of rebuilding every
 * namespace's route table (with a VirtualService on every service that was most of an
 * endpoint push). The simulation test in test/unit/incremental/translation-memo.test.ts
 * checks the rule against full translation.
 */
const lastRoutes = new Map<string, { readonly snapshot: MeshSnapshot; readonly chunk: ResourceChunk }>();
const MAX_ROUTE_KEYS = 10_000;
/**
 * Drops everything carried across snapshots (routes here, Service clusters and load assignments
 * in dest-clusters.ts, endpoints in host-endpoints.ts),
 * so the next translation of a new snapshot object builds from scratch: the oracle the
 * simulation tests compare the carried chunks with.
 */
export function forgetCarriedChunks(): void {
  lastRoutes.clear();
  forgetServiceClusters();
  forgetCarriedEndpoints();
}

/**
 * The route chunk last built under `key`, made `snapshot`'s when its snapshot differs from this
 * one only in workloads (the rule `routes` relies on); undefined otherwise. For
 * src/xds/incremental: a proxy reused across an endpoint change takes its route chunk from
 * here instead of being translated again only to carry it (one translation per namespace).
 */
export function carriedSharedChunk(snapshot: MeshSnapshot, key: string): ResourceChunk | undefined {
  const last = lastRoutes.get(key);
  if (!last || last.snapshot === snapshot || !differsOnlyInWorkloads(last.snapshot, snapshot)) return undefined;
  adopt(snapshot, key, last.chunk);
  lastRoutes.set(key, { snapshot, chunk: last.chunk });
  return last.chunk;
}

/** Outbound route configurations, shared by proxies with equal route inputs (http-routes.ts). */
function routes(snapshot: MeshSnapshot, inputs: RouteInputs, diagnostics: Diagnostic[]): ResourceChunk {
  let found: readonly Diagnostic[] = [];
  const key = outboundRoutesKey(snapshot, inputs);
  const last = lastRoutes.get(key);
  if (last && last.snapshot !== snapshot && !builtSharedChunk(snapshot, key) && differsOnlyInWorkloads(last.snapshot, snapshot)) adopt(snapshot, key, last.chunk);
  const c = shared(snapshot, key, () => {
    const r = outboundHttpRoutes(snapshot, inputs);
    found = r.diagnostics;
    return r.resources;
  });
  if (lastRoutes.get(key)?.snapshot !== snapshot) {
    if (lastRoutes.size >= MAX_ROUTE_KEYS && !lastRoutes.has(key)) lastRoutes.clear();
    lastRoutes.set(key, { snapshot, chunk: c });
  }
  if (!routeDiagnostics.has(c)) routeDiagnostics.set(c, found);
  diagnostics.push(...routeDiagnostics.get(c)!);
  return c;
}

/**
 * A scoped proxy's route chunk with on-demand discovery (on-demand.ts): one configuration per
 * HTTP port of its full translation, the scoped virtual hosts plus the on-demand catch-all.
 * Shared by proxies with equal scoped and full route inputs.
 */
function onDemandRoutes(snapshot: MeshSnapshot, scopedChunk: ResourceChunk, scopedKey: string, full: RouteInputs): ResourceChunk {
  const fullChunk = routes(snapshot, full, []); // its diagnostics are about hosts out of scope
  return shared(snapshot, `od|${scopedKey}|${outboundRoutesKey(snapshot, full)}`, () => {
    const byName = new Map(scopedChunk.map((r) => [String(r.name), r]));
    return fullChunk.map((f) => withOnDemandCatchAll(byName.get(String(f.name)), f));
  });
}

/** Resource names of chunks (memoized by the first, shared, chunk and keyed by the rest's names). */
const nameSets = new WeakMap<ResourceChunk, Map<string, ReadonlySet<string>>>();
function nameSet(first: ResourceChunk, ...rest: ResourceChunk[]): ReadonlySet<string> {
  let m = nameSets.get(first);
  if (!m) { m = new Map(); nameSets.set(first, m); }
  const key = rest.map((c) => c.map((x) => String(x.name)).join(',')).join(';');
  let s = m.get(key);
  if (!s) { s = new Set([first, ...rest].flatMap((c) => c.map((x) => String(x.name ?? x.cluster_name)))); m.set(key, s); }
  return s;
}

interface WorkloadIndex { readonly byName: ReadonlyMap<string, Workload>; readonly byAddress: ReadonlyMap<string, Workload> }
/** Per-snapshot index of workloads: found for every proxy on every push, so never a scan. */
const workloadIndexes = new WeakMap<MeshSnapshot, WorkloadIndex>();

function workloadIndex(snapshot: MeshSnapshot): WorkloadIndex {
  let idx = workloadIndexes.get(snapshot);
  if (!idx) {
    const byName = new Map<string, Workload>();
    const byAddress = new Map<string, Workload>();
    // First in snapshot order wins, as a scan would.
    for (const w of snapshot.workloads) {
      const n = `${w.namespace}/${w.name}`;
      const a = `${w.namespace}/${w.address}`;
      if (!byName.has(n)) byName.set(n, w);
      if (!byAddress.has(a)) byAddress.set(a, w);
    }
    idx = { byName, byAddress };
    workloadIndexes.set(snapshot, idx);
  }
  return idx;
}

/** The workload a proxy runs for: by namespace and name, else by IP within its namespace. */
export function findWorkload(snapshot: MeshSnapshot, proxy: ProxyInfo): Workload | undefined {
  const idx = workloadIndex(snapshot);
  return idx.byName.get(`${proxy.namespace}/${proxy.workloadName}`) ?? idx.byAddress.get(`${proxy.namespace}/${proxy.ip}`);
}

function translateProxyless(snapshot: MeshSnapshot): ProxyResources {
  return freeze({
    clusters: [shared(snapshot, 'proxyless|clusters', () => snapshot.services.flatMap((svc) => meshPorts(svc).map((sp) => proxylessCluster(svc, sp))))],
    endpoints: [endpoints(snapshot)],
    listeners: [shared(snapshot, 'proxyless|listeners', () => proxylessListeners(snapshot))],
    routes: [shared(snapshot, 'proxyless|routes', () => proxylessRoutes(snapshot))],
    diagnostics: [...proxylessDiagnostics(snapshot)],
  });
}

/**
 * Everything one proxy should get. An unknown proxy (no matching workload) gets outbound
 * config only. Outputs are frozen; shared chunks are identical objects across proxies.
 */
export function translate(snapshot: MeshSnapshot, proxy: ProxyInfo, options: TranslateOptions = {}): ProxyResources {
  if (proxy.proxyless) return translateProxyless(snapshot);
  const src: SecretSource = proxy.secretSource ?? 'ads';
  const timeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  const diagnostics: Diagnostic[] = [];
  const w = findWorkload(snapshot, proxy);
  const ports = w ? inboundPorts(snapshot, w, diagnostics) : [];
  const listeners: EnvoyObject[] = [];
  // Learned scoping (scoping.ts): the observed scope is a synthetic Sidecar over the registry.
  const ds = options.scope ? destScope(snapshot, proxy, resolveScope(snapshot, proxy, options.scope).scope) : destScope(snapshot, proxy);
  if (proxy.interceptionMode === 'REDIRECT') {
    listeners.push(...transparentOutboundListeners(snapshot, diagnostics).map((l) => withOutboundPolicy(l, ds.scope.outboundTrafficPolicy)));
    listeners.push(...serviceEntryListeners(ds.scope.hosts, 'REDIRECT', '', new Set(listeners.map((l) => String(l.name))), diagnostics, ds.scope.outboundTrafficPolicy));
    if (w && ports.length) listeners.push(virtualInboundListener(snapshot, w, ports, src, diagnostics));
  } else {
    const inbound = w ? explicitInboundListeners(snapshot, w, ports, src, diagnostics) : [];
    const taken = new Set(inbound.map((l) => String(l.name)));
    for (const l of explicitOutboundListeners(snapshot, w?.outboundAddress ?? '127.0.0.1', diagnostics)) {
      if (taken.has(String(l.name))) {
        diagnostics.push({ severity: 'warning', source: 'translate', kind: 'WorkloadEntry', namespace: w!.namespace, name: w!.name, field: 'metadata.annotations', message: `outbound listener ${String(l.name)} collides with an inbound listener; set meshd.dev/outbound-address to another address` });
        continue;
      }
      listeners.push(l);
    }
    const outboundNames = new Set([...listeners.map((l) => String(l.name)), ...taken]);
    listeners.push(...serviceEntryListeners(ds.scope.hosts, 'NONE', w?.outboundAddress ?? '127.0.0.1', outboundNames, diagnostics));
    listeners.push(...inbound);
  }
  const routeInputs: RouteInputs = { proxy, mode: proxy.interceptionMode, labels: w?.labels ?? proxy.labels, dest: ds };
  const onDemand = options.scope?.onDemand === true;
  const scopedRoutes = routes(snapshot, routeInputs, diagnostics);
  const routeChunk = onDemand
    ? onDemandRoutes(snapshot, scopedRoutes, outboundRoutesKey(snapshot, routeInputs), { ...routeInputs, dest: destScope(snapshot, proxy) })
    : scopedRoutes;
  const clusterChunks = [
    outboundClusters(snapshot, ds, src, timeout, diagnostics),
    shared(snapshot, `special|${timeout}`, () => specialClusters(timeout)),
    chunk(ports.map((p) => inboundCluster(w, p.port))),
  ];
  // Outbound listeners follow the visible hosts (what the cluster and route chunks hold).
  const emitted = nameSet(clusterChunks[0]!, clusterChunks[1]!, clusterChunks[2]!);
  const scoped = scopeListeners(listeners, emitted, nameSet(routeChunk),
    proxy.interceptionMode, w?.outboundAddress ?? '127.0.0.1', diagnostics);
  let client: HcmTelemetry | undefined;
  const outbound = (): HcmTelemetry => (client ??= outboundHcmTelemetry(snapshot, w, proxy.namespace, diagnostics));
  const l4 = { namespace: proxy.namespace, labels: w?.labels ?? proxy.labels, hosts: routeHosts(ds.scope.hosts) };
  const observed = scoped.map((l) => {
    const routed = withL4Routes(snapshot, l, l4, diagnostics);
    return withListenerTelemetry(snapshot, w, proxy.namespace, onDemand ? withOnDemandFilters(routed, proxy.namespace, snapshot) : routed, diagnostics, outbound);
  });
  return freeze({
    clusters: clusterChunks,
    // On demand, a cluster Envoy discovers (ODCDS answers from the full scope) needs its endpoints over EDS.
    endpoints: [outboundEndpoints(snapshot, onDemand ? destScope(snapshot, proxy) : ds, localityView(w, proxy))],
    listeners: [chunk(observed)],
    routes: [routeChunk],
    diagnostics,
  });
}

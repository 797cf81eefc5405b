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
import { loadAssignment, meshPorts, proxylessCluster, sidecarCluster, specialClusters } from './outbound-clusters.js';
import { explicitOutboundListeners, transparentOutboundListeners } from './outbound-listeners.js';
import { outboundRouteConfig, portsByNumber } from './outbound-routes.js';
import { proxylessListeners, proxylessRoutes } from './proxyless.js';
import { outboundHcmTelemetry, withListenerTelemetry, type HcmTelemetry } from './telemetry.js';
import { scopedOutbound } from './scoped-outbound.js';

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

/** The key a chunk was shared under (undefined: built for one proxy), for src/xds/incremental. */
const sharedKeys = new WeakMap<ResourceChunk, string>();
export const sharedChunkKey = (c: ResourceChunk): string | undefined => sharedKeys.get(c);
/** The shared chunk already built for `key` from `snapshot`, if any proxy's translation built it. */
export const builtSharedChunk = (snapshot: MeshSnapshot, key: string): ResourceChunk | undefined => memo.get(snapshot)?.byKey.get(key);

/** Outbound sidecar clusters for every service port (shared per snapshot, secret source and timeout). */
function outboundClusters(snapshot: MeshSnapshot, src: SecretSource, timeout: string): ResourceChunk {
  return shared(snapshot, `clusters|${src}|${timeout}`, () =>
    snapshot.services.flatMap((svc) => meshPorts(svc).map((sp) => sidecarCluster(snapshot, svc, sp, src, timeout))));
}

function endpoints(snapshot: MeshSnapshot): ResourceChunk {
  return shared(snapshot, 'endpoints', () =>
    snapshot.services.flatMap((svc) => meshPorts(svc).map((sp) => loadAssignment(snapshot, svc, sp))));
}

function routes(snapshot: MeshSnapshot, proxy: ProxyInfo): ResourceChunk {
  return shared(snapshot, `routes|${proxy.namespace}|${proxy.interceptionMode}`, () =>
    [...portsByNumber(snapshot, true)].map(([port, list]) => outboundRouteConfig(port, list, proxy.namespace, proxy.interceptionMode)));
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
    diagnostics: [],
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
  if (proxy.interceptionMode === 'REDIRECT') {
    listeners.push(...transparentOutboundListeners(snapshot, diagnostics));
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
    listeners.push(...inbound);
  }
  // Learned scoping (scoping.ts): outbound clusters, routes and listeners for the scope only.
  const scoped = options.scope ? scopedOutbound(snapshot, proxy, options.scope, listeners, diagnostics, { shared, src, timeout }) : undefined;
  let client: HcmTelemetry | undefined;
  const outbound = (): HcmTelemetry => (client ??= outboundHcmTelemetry(snapshot, w, proxy.namespace, diagnostics));
  const observed = (scoped?.listeners ?? listeners).map((l) => withListenerTelemetry(snapshot, w, proxy.namespace, l, diagnostics, outbound));
  const routeChunk = scoped?.routes ?? routes(snapshot, proxy);
  return freeze({
    clusters: [
      scoped?.clusters ?? outboundClusters(snapshot, src, timeout),
      shared(snapshot, `special|${timeout}`, () => specialClusters(timeout)),
      chunk(ports.map((p) => inboundCluster(w, p.port))),
    ],
    endpoints: [endpoints(snapshot)],
    listeners: [chunk(observed)],
    routes: [routeChunk],
    diagnostics,
  });
}

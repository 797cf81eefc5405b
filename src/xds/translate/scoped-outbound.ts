/**
 * The outbound part of a scoped proxy's translation: clusters and route virtual hosts for the
 * visible Services only (scoping.ts), listeners for the ports still needed. With on-demand
 * discovery every HTTP port keeps its listener and route configuration (a call outside the
 * scope is resolved by the catch-all virtual host and ODCDS, on-demand.ts); without it, ports
 * with no visible service lose them. TCP listeners whose cluster is out of scope are dropped
 * (TCP is not discovered on demand). Chunks are shared per (snapshot, scope key).
 */
import type { Diagnostic, MeshSnapshot, ProxyInfo } from '../../model/types.js';
import type { EnvoyObject } from '../resource-types.js';
import { Filter } from '../resource-types.js';
import type { ResourceChunk } from './types.js';
import type { SecretSource } from './common.js';
import { meshPorts, sidecarCluster } from './outbound-clusters.js';
import { outboundRouteConfig, portsByNumber } from './outbound-routes.js';
import { withOnDemandCatchAll, withOnDemandFilters } from './on-demand.js';
import { resolveScope, scopedView, type ScopeDecision } from './scoping.js';

/** What translate hands over: its per-snapshot chunk memo and the cluster knobs. */
export interface ScopedDeps {
  readonly shared: (snapshot: MeshSnapshot, key: string, build: () => EnvoyObject[]) => ResourceChunk;
  readonly src: SecretSource;
  readonly timeout: string;
}

/** A scoped proxy's outbound clusters, routes and listeners. */
export interface ScopedOutbound {
  readonly clusters: ResourceChunk;
  readonly routes: ResourceChunk;
  readonly listeners: readonly EnvoyObject[];
}

type Rec = { readonly [k: string]: unknown };
const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Rec : {});
const arr = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

/** The tcp_proxy cluster of a listener's chains, and whether it has an HCM on `outbound_<port>`. */
function listenerUse(l: EnvoyObject): { tcpClusters: string[]; httpPort?: number } {
  const tcpClusters: string[] = [];
  let httpPort: number | undefined;
  for (const chain of arr(l.filter_chains)) {
    for (const f of arr(rec(chain).filters)) {
      const cfg = rec(rec(f).typed_config);
      if (rec(f).name === Filter.TcpProxy && typeof cfg.cluster === 'string') tcpClusters.push(cfg.cluster);
      const m = /^outbound_(\d+)$/.exec(String(cfg.stat_prefix ?? ''));
      if (rec(f).name === Filter.HttpConnectionManager && m) httpPort = Number(m[1]);
    }
  }
  return { tcpClusters, ...(httpPort !== undefined ? { httpPort } : {}) };
}

/**
 * Scopes the outbound config of `proxy`: `listeners` are the ones built from the whole
 * snapshot (not mutated); the result's chunks hold only what the scope admits.
 */
export function scopedOutbound(snapshot: MeshSnapshot, proxy: ProxyInfo, decision: ScopeDecision, listeners: readonly EnvoyObject[], _diagnostics: Diagnostic[], deps: ScopedDeps): ScopedOutbound {
  const r = resolveScope(snapshot, proxy, decision);
  const view = scopedView(snapshot, r);
  const key = `scope:${r.key}`;
  const clusters = deps.shared(snapshot, `${key}|clusters|${deps.src}|${deps.timeout}`, () =>
    view.services.flatMap((svc) => meshPorts(svc).map((sp) => sidecarCluster(snapshot, svc, sp, deps.src, deps.timeout))));
  const visible = new Set(clusters.map((c) => String(c.name)));
  const scopedPorts = portsByNumber(view, true);
  const fullPorts = portsByNumber(snapshot, true);
  const httpPorts = decision.onDemand ? [...fullPorts.keys()] : [...scopedPorts.keys()];
  const routes = deps.shared(snapshot, `${key}|routes|${proxy.namespace}|${proxy.interceptionMode}`, () => httpPorts.map((port) => {
    const rc = outboundRouteConfig(port, scopedPorts.get(port) ?? [], proxy.namespace, proxy.interceptionMode);
    if (!decision.onDemand) return rc;
    const all = fullPorts.get(port) ?? [];
    return withOnDemandCatchAll(rc, port, proxy.interceptionMode, all.length === 1 ? all[0]!.svc.hostname : undefined);
  }));
  const keepPorts = new Set(httpPorts);
  const out: EnvoyObject[] = [];
  for (const l of listeners) {
    if (l.traffic_direction !== 'OUTBOUND') { out.push(l); continue; }
    const use = listenerUse(l);
    if (use.httpPort !== undefined && !keepPorts.has(use.httpPort)) continue;
    if (use.httpPort === undefined && use.tcpClusters.some((c) => c.startsWith('outbound|') && !visible.has(c))) continue;
    out.push(decision.onDemand ? withOnDemandFilters(l, proxy.namespace, snapshot) : l);
  }
  return { clusters, routes, listeners: out };
}

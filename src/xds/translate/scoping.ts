/**
 * Learned scoping as translation input. A proxy under observed scoping sees the hosts of its
 * own namespace plus the hosts its workload was seen calling within a window (meshd computes
 * that list from telemetry, outside translation). The list is expressed as a synthetic
 * Sidecar `egress.hosts` over the host registry (registry.ts): `<own ns>/*` plus one
 * `<ns>/<host>` per dependency, intersected with the proxy's declared Sidecar and exportTo.
 * So declared and learned scoping are one mechanism, and translation stays pure: the scope is
 * data passed in, memoized per snapshot and content key, so proxies with equal scopes share
 * their chunks. translate() hands the resolved Scope to destScope (dest-clusters.ts), so a
 * scoped proxy gets the same DestinationRule subsets and policies, VirtualService routes and
 * ServiceEntries as a declared Sidecar with those hosts would give it.
 */
import { createHash } from 'node:crypto';
import type { MeshSnapshot, ProxyInfo } from '../../model/types.js';
import type { SidecarScope } from '../../model/traffic.js';
import { allHosts, egressAdmits, providerHosts, proxyScope, type RegistryHost, type Scope } from './registry.js';
import { cmp } from './common.js';

/** One dependency kept in a learned scope: a host the workload called, and why it is kept. */
export interface KeptDependency {
  readonly hostname: string;
  readonly namespace: string;
  /**
   * `observed`: seen in access logs within the window; `on-demand`: the proxy asked for it by
   * ODCDS within the window; `pinned`: the proxy's on-demand stream holds it (Envoy never lets
   * go of a cluster it asked for on demand and does not ask again for one taken away, so it
   * stays while that stream lives).
   */
  readonly source: 'observed' | 'on-demand' | 'pinned';
  /** Epoch ms of the last call seen (data from telemetry; translation never reads the clock). */
  readonly lastSeen: number;
  /** Epoch ms after which it leaves the scope unless called again (pinned: while the on-demand stream lives). */
  readonly expiresAt?: number;
}

/** What meshd decided for one proxy: the input translation takes (`TranslateOptions.scope`). */
export interface ScopeDecision {
  readonly mode: 'observed';
  /** Why this proxy is scoped: the flag or the namespace label. */
  readonly reason: string;
  /** Dependencies outside the proxy's own namespace, sorted by hostname. */
  readonly kept: readonly KeptDependency[];
  /** Whether out-of-scope calls are resolved by on-demand cluster discovery (ODCDS). */
  readonly onDemand: boolean;
}

/** A decision turned into a registry scope (the visible hosts) for one snapshot. */
export interface ResolvedScope {
  readonly decision: ScopeDecision;
  readonly scope: Scope;
  /** Content key of the visible set: proxies with equal keys share chunks. */
  readonly key: string;
}

/** The synthetic Sidecar of a decision: `<ns>/*` plus one `<ns>/<host>` entry per kept dependency. */
export function syntheticSidecar(namespace: string, decision: ScopeDecision): SidecarScope {
  return {
    meta: { name: 'meshd-observed-scope', namespace, labels: {}, annotations: {}, source: 'meshd' },
    egress: [{ hosts: [{ namespace, host: '*' }, ...decision.kept.map((d) => ({ namespace: d.namespace, host: d.hostname }))] }],
  };
}

/** The content key of a decision for a namespace (not its timestamps: expiry alone does not change config). */
export function decisionKey(namespace: string, decision: ScopeDecision): string {
  const h = createHash('sha256');
  h.update(`${namespace}|${decision.onDemand ? 'od' : '-'}\n`);
  for (const d of decision.kept) h.update(`${d.namespace}/${d.hostname}\n`);
  return h.digest('hex').slice(0, 16);
}

const resolved = new WeakMap<MeshSnapshot, Map<string, ResolvedScope>>();

/**
 * The visible hosts of a scoped proxy: its registry scope (exportTo, declared Sidecar)
 * intersected with the synthetic Sidecar of `decision`. Memoized per snapshot, proxy scope and
 * decision content; the result must not be mutated.
 */
export function resolveScope(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>, decision: ScopeDecision): ResolvedScope {
  const base = proxyScope(snapshot, proxy);
  const memoKey = `${base.key}|${base.namespace}|${decisionKey(proxy.namespace, decision)}`;
  let m = resolved.get(snapshot);
  if (!m) { m = new Map(); resolved.set(snapshot, m); }
  const hit = m.get(memoKey);
  if (hit && hit.decision === decision) return hit;
  const synthetic = syntheticSidecar(proxy.namespace, decision);
  // The mesh config's providers (ext_authz, tracing, access-log collectors) stay in every learned
  // scope: Envoy reaches them by cluster name, never on demand, and no access log shows them.
  const providers = providerHosts(snapshot);
  const hosts: RegistryHost[] = base.hosts.filter((h) => egressAdmits(synthetic, h) || providers.has(h.hostname));
  const h = createHash('sha256');
  for (const x of hosts) h.update(`${x.namespace}/${x.hostname}\n`);
  // The visible set only (not onDemand): equal host sets share cluster chunks either way.
  const key = `obs-${h.digest('hex').slice(0, 16)}`;
  const scope: Scope = Object.freeze({ ...base, hosts: Object.freeze(hosts), key });
  const r: ResolvedScope = Object.freeze({ decision, scope, key });
  m.set(memoKey, r);
  return r;
}

/** The debug view of a scope: mode, reason, kept dependencies and the visible host count. */
export interface ScopeReport {
  readonly mode: 'full' | 'observed';
  readonly reason: string;
  readonly namespace: string;
  readonly onDemand: boolean;
  readonly visibleHosts: number;
  readonly meshHosts: number;
  readonly kept: readonly KeptDependency[];
}

/** What `/debug/config_dump` and `/debug/scoping` say about a proxy's scope. */
export function scopeReport(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>, decision: ScopeDecision | undefined, why = 'scoping is off (meshd --scoping full, no meshd.dev/scoping label)'): ScopeReport {
  const mesh = allHosts(snapshot).length;
  if (!decision) {
    return { mode: 'full', reason: why, namespace: proxy.namespace, onDemand: false, visibleHosts: proxyScope(snapshot, proxy).hosts.length, meshHosts: mesh, kept: [] };
  }
  const r = resolveScope(snapshot, proxy, decision);
  return { mode: 'observed', reason: decision.reason, namespace: proxy.namespace, onDemand: decision.onDemand, visibleHosts: r.scope.hosts.length, meshHosts: mesh, kept: [...decision.kept].sort((a, b) => cmp(a.hostname, b.hostname)) };
}

/**
 * Which DestinationRule applies to a host for a proxy, and the traffic policy it gives one
 * port (and subset). Pure; the index is memoized per snapshot.
 *
 * Lookup, as Istio's: the proxy's own namespace first, then the host's namespace, then the
 * root namespace; in each, only rules exported to the proxy's namespace. Within a namespace a
 * rule whose `workloadSelector` matches the proxy (own namespace only) beats one without; an
 * exact host beats a wildcard, a longer wildcard beats a shorter one; then the oldest
 * (creationTimestamp, then name). Rules with a selector that does not match are skipped.
 *
 * Merge (`portPolicy`): the top-level policy, then the top-level `portLevelSettings` for the
 * port, then the subset's policy, then the subset's `portLevelSettings` for the port; each
 * later level replaces a field (loadBalancer, connectionPool, outlierDetection, tls) as a whole.
 */
import type { Labels, MeshSnapshot } from '../../model/types.js';
import type { DestinationRule, PortTrafficPolicy, Subset, TrafficPolicy } from '../../model/traffic.js';
import { cmp } from './common.js';
import { exportedTo, hostMatches } from './registry.js';

/** A namespace's rules, oldest first, split so a host's candidates are found without a scan. */
interface NamespaceRules {
  /** Every rule, oldest first. */
  readonly all: readonly DestinationRule[];
  /** Rules by exact `host` (a wildcard host too: it matches itself), each list oldest first. */
  readonly byHost: ReadonlyMap<string, readonly DestinationRule[]>;
  /** Rules whose host is a pattern (`*`, `*.suffix`), oldest first. */
  readonly patterns: readonly DestinationRule[];
  /** Position of each rule in `all` (ties in rank go to the older). */
  readonly order: ReadonlyMap<DestinationRule, number>;
}
interface DrIndex {
  readonly byNamespace: ReadonlyMap<string, NamespaceRules>;
}
const indexes = new WeakMap<MeshSnapshot, DrIndex>();

function index(snapshot: MeshSnapshot): DrIndex {
  let idx = indexes.get(snapshot);
  if (!idx) {
    const m = new Map<string, DestinationRule[]>();
    for (const dr of snapshot.destinationRules) {
      const l = m.get(dr.meta.namespace) ?? [];
      l.push(dr);
      m.set(dr.meta.namespace, l);
    }
    const byNamespace = new Map<string, NamespaceRules>();
    for (const [ns, l] of m) {
      l.sort((a, b) => cmp(a.meta.creationTimestamp ?? '', b.meta.creationTimestamp ?? '') || cmp(a.meta.name, b.meta.name));
      const byHost = new Map<string, DestinationRule[]>();
      const patterns: DestinationRule[] = [];
      const order = new Map<DestinationRule, number>();
      l.forEach((dr, i) => {
        order.set(dr, i);
        const h = byHost.get(dr.host);
        if (h) h.push(dr); else byHost.set(dr.host, [dr]);
        if (dr.host === '*' || dr.host.startsWith('*.')) patterns.push(dr);
      });
      byNamespace.set(ns, { all: l, byHost, patterns, order });
    }
    idx = { byNamespace };
    indexes.set(snapshot, idx);
  }
  return idx;
}

function selectorMatches(sel: Labels, labels: Labels): boolean {
  const keys = Object.keys(sel);
  return keys.length > 0 && keys.every((k) => labels[k] === sel[k]);
}

/** Rank of a rule for a host: higher is more specific (selector, then exact, then longer wildcard). */
function rank(dr: DestinationRule, hostname: string): number {
  const exact = dr.host === hostname ? 1 : 0;
  return (dr.workloadSelector ? 1_000_000 : 0) + exact * 100_000 + dr.host.length;
}

/**
 * The best rule of one namespace for `hostname`: the highest rank, the older on a tie (as a
 * scan of `all` keeping the first maximum). Only rules that can match are looked at: those
 * whose host equals `hostname` and the patterns (a plain host matches only itself).
 */
function bestIn(rules: NamespaceRules | undefined, hostname: string, proxyNs: string, labels: Labels | undefined): DestinationRule | undefined {
  if (!rules) return undefined;
  let best: DestinationRule | undefined;
  let bestRank = -1;
  let bestOrder = 0;
  const consider = (dr: DestinationRule): void => {
    if (!exportedTo(dr.exportTo, proxyNs) && dr.meta.namespace !== proxyNs) return;
    if (dr.workloadSelector && (!labels || !selectorMatches(dr.workloadSelector, labels))) return;
    if (!hostMatches(dr.host, hostname)) return;
    const r = rank(dr, hostname);
    const o = rules.order.get(dr)!;
    if (!best || r > bestRank || (r === bestRank && o < bestOrder)) { best = dr; bestRank = r; bestOrder = o; }
  };
  for (const dr of rules.byHost.get(hostname) ?? []) consider(dr);
  for (const dr of rules.patterns) if (dr.host !== hostname) consider(dr);
  return best;
}

/**
 * The DestinationRule for `hostname` (defined in `hostNamespace`) as seen by a proxy of
 * `proxyNamespace` with `labels`, or undefined. See the module comment for the order.
 */
export function destinationRuleFor(snapshot: MeshSnapshot, proxyNamespace: string, labels: Labels, hostname: string, hostNamespace: string): DestinationRule | undefined {
  if (snapshot.destinationRules.length === 0) return undefined;
  const idx = index(snapshot);
  return bestIn(idx.byNamespace.get(proxyNamespace), hostname, proxyNamespace, labels)
    ?? (hostNamespace !== proxyNamespace ? bestIn(idx.byNamespace.get(hostNamespace), hostname, proxyNamespace, undefined) : undefined)
    ?? (snapshot.config.rootNamespace !== proxyNamespace && snapshot.config.rootNamespace !== hostNamespace
      ? bestIn(idx.byNamespace.get(snapshot.config.rootNamespace), hostname, proxyNamespace, undefined) : undefined);
}

/** Whether any rule of `proxyNamespace` has a workloadSelector matching `labels` (then the proxy's labels matter). */
export function selectorRulesFor(snapshot: MeshSnapshot, proxyNamespace: string, labels: Labels): readonly DestinationRule[] {
  if (snapshot.destinationRules.length === 0) return [];
  return (index(snapshot).byNamespace.get(proxyNamespace)?.all ?? []).filter((dr) => dr.workloadSelector && selectorMatches(dr.workloadSelector, labels));
}

function overlay(base: PortTrafficPolicy, top: PortTrafficPolicy | undefined): PortTrafficPolicy {
  if (!top) return base;
  return {
    ...(top.loadBalancer ?? base.loadBalancer ? { loadBalancer: top.loadBalancer ?? base.loadBalancer } : {}),
    ...(top.connectionPool ?? base.connectionPool ? { connectionPool: top.connectionPool ?? base.connectionPool } : {}),
    ...(top.outlierDetection ?? base.outlierDetection ? { outlierDetection: top.outlierDetection ?? base.outlierDetection } : {}),
    ...(top.tls ?? base.tls ? { tls: top.tls ?? base.tls } : {}),
  };
}

function atPort(p: TrafficPolicy | undefined, port: number): PortTrafficPolicy | undefined {
  return p?.portLevelSettings.find((s) => s.port === port)?.policy;
}

/** The policy of one port (and optionally one subset) of a rule, merged as the module comment says. */
export function portPolicy(dr: DestinationRule | undefined, port: number, subset?: Subset): PortTrafficPolicy {
  if (!dr) return NO_POLICY;
  // Memoized per rule (model objects are frozen): translation asks for each cluster, endpoint
  // assignment and route hash, and the same merged object lets cluster-policy share its pieces.
  const si = subset ? dr.subsets.indexOf(subset) : -1;
  if (subset && si < 0) return Object.freeze(mergePortPolicy(dr, port, subset)); // not one of the rule's own subsets
  // Per rule: port number → merged policy by subset position + 1 (number keys, no key strings).
  let m = policyMemo.get(dr);
  if (!m) { m = new Map(); policyMemo.set(dr, m); }
  let row = m.get(port);
  if (!row) { row = new Array<PortTrafficPolicy | undefined>(dr.subsets.length + 1); m.set(port, row); }
  let p = row[si + 1];
  if (!p) { p = Object.freeze(mergePortPolicy(dr, port, subset)); row[si + 1] = p; }
  return p;
}

const NO_POLICY: PortTrafficPolicy = Object.freeze({});
const policyMemo = new WeakMap<DestinationRule, Map<number, (PortTrafficPolicy | undefined)[]>>();

function mergePortPolicy(dr: DestinationRule, port: number, subset: Subset | undefined): PortTrafficPolicy {
  let p = overlay({}, dr.trafficPolicy);
  p = overlay(p, atPort(dr.trafficPolicy, port));
  if (subset?.trafficPolicy) {
    p = overlay(p, subset.trafficPolicy);
    p = overlay(p, atPort(subset.trafficPolicy, port));
  }
  return p;
}

/** Where a merged field came from, for diagnostics: the field path of the innermost level that set it. */
export function policyField(dr: DestinationRule, port: number, subset: Subset | undefined, field: keyof PortTrafficPolicy): string {
  const si = subset ? dr.subsets.indexOf(subset) : -1;
  if (subset?.trafficPolicy) {
    const pi = subset.trafficPolicy.portLevelSettings.findIndex((s) => s.port === port);
    if (pi >= 0 && subset.trafficPolicy.portLevelSettings[pi]!.policy[field]) return `spec.subsets[${si}].trafficPolicy.portLevelSettings[${pi}].${field}`;
    if (subset.trafficPolicy[field]) return `spec.subsets[${si}].trafficPolicy.${field}`;
  }
  const pi = dr.trafficPolicy?.portLevelSettings.findIndex((s) => s.port === port) ?? -1;
  if (pi >= 0 && dr.trafficPolicy!.portLevelSettings[pi]!.policy[field]) return `spec.trafficPolicy.portLevelSettings[${pi}].${field}`;
  return `spec.trafficPolicy.${field}`;
}

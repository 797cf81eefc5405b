/**
 * Outbound HTTP route configurations with the mesh's route sets (VirtualService, HTTPRoute,
 * GRPCRoute) applied: one RouteConfiguration per HTTP port, one virtual host per host on that
 * port, its routes from the route set that wins the host (or the default route).
 *
 * Rules, as Istio's:
 * - A route set is seen by a proxy when its exportTo holds `*` or the proxy's namespace.
 * - A host takes the route sets that name it exactly; only when none does, those whose
 *   wildcard covers it. Among several, the oldest `creationTimestamp` wins, then
 *   namespace/name; every loser gets a diagnostic.
 * - A match restricted to another port, source namespace or source labels is left out for
 *   that port or proxy; a rule whose every match is left out is left out. Requests that match
 *   no route of a route set get Envoy's 404 (no catch-all is added), as Istio.
 * - `delegate` is not supported: the rule is left out, with a diagnostic.
 *
 * The result depends on the proxy only through its namespace, interception mode and which
 * `sourceLabels` selectors its labels satisfy, and its destination scope (visible hosts,
 * outbound traffic policy, DestinationRules for hash policies): `outboundRoutesKey` is that,
 * so proxies with equal inputs share one chunk. REGISTRY_ONLY: the `*` vhost answers 502, as
 * Istio's BlackHoleCluster route does.
 */
import type { Diagnostic, InterceptionMode, Labels, MeshSnapshot, ProxyInfo } from '../../model/types.js';
import type { DestinationRule, HttpRule, RouteSet } from '../../model/traffic.js';
import { formatDiagnostic } from '../../model/types.js';
import type { EnvoyObject } from '../resource-types.js';
import { PASSTHROUGH_CLUSTER, apiListenerName, outboundClusterName, outboundRouteName } from '../names.js';
import { cmp, diag, freeze } from './common.js';
import { routeHosts, type HostIndex, type RouteHost } from './route-hosts.js';
import { exportedTo, hostMatches } from './registry.js';
import type { DestScope } from './dest-clusters.js';
import { portPolicy } from './destination-rules.js';
import { hashPolicyFor } from './cluster-policy.js';
import { labelsMatch, matchApplies, routeMatch, type MatchContext } from './route-match.js';
import { DEFAULT_RETRY_POLICY, routeAction, type ActionContext } from './route-actions.js';
import { serviceDomains } from './outbound-routes.js';

/** What the outbound routes of a proxy depend on. */
export interface RouteInputs {
  /** The proxy (its namespace; its labels pick Sidecars and DestinationRules, as on the destination side). */
  readonly proxy: Pick<ProxyInfo, 'namespace' | 'labels'>;
  readonly mode: InterceptionMode;
  /** The proxy's workload labels (for `sourceLabels`). */
  readonly labels: Labels;
  /** What the proxy sees (hosts, Sidecar, outbound policy) and which DestinationRules apply. */
  readonly dest: DestScope;
}

/** Metadata key on generated routes naming the route set and rule they came from. */
export const ROUTE_ORIGIN_KEY = 'meshd.dev/route';

/** Per-snapshot facts that every proxy's routes need. */
interface SnapshotRoutes {
  /** Distinct `sourceLabels` selectors in any HTTP match, as sorted JSON. */
  readonly selectors: readonly string[];
}
const perSnapshot = new WeakMap<MeshSnapshot, SnapshotRoutes>();

function snapshotRoutes(snapshot: MeshSnapshot): SnapshotRoutes {
  let s = perSnapshot.get(snapshot);
  if (s) return s;
  const sel = new Set<string>();
  for (const rs of snapshot.routeSets) {
    for (const r of rs.http) for (const m of r.matches) if (m.sourceLabels) sel.add(labelsKey(m.sourceLabels));
  }
  s = { selectors: [...sel].sort() };
  perSnapshot.set(snapshot, s);
  return s;
}

function labelsKey(l: Labels): string {
  return JSON.stringify(Object.keys(l).sort().map((k) => [k, l[k]]));
}

/** The shared-chunk key for a proxy's outbound routes: equal keys, equal routes. */
export function outboundRoutesKey(snapshot: MeshSnapshot, inputs: RouteInputs): string {
  const bits = snapshotRoutes(snapshot).selectors.map((s) => (labelsMatch(Object.fromEntries(JSON.parse(s) as [string, string][]), inputs.labels) ? '1' : '0')).join('');
  return `routes|${inputs.proxy.namespace}|${inputs.mode}|${inputs.dest.scope.outboundTrafficPolicy}|${inputs.dest.key}|${bits}`;
}

/** Oldest creationTimestamp first (absent: newest), then namespace/name. */
export function routeSetOrder(a: RouteSet, b: RouteSet): number {
  const ta = a.meta.creationTimestamp ?? '\uffff';
  const tb = b.meta.creationTimestamp ?? '\uffff';
  return cmp(ta, tb) || cmp(a.meta.namespace, b.meta.namespace) || cmp(a.meta.name, b.meta.name);
}

/** Per snapshot: the route sets with HTTP rules, oldest first (sorted once), and the visible ones by namespace. */
const httpSetsMemo = new WeakMap<MeshSnapshot, { readonly sorted: readonly RouteSet[]; readonly byNamespace: Map<string, readonly RouteSet[]> }>();

/** Route sets visible from `namespace`, with HTTP rules, oldest first. Memoized per snapshot; must not be mutated. */
function visibleHttpSets(snapshot: MeshSnapshot, namespace: string): readonly RouteSet[] {
  let m = httpSetsMemo.get(snapshot);
  if (!m) {
    m = { sorted: snapshot.routeSets.filter((rs) => rs.http.length > 0).sort(routeSetOrder), byNamespace: new Map() };
    httpSetsMemo.set(snapshot, m);
  }
  let v = m.byNamespace.get(namespace);
  if (!v) { v = m.sorted.filter((rs) => exportedTo(rs.exportTo, namespace)); m.byNamespace.set(namespace, v); }
  return v;
}

/** The winning route set for each host, and a diagnostic for every loser. */
function winners(sets: readonly RouteSet[], hosts: HostIndex, diagnostics: Diagnostic[]): Map<string, RouteSet> {
  const out = new Map<string, RouteSet>();
  const exact = new Map<string, RouteSet[]>();
  const wild: RouteSet[] = [];
  for (const rs of sets) {
    let covers = false;
    for (const h of rs.hosts) {
      if (h.includes('*')) { if (!wild.includes(rs)) wild.push(rs); if (!covers && [...hosts.keys()].some((k) => hostMatches(h, k))) covers = true; continue; }
      if (hosts.has(h)) { covers = true; exact.set(h, [...(exact.get(h) ?? []), rs]); }
    }
    if (!covers && rs.hosts.length) diagnostics.push(diag(rs.origin, rs.meta.namespace, rs.meta.name, 'spec.hosts', `no host (${rs.hosts.join(', ')}) is a Service or ServiceEntry in the registry; the routes apply to nothing`));
  }
  const lose = (host: string, win: RouteSet, l: readonly RouteSet[]): void => {
    for (const rs of l) diagnostics.push(diag(rs.origin, rs.meta.namespace, rs.meta.name, 'spec.hosts', `host ${host} is also routed by ${win.origin} ${win.meta.namespace}/${win.meta.name}, which wins (older, then by namespace/name); this one is ignored for it`));
  };
  for (const [host, list] of exact) { out.set(host, list[0]!); lose(host, list[0]!, list.slice(1)); }
  for (const host of hosts.keys()) {
    if (out.has(host)) continue;
    const list = wild.filter((rs) => rs.hosts.some((h) => h.includes('*') && hostMatches(h, host)));
    if (list.length) { out.set(host, list[0]!); lose(host, list[0]!, list.slice(1)); }
  }
  return out;
}

/** The route meshd gives a host without a route set: its own cluster, no timeout, the default retries. */
export function defaultRoute(cluster: string, hash?: readonly EnvoyObject[] | undefined): EnvoyObject {
  return { name: 'default', match: { prefix: '/' }, route: { cluster, timeout: '0s', retry_policy: retriesFor(DEFAULT_RETRY_POLICY, hash), ...(hash?.length ? { hash_policy: hash } : {}) } };
}

/** With consistent hashing, retries stay on the hashed host (no previous-hosts predicate), as Istio. */
function retriesFor(policy: EnvoyObject, hash: readonly EnvoyObject[] | undefined): EnvoyObject {
  if (!hash?.length) return policy;
  const { retry_host_predicate: _drop, ...rest } = policy;
  void _drop;
  return rest;
}

/**
 * The block-all route of REGISTRY_ONLY: a direct 502, what Istio's users see (Envoy would
 * answer 503, no healthy upstream, for the empty BlackHoleCluster).
 */
const BLOCK_ALL: EnvoyObject = { name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } };

/**
 * A route's origin metadata (which route set, rule and match it came from), deep-frozen and
 * memoized per model rule (frozen, and the same object while its route set is unchanged): every
 * proxy scope that routes the host repeats it.
 */
const originMemo = new WeakMap<HttpRule, { readonly rs: RouteSet; readonly index: number; readonly byMatch: EnvoyObject[] }>();
function originMetadata(rs: RouteSet, rule: HttpRule, index: number, j: number): EnvoyObject {
  let m = originMemo.get(rule);
  if (!m || m.rs !== rs || m.index !== index) { m = { rs, index, byMatch: [] }; originMemo.set(rule, m); }
  let md = m.byMatch[j + 1];
  if (!md) {
    const origin: Record<string, unknown> = { kind: rs.origin, namespace: rs.meta.namespace, name: rs.meta.name, rule: index };
    if (j >= 0) origin.match = j;
    md = freeze({ filter_metadata: { [ROUTE_ORIGIN_KEY]: origin } });
    m.byMatch[j + 1] = md;
  }
  return md;
}

function ruleRoutes(out: EnvoyObject[], rs: RouteSet, index: number, rule: HttpRule, mctx: MatchContext, actx: ActionContext): void {
  if (rule.action.kind === 'delegate') return;
  // Built by index loops and assignment: this runs for every rule of every visible host.
  let applying: number[] | undefined;
  if (rule.matches.length) {
    applying = [];
    for (let j = 0; j < rule.matches.length; j++) if (matchApplies(rule.matches[j]!, mctx)) applying.push(j);
    if (!applying.length) return;
  }
  const action = routeAction(rule, actx);
  const name = rule.name ?? `${rs.meta.namespace}/${rs.meta.name}.http[${index}]`;
  const route = (j: number): EnvoyObject => {
    const r: Record<string, unknown> = { name, match: routeMatch(j >= 0 ? rule.matches[j] : undefined) };
    for (const k in action) r[k] = action[k];
    r.metadata = originMetadata(rs, rule, index, j);
    return r;
  };
  if (!applying) out.push(route(-1));
  else for (const j of applying) out.push(route(j));
}

/** The routes of one host on one port from its route set (empty: the set says nothing for this port). */
type HashLookup = (host: string, port: number, subset?: string) => readonly EnvoyObject[] | undefined;

/**
 * The route hash policy (DestinationRule consistentHash) for a host/port/subset, from the
 * rules the destination scope already chose (the same answer as dest-clusters' routeHashPolicy,
 * without looking the rule up again); memoized for one build.
 */
function hashLookup(dest: DestScope): HashLookup {
  const rules = new Map<string, DestinationRule>();
  for (const e of dest.entries) if (e.rule && !rules.has(e.host.hostname)) rules.set(e.host.hostname, e.rule);
  const m = new Map<string, readonly EnvoyObject[] | undefined>();
  return (host, port, subset) => {
    const rule = rules.get(host);
    if (!rule) return undefined;
    const k = `${port}|${subset ?? ''}|${host}`;
    if (m.has(k)) return m.get(k);
    const s = subset === undefined ? undefined : rule.subsets.find((x) => x.name === subset);
    const key = portPolicy(rule, port, s).loadBalancer?.consistentHash?.key;
    const v = key ? hashPolicyFor(key) : undefined;
    m.set(k, v);
    return v;
  };
}

/** `spec.http[i]` (the common ones built once: every rule of every visible host asks). */
const HTTP_FIELDS = Array.from({ length: 32 }, (_, i) => `spec.http[${i}]`);
const httpField = (i: number): string => HTTP_FIELDS[i] ?? `spec.http[${i}]`;

function setRoutes(hashPolicy: HashLookup, rs: RouteSet, port: number, inputs: RouteInputs, hosts: HostIndex, diagnostics: Diagnostic[]): EnvoyObject[] {
  const out: EnvoyObject[] = [];
  if (rs.ports && !rs.ports.includes(port)) return out;
  const mctx: MatchContext = { port, namespace: inputs.proxy.namespace, labels: inputs.labels };
  for (let i = 0; i < rs.http.length; i++) {
    ruleRoutes(out, rs, i, rs.http[i]!, mctx, { port, hosts, set: rs, field: httpField(i), diagnostics, hashPolicy });
  }
  return out;
}

/** A Service's caller-facing names (serviceDomains); a ServiceEntry host and its IP addresses, with and without `:port`. */
function domainsOf(h: RouteHost, port: number, namespace: string): string[] {
  const r = h.registry;
  if (r.service) return serviceDomains(r.service, port, namespace);
  const out: string[] = [];
  for (const d of [h.hostname, ...r.addresses.filter((a) => !a.includes('/'))]) out.push(d, `${d}:${port}`);
  return out;
}

/**
 * Every outbound HTTP route configuration for a proxy with these inputs, and the problems
 * met (deduplicated). A domain claimed by two hosts goes to the first by name. Explicit mode:
 * when exactly one host uses a port, a `*` vhost routes as it does (an app calling
 * 127.0.0.1:port without a Host). Transparent mode: `*` goes to PassthroughCluster.
 */
export function outboundHttpRoutes(snapshot: MeshSnapshot, inputs: RouteInputs): { resources: EnvoyObject[]; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const hosts = routeHosts(inputs.dest.scope.hosts);
  const sets = visibleHttpSets(snapshot, inputs.proxy.namespace);
  const won = winners(sets, hosts, diagnostics);
  for (const rs of sets) {
    rs.http.forEach((r, i) => {
      if (r.action.kind === 'delegate') diagnostics.push(diag(rs.origin, rs.meta.namespace, rs.meta.name, `spec.http[${i}].delegate`, 'delegate is not supported by meshd; the rule is left out (put the delegate\'s routes in this VirtualService)'));
    });
  }
  const hashPolicy = hashLookup(inputs.dest);
  const byPort = new Map<number, RouteHost[]>();
  for (const h of hosts.values()) {
    for (const p of h.httpPorts) {
      const l = byPort.get(p);
      if (l) l.push(h); else byPort.set(p, [h]);
    }
  }
  const resources: EnvoyObject[] = [];
  for (const port of [...byPort.keys()].sort((a, b) => a - b)) {
    const list = byPort.get(port)!.sort((a, b) => cmp(a.name, b.name) || cmp(a.namespace, b.namespace));
    const used = new Set<string>();
    const vhosts: EnvoyObject[] = [];
    let only: EnvoyObject[] | undefined;
    for (const h of list) {
      const rs = won.get(h.hostname);
      const fromSet = rs ? setRoutes(hashPolicy, rs, port, inputs, hosts, diagnostics) : [];
      const routes = fromSet.length ? fromSet : [defaultRoute(outboundClusterName(port, h.hostname), hashPolicy(h.hostname, port))];
      if (list.length === 1) only = routes;
      const domains: string[] = [];
      for (const d of domainsOf(h, port, inputs.proxy.namespace)) if (!used.has(d)) { used.add(d); domains.push(d); }
      if (domains.length) vhosts.push({ name: apiListenerName(h.hostname, port), domains, routes });
    }
    if (inputs.dest.scope.outboundTrafficPolicy === 'REGISTRY_ONLY') vhosts.push({ name: 'block_all', domains: ['*'], routes: [BLOCK_ALL] });
    else if (inputs.mode === 'REDIRECT') vhosts.push({ name: 'allow_any', domains: ['*'], routes: [defaultRoute(PASSTHROUGH_CLUSTER)] });
    else if (only) vhosts.push({ name: 'default', domains: ['*'], routes: only });
    resources.push({ name: outboundRouteName(port), virtual_hosts: vhosts, validate_clusters: false });
  }
  const seen = new Set<string>();
  const unique = diagnostics.filter((d) => { const k = formatDiagnostic(d); if (seen.has(k)) return false; seen.add(k); return true; });
  return { resources, diagnostics: unique };
}

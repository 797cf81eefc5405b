/**
 * The destination side of a proxy's outbound config: one cluster per visible host port
 * (`outbound|<port>||<host>`) and one per DestinationRule subset
 * (`outbound|<port>|<subset>|<host>`), with the rule's merged policy, and the
 * ClusterLoadAssignments of those that use EDS (subset endpoints filtered by the subset's
 * labels; grouped by locality when the policy asks).
 *
 * Sharing: what a proxy gets depends only on its DestScope (visible hosts and the rule chosen
 * for each) and, for endpoints under locality load balancing, on its locality. Both are
 * reduced to string keys, so proxies with equal keys share one chunk (1,000 proxies without a
 * Sidecar or DestinationRule share one cluster chunk and one endpoint chunk).
 */
import { createHash } from 'node:crypto';
import type { Diagnostic, MeshSnapshot, ProxyInfo, Workload } from '../../model/types.js';
import type { DestinationRule, PortTrafficPolicy, Subset } from '../../model/traffic.js';
import { isHttpProtocol } from '../../config/protocol.js';
import type { EnvoyObject } from '../resource-types.js';
import { outboundClusterName, outboundSubsetClusterName } from '../names.js';
import { selects } from './common.js';
import { applyClusterPolicy, hashPolicyFor } from './cluster-policy.js';
import { destinationRuleFor, portPolicy, selectorRulesFor } from './destination-rules.js';
import { hostEndpoints, type HostEndpoint } from './host-endpoints.js';
import { localityGroups, localityMode, localityModeKey, type LocalityView } from './locality-lb.js';
import { serviceSans, sidecarCluster } from './outbound-clusters.js';
import { lookupHost, proxyScope, registryDiagnostics, type RegistryHost, type RegistryPort, type Scope } from './registry.js';
import { dnsAssignment, serviceEntryCluster, serviceEntrySans, tlsModeMetadata } from './service-entries.js';

/** A visible host and the DestinationRule that applies to it for this scope (if any). */
export interface DestEntry {
  readonly host: RegistryHost;
  readonly rule?: DestinationRule;
}

/** Everything the destination side depends on for a group of proxies. */
export interface DestScope {
  readonly scope: Scope;
  readonly entries: readonly DestEntry[];
  /** Shared-chunk key: visible hosts plus chosen rules. */
  readonly key: string;
  /** Whether some chosen rule may group endpoints by locality (then endpoints depend on the caller's locality). */
  readonly localityAware: boolean;
}

const scopeMemo = new WeakMap<MeshSnapshot, Map<string, DestScope>>();

function ruleId(dr: DestinationRule): string {
  return `${dr.meta.namespace}/${dr.meta.name}`;
}

function mayUseLocality(dr: DestinationRule): boolean {
  const at = (x: PortTrafficPolicy): boolean => x.outlierDetection !== undefined || x.loadBalancer?.localityLbSetting !== undefined;
  const level = (p: DestinationRule['trafficPolicy']): boolean => p !== undefined && (at(p) || p.portLevelSettings.some((s) => at(s.policy)));
  return level(dr.trafficPolicy) || dr.subsets.some((s) => level(s.trafficPolicy));
}

/**
 * The destination scope of a proxy (memoized per snapshot, namespace, Sidecar, visible set and
 * matching selector rules). `scope` defaults to the proxy's registry scope; learned scoping
 * (scoping.ts) passes a narrower one (a synthetic Sidecar over it).
 */
export function destScope(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>, scope: Scope = proxyScope(snapshot, proxy)): DestScope {
  const selRules = selectorRulesFor(snapshot, proxy.namespace, proxy.labels);
  const sidecar = scope.sidecar ? `${scope.sidecar.meta.namespace}/${scope.sidecar.meta.name}` : '-';
  const memoKey = `${proxy.namespace}|${sidecar}|${scope.key}|${selRules.map(ruleId).join(',')}`;
  let m = scopeMemo.get(snapshot);
  if (!m) { m = new Map(); scopeMemo.set(snapshot, m); }
  let ds = m.get(memoKey);
  if (ds) return ds;
  const entries: DestEntry[] = [];
  // One string hashed once (the digest of sequential updates is the digest of their concatenation).
  let hashed = '';
  let any = false;
  let localityAware = false;
  for (const host of scope.hosts) {
    const rule = destinationRuleFor(snapshot, proxy.namespace, proxy.labels, host.hostname, host.namespace);
    entries.push(rule ? { host, rule } : { host });
    if (rule) {
      any = true;
      hashed += `${host.namespace}/${host.hostname}=${ruleId(rule)}\n`;
      if (mayUseLocality(rule)) localityAware = true;
    }
  }
  ds = Object.freeze({ scope, entries, key: `${scope.key}|${any ? createHash('sha256').update(hashed).digest('hex').slice(0, 16) : '-'}`, localityAware });
  m.set(memoKey, ds);
  return ds;
}

// ---- clusters --------------------------------------------------------------------------------

interface Built { readonly resources: EnvoyObject[]; readonly diagnostics: readonly Diagnostic[] }
const builtMemo = new WeakMap<MeshSnapshot, Map<string, Built>>();

function memoized(snapshot: MeshSnapshot, key: string, build: () => Built): Built {
  let m = builtMemo.get(snapshot);
  if (!m) { m = new Map(); builtMemo.set(snapshot, m); }
  let b = m.get(key);
  if (!b) { b = build(); m.set(key, b); }
  return b;
}

const NO_ENDPOINTS: readonly HostEndpoint[] = Object.freeze([]);

function subsetEndpoints(eps: readonly HostEndpoint[], s: Subset | undefined): readonly HostEndpoint[] {
  return s ? eps.filter((e) => selects(s.labels, e.labels)) : eps;
}

function sansOf(snapshot: MeshSnapshot, host: RegistryHost, eps: readonly HostEndpoint[]): string[] {
  return host.service ? serviceSans(snapshot, host.service) : serviceEntrySans(snapshot, host, eps);
}

function baseCluster(snapshot: MeshSnapshot, host: RegistryHost, p: RegistryPort, eps: readonly HostEndpoint[], src: Parameters<typeof sidecarCluster>[3], timeout: string, diagnostics: Diagnostic[]): EnvoyObject | undefined {
  if (host.service) {
    const sp = host.service.ports.find((x) => x.port === p.port)!;
    return sidecarCluster(snapshot, host.service, sp, src, timeout);
  }
  return serviceEntryCluster(host, p, eps, src, timeout, sansOf(snapshot, host, eps), diagnostics);
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

function withPolicy(snapshot: MeshSnapshot, base: EnvoyObject, name: string, e: DestEntry, p: RegistryPort, subset: Subset | undefined, eps: readonly HostEndpoint[], src: Parameters<typeof sidecarCluster>[3], diagnostics: Diagnostic[]): EnvoyObject {
  const policy = portPolicy(e.rule, p.port, subset);
  const plain = !e.rule || isEmpty(policy);
  let c: EnvoyObject;
  if (subset && base.load_assignment) {
    // DNS clusters carry their endpoints inline: the subset keeps the ones its labels select.
    c = { ...base, name, load_assignment: dnsAssignment(name, e.host, p, subsetEndpoints(eps, subset)) ?? { cluster_name: name } };
  } else if (plain) {
    c = { ...base, name };
  } else {
    // applyClusterPolicy copies: the name is set on that copy (in base's first key) instead of copying twice.
    c = base;
  }
  if (plain) return c;
  c = applyClusterPolicy(c, policy, {
    hostname: e.host.hostname, http: isHttpProtocol(p.protocol), src, sans: sansOf(snapshot, e.host, eps),
    rule: e.rule, port: p.port, ...(subset ? { subset } : {}), diagnostics,
  });
  if (c.name !== name) (c as Record<string, unknown>).name = name;
  if (policy.loadBalancer?.localityLbSetting?.distribute.length) {
    c = { ...c, common_lb_config: { ...(c.common_lb_config as EnvoyObject | undefined), locality_weighted_lb_config: {} } };
  }
  return c;
}

/**
 * A Service's clusters (base and subsets, every port) by what they are made of: the Service and
 * DestinationRule objects (by identity), the secret source, the connect timeout, the trust
 * domain and the SANs of the workloads behind it. Nothing else of the snapshot goes into them
 * (EDS clusters carry no endpoints), so an endpoint change, which builds a new snapshot, keeps
 * every other Service's cluster objects: no rebuild and, in the memo's interning, no deep
 * comparison (a DestinationRule on every service tripled that work).
 */
let serviceClusterMemo = new WeakMap<object, { readonly key: string; readonly rule: DestinationRule | undefined; readonly built: Built }[]>();

/** Drops the Service clusters and load assignments kept across snapshots (tests: translation from scratch, the oracle for the carried chunks). */
export function forgetServiceClusters(): void {
  serviceClusterMemo = new WeakMap();
  assignmentMemo = new WeakMap();
}

/** The registry ports as a key (JSON.stringify's information, without its cost per Service): number, name, protocol, target. */
function portsKey(ports: readonly RegistryPort[]): string {
  let k = '';
  for (const p of ports) k += `${p.port}/${p.name.length}:${p.name}/${p.protocol}/${typeof p.targetPort === 'number' ? '#' : '$'}${p.targetPort};`;
  return k;
}

function serviceClusters(snapshot: MeshSnapshot, e: DestEntry, src: Parameters<typeof sidecarCluster>[3], timeout: string, build: () => Built): Built {
  const svc = e.host.service!;
  const key = `${src}|${timeout}|${snapshot.config.trustDomain}|${serviceSans(snapshot, svc).join(',')}|${portsKey(e.host.ports)}`;
  // A short list per Service (usually one entry: one secret source and timeout), not a Map each.
  let l = serviceClusterMemo.get(svc);
  if (!l) serviceClusterMemo.set(svc, (l = []));
  const i = l.findIndex((x) => x.key === key);
  if (i >= 0 && l[i]!.rule === e.rule) return l[i]!.built;
  const built = build();
  if (i >= 0) l.splice(i, 1);
  else if (l.length >= 16) l.length = 0;
  l.push({ key, rule: e.rule, built });
  return built;
}

function entryClusters(snapshot: MeshSnapshot, e: DestEntry, src: Parameters<typeof sidecarCluster>[3], timeout: string): Built {
  const diagnostics: Diagnostic[] = [];
  const out: EnvoyObject[] = [];
  for (const p of e.host.ports) {
    // A Service's clusters use EDS and its SANs: its endpoints are not read here (the endpoint side builds them).
    const eps = e.host.service ? NO_ENDPOINTS : hostEndpoints(snapshot, e.host, p);
    const base = baseCluster(snapshot, e.host, p, eps, src, timeout, diagnostics);
    if (!base) continue;
    out.push(withPolicy(snapshot, base, outboundClusterName(p.port, e.host.hostname), e, p, undefined, eps, src, diagnostics));
    for (const s of e.rule?.subsets ?? []) {
      out.push(withPolicy(snapshot, base, outboundSubsetClusterName(p.port, s.name, e.host.hostname), e, p, s, eps, src, diagnostics));
    }
  }
  return { resources: out, diagnostics };
}

/** Cluster resources of a destination scope (base and subset clusters), with the diagnostics met. Memoized. */
export function destClusters(snapshot: MeshSnapshot, ds: DestScope, src: Parameters<typeof sidecarCluster>[3], timeout: string): Built {
  return memoized(snapshot, `clusters|${src}|${timeout}|${ds.key}`, () => {
    const diagnostics: Diagnostic[] = [...registryDiagnostics(snapshot)];
    const out: EnvoyObject[] = [];
    for (const e of ds.entries) {
      // A Service's clusters are carried across snapshots; a ServiceEntry's (DNS endpoints inline) are built each time.
      const b = e.host.service ? serviceClusters(snapshot, e, src, timeout, () => entryClusters(snapshot, e, src, timeout)) : entryClusters(snapshot, e, src, timeout);
      out.push(...b.resources);
      diagnostics.push(...b.diagnostics);
    }
    return { resources: out, diagnostics: dedupe(diagnostics) };
  });
}

function dedupe(ds: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = JSON.stringify(d);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---- endpoints -------------------------------------------------------------------------------

/** The caller's locality and labels (from its workload), for locality load balancing. */
export function localityView(w: Workload | undefined, proxy: Pick<ProxyInfo, 'labels'>): LocalityView {
  return { ...(w?.locality ? { locality: w.locality } : {}), labels: w?.labels ?? proxy.labels };
}

function usesEds(host: RegistryHost, policy: PortTrafficPolicy): boolean {
  return (host.resolution === 'EDS' || host.resolution === 'STATIC') && policy.loadBalancer?.simple !== 'PASSTHROUGH';
}

function assignment(name: string, eps: readonly HostEndpoint[], policy: PortTrafficPolicy, view: LocalityView | undefined): EnvoyObject {
  const groups = localityGroups(eps, localityMode(policy, view), view, tlsModeMetadata);
  const a: Record<string, unknown> = { cluster_name: name };
  if (groups.length) a.endpoints = groups;
  return a;
}

/**
 * Load assignments by what they are made of: the host port's endpoints (an array carried
 * across snapshots while its workloads are the same objects, host-endpoints.ts), the rule (by
 * identity), the cluster name and the caller's locality grouping. So an endpoint change builds
 * the assignments of the changed service's clusters (base and subsets) and keeps every other
 * object, which the memo's interning and the resource cache then take without a comparison.
 */
const NO_RULE = {};
let assignmentMemo = new WeakMap<readonly HostEndpoint[], WeakMap<object, Map<string, EnvoyObject>>>();

function keptAssignment(name: string, eps: readonly HostEndpoint[], e: DestEntry, s: Subset | undefined, policy: PortTrafficPolicy, view: LocalityView | undefined): EnvoyObject {
  let byRule = assignmentMemo.get(eps);
  if (!byRule) assignmentMemo.set(eps, (byRule = new WeakMap()));
  let m = byRule.get(e.rule ?? NO_RULE);
  if (!m) byRule.set(e.rule ?? NO_RULE, (m = new Map()));
  const key = view ? `${name}|${localityModeKey(localityMode(policy, view), view)}` : name;
  let a = m.get(key);
  if (!a) {
    a = assignment(name, subsetEndpoints(eps, s), policy, view);
    if (m.size >= 64) m.clear();
    m.set(key, a);
  }
  return a;
}

const endpointKeys = new WeakMap<DestScope, Map<string, string>>();

/** The shared-chunk key of a proxy's endpoints: the scope's, plus the caller's locality when it matters. */
export function destEndpointsKey(ds: DestScope, view: LocalityView): string {
  if (!ds.localityAware) return `endpoints|${ds.key}`;
  // Memoized per scope and caller view: every proxy asks on every push.
  const sig = JSON.stringify([view.locality ?? null, Object.entries(view.labels).sort()]);
  let m = endpointKeys.get(ds);
  if (!m) { m = new Map(); endpointKeys.set(ds, m); }
  let k = m.get(sig);
  if (k === undefined) { k = computeEndpointsKey(ds, view); m.set(sig, k); }
  return k;
}

function computeEndpointsKey(ds: DestScope, view: LocalityView): string {
  const keys = new Set<string>();
  for (const e of ds.entries) {
    if (!e.rule) continue;
    for (const p of e.host.ports) {
      for (const s of [undefined, ...e.rule.subsets]) keys.add(localityModeKey(localityMode(portPolicy(e.rule, p.port, s), view), view));
    }
  }
  return `endpoints|${ds.key}|${[...keys].sort().join(';')}`;
}

/** ClusterLoadAssignments for every EDS cluster of a destination scope, for a caller `view`. Memoized by key. */
export function destEndpoints(snapshot: MeshSnapshot, ds: DestScope, view: LocalityView): Built {
  const key = destEndpointsKey(ds, view);
  return memoized(snapshot, key, () => {
    const out: EnvoyObject[] = [];
    const v = ds.localityAware ? view : undefined;
    for (const e of ds.entries) {
      const subsets = e.rule?.subsets ?? [];
      for (const p of e.host.ports) {
        const eps = hostEndpoints(snapshot, e.host, p);
        const base = portPolicy(e.rule, p.port, undefined);
        if (usesEds(e.host, base)) out.push(keptAssignment(outboundClusterName(p.port, e.host.hostname), eps, e, undefined, base, v));
        for (const s of subsets) {
          const policy = portPolicy(e.rule, p.port, s);
          if (!usesEds(e.host, policy)) continue;
          out.push(keptAssignment(outboundSubsetClusterName(p.port, s.name, e.host.hostname), eps, e, s, policy, v));
        }
      }
    }
    return { resources: out, diagnostics: [] };
  });
}

// ---- for the route side ----------------------------------------------------------------------

/**
 * Envoy `hash_policy` for a route to `hostname`:`port` (and `subset`) when the DestinationRule
 * that applies for this proxy sets `consistentHash`; undefined otherwise.
 */
export function routeHashPolicy(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>, hostname: string, port: number, subset?: string): EnvoyObject[] | undefined {
  const host = lookupHost(snapshot, proxy, hostname);
  if (!host) return undefined;
  const rule = destinationRuleFor(snapshot, proxy.namespace, proxy.labels, host.hostname, host.namespace);
  if (!rule) return undefined;
  const s = subset === undefined ? undefined : rule.subsets.find((x) => x.name === subset);
  const key = portPolicy(rule, port, s).loadBalancer?.consistentHash?.key;
  return key ? hashPolicyFor(key) : undefined;
}

/** Subset names the DestinationRule for `hostname` defines for this proxy (empty: none), in the rule's order. */
export function subsetNames(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>, hostname: string): readonly string[] {
  const host = lookupHost(snapshot, proxy, hostname);
  const rule = destinationRuleFor(snapshot, proxy.namespace, proxy.labels, host?.hostname ?? hostname, host?.namespace ?? proxy.namespace);
  return rule ? rule.subsets.map((s) => s.name) : [];
}

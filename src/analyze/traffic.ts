/**
 * Traffic analyzers: the classic Istio traps, found in the model (and, inside meshd, in the
 * telemetry edges and the config source's diagnostics). Each finding names the object, its
 * namespace and the field. Field indices are those of the model, which keeps the user's
 * order of routes and destinations.
 */
import type { Diagnostic, MeshSnapshot, Service, Workload } from '../model/types.js';
import type { Destination, DestinationRule, RouteSet, ServiceEntry, WeightedDestination } from '../model/traffic.js';
import { egressAdmits, sidecarFor } from '../xds/translate/registry.js';
import { routeSetOrder } from '../xds/translate/http-routes.js';
import { hostSubsetOf } from '../config/traffic/hosts.js';
import { selectorMatches } from '../authz/select.js';
import type { Analyzer } from './types.js';

/** The kinds whose config-source diagnostics the `traffic-config` analyzer repeats. */
export const TRAFFIC_KINDS: readonly string[] = ['VirtualService', 'DestinationRule', 'ServiceEntry', 'Sidecar', 'HTTPRoute', 'GRPCRoute'];

type Meta = { readonly meta: { readonly name: string; readonly namespace: string; readonly source: string } };
const nsName = (o: Meta): string => `${o.meta.namespace}/${o.meta.name}`;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function finding(kind: string, o: Meta, field: string, message: string, severity: Diagnostic['severity'] = 'warning'): Diagnostic {
  return { severity, source: o.meta.source, kind, namespace: o.meta.namespace, name: o.meta.name, field, message };
}

/** One destination a route set names, with its field path in the front-end object. */
interface DestRef {
  readonly destination: Destination;
  /** Field path of the destination itself (`spec.http[0].route[1].destination`). */
  readonly field: string;
}

/** Every destination of a route set (routes and mirrors; HTTP, TCP, TLS), with field paths. */
export function destinationRefs(set: RouteSet): DestRef[] {
  const out: DestRef[] = [];
  const gamma = set.origin !== 'VirtualService';
  const list = (ds: readonly WeightedDestination[], at: string): void => ds.forEach((d, j) => {
    out.push({ destination: d.destination, field: gamma ? `${at}.backendRefs[${j}]` : `${at}.route[${j}].destination` });
  });
  set.http.forEach((r, i) => {
    const at = gamma ? `spec.rules[${i}]` : `spec.http[${i}]`;
    if (r.action.kind === 'route') list(r.action.destinations, at);
    r.mirrors.forEach((m, k) => out.push({ destination: m.destination, field: gamma ? `${at}.filters[${k}].requestMirror.backendRef` : r.mirrors.length === 1 ? `${at}.mirror` : `${at}.mirrors[${k}].destination` }));
  });
  set.tcp.forEach((r, i) => list(r.destinations, `spec.tcp[${i}]`));
  set.tls.forEach((r, i) => list(r.destinations, `spec.tls[${i}]`));
  return out;
}

/** A host matched by a ServiceEntry host (exact, or under its wildcard). */
function serviceEntryFor(snapshot: MeshSnapshot, host: string): ServiceEntry | undefined {
  return snapshot.serviceEntries.find((se) => se.hosts.some((h) => hostSubsetOf(host, h)));
}

/** Whether a (maybe wildcard) host names anything in the registry: a Service or a ServiceEntry host. */
export function hostKnown(snapshot: MeshSnapshot, host: string): boolean {
  if (host.startsWith('*')) {
    return snapshot.services.some((s) => hostSubsetOf(s.hostname, host)) || snapshot.serviceEntries.some((se) => se.hosts.some((h) => hostSubsetOf(h, host) || hostSubsetOf(host, h)));
  }
  return snapshot.services.some((s) => s.hostname === host) || serviceEntryFor(snapshot, host) !== undefined;
}

/** DestinationRules that apply to a host: the exact one, else wildcard ones covering it. */
function rulesFor(snapshot: MeshSnapshot, host: string): DestinationRule[] {
  const exact = snapshot.destinationRules.filter((dr) => dr.host === host);
  return exact.length ? exact : snapshot.destinationRules.filter((dr) => dr.host !== host && hostSubsetOf(host, dr.host));
}

const missingSubset: Analyzer = {
  name: 'missing-subset',
  description: 'a route names a subset that no DestinationRule for its host defines: Envoy has no such cluster and answers 503 (Istio\'s NR)',
  run: ({ snapshot }) => snapshot.routeSets.flatMap((set) => destinationRefs(set).flatMap(({ destination: d, field }) => {
    if (d.subset === undefined) return [];
    const drs = rulesFor(snapshot, d.host);
    if (drs.some((dr) => dr.subsets.some((s) => s.name === d.subset))) return [];
    const have = drs.length === 0 ? `no DestinationRule has host ${d.host}`
      : `DestinationRule${drs.length > 1 ? 's' : ''} for it: ${drs.map((dr) => `${nsName(dr)} (subsets: ${dr.subsets.map((s) => s.name).join(', ') || 'none'})`).join('; ')}`;
    return [finding(set.origin, set, `${field}.subset`, `subset ${JSON.stringify(d.subset)} of ${d.host} is defined by no DestinationRule (${have}): requests routed here get 503 (no cluster; Istio's NR)`)];
  })),
};

const unknownHost: Analyzer = {
  name: 'unknown-destination-host',
  description: 'a route destination host that resolves to nothing: no Service and no ServiceEntry has it',
  run: ({ snapshot }) => snapshot.routeSets.flatMap((set) => destinationRefs(set).flatMap(({ destination: d, field }) => {
    if (hostKnown(snapshot, d.host)) return [];
    return [finding(set.origin, set, `${field}.host`, `host ${d.host} resolves to nothing: no Service and no ServiceEntry has it, so requests routed here get 503 (short names resolve in the route's namespace, ${set.meta.namespace})`)];
  })),
};

function exportsOverlap(a: readonly string[], b: readonly string[]): boolean {
  return a.includes('*') || b.includes('*') || a.some((n) => b.includes(n));
}

const duplicateHosts: Analyzer = {
  name: 'conflicting-virtualservices',
  description: 'two VirtualServices (or a VirtualService and a Gateway API route) for one host: only the oldest applies, the others are ignored',
  run: ({ snapshot }) => {
    const byHost = new Map<string, RouteSet[]>();
    for (const s of snapshot.routeSets) for (const h of s.hosts) byHost.set(h, [...(byHost.get(h) ?? []), s]);
    const out: Diagnostic[] = [];
    for (const [host, sets] of [...byHost].sort(([a], [b]) => cmp(a, b))) {
      if (!sets.some((s) => s.origin === 'VirtualService')) continue; // Gateway API routes of one parent merge.
      const ordered = [...sets].sort(routeSetOrder); // translation's rule: the finding names the set meshd ignores
      for (let i = 1; i < ordered.length; i++) {
        const loser = ordered[i]!;
        const winner = ordered.slice(0, i).find((w) => exportsOverlap(w.exportTo, loser.exportTo) && (w.origin === 'VirtualService' || loser.origin === 'VirtualService'));
        if (!winner) continue;
        const why = winner.meta.creationTimestamp !== loser.meta.creationTimestamp
          ? `it is older: created ${winner.meta.creationTimestamp ?? '(no creationTimestamp)'}, this one ${loser.meta.creationTimestamp ?? '(no creationTimestamp: counted as newest)'}`
          : 'with equal creation times the first by namespace/name wins';
        // An object without creationTimestamp (a hand-written file) counts as the newest, as translation orders it.
        out.push(finding(loser.origin, loser, 'spec.hosts', `host ${host} is also routed by ${winner.origin} ${nsName(winner)}, which wins (${why}): this ${loser.origin}'s routes for ${host} are ignored; merge them into one`));
      }
    }
    return out;
  },
};

const weights: Analyzer = {
  name: 'route-weights',
  description: 'a VirtualService route whose destination weights do not sum to 100',
  run: ({ snapshot }) => snapshot.routeSets.filter((s) => s.origin === 'VirtualService').flatMap((set) => {
    const check = (ds: readonly WeightedDestination[], at: string): Diagnostic[] => {
      const sum = ds.reduce((n, d) => n + d.weight, 0);
      return ds.length > 1 && sum !== 100 ? [finding('VirtualService', set, `${at}.route`, `weights sum to ${sum}, not 100 (${ds.map((d) => `${d.destination.host}${d.destination.subset ? `/${d.destination.subset}` : ''}=${d.weight}`).join(', ')})`)] : [];
    };
    return [
      ...set.http.flatMap((r, i) => (r.action.kind === 'route' ? check(r.action.destinations, `spec.http[${i}]`) : [])),
      ...set.tcp.flatMap((r, i) => check(r.destinations, `spec.tcp[${i}]`)),
      ...set.tls.flatMap((r, i) => check(r.destinations, `spec.tls[${i}]`)),
    ];
  }),
};

const ruleHost: Analyzer = {
  name: 'destination-rule-host',
  description: 'a DestinationRule whose host matches no Service and no ServiceEntry: it applies to nothing',
  run: ({ snapshot }) => snapshot.destinationRules.flatMap((dr) => (hostKnown(snapshot, dr.host) ? []
    : [finding('DestinationRule', dr, 'spec.host', `host ${dr.host} matches no Service and no ServiceEntry: this DestinationRule applies to nothing (short names resolve in its namespace, ${dr.meta.namespace})`)])),
};

/** The label sets of the endpoints behind a host (workloads of its Service, ServiceEntry endpoints); undefined when the host is not known. */
function endpointLabels(snapshot: MeshSnapshot, host: string): Record<string, string>[] | undefined {
  const svc = snapshot.services.find((s) => s.hostname === host);
  if (svc) return svc.selector ? workloadsOf(snapshot, svc).map((w) => ({ ...w.labels })) : undefined;
  const se = serviceEntryFor(snapshot, host);
  if (!se) return undefined;
  const sel = se.workloadSelector;
  return [
    ...se.endpoints.map((e) => ({ ...e.labels })),
    ...(sel ? snapshot.workloads.filter((w) => w.namespace === se.meta.namespace && selectorMatches(sel, w.labels)).map((w) => ({ ...w.labels })) : []),
  ];
}

/** The workloads a Service selects (same namespace, selector matches). */
export function workloadsOf(snapshot: MeshSnapshot, svc: Service): Workload[] {
  const sel = svc.selector;
  return sel ? snapshot.workloads.filter((w) => w.namespace === svc.meta.namespace && selectorMatches(sel, w.labels)) : [];
}

const emptySubset: Analyzer = {
  name: 'subset-selects-nothing',
  description: 'a DestinationRule subset whose labels select no endpoint of its host: its cluster is empty and requests routed there get 503',
  run: ({ snapshot }) => snapshot.destinationRules.flatMap((dr) => {
    if (dr.host.startsWith('*')) return [];
    const eps = endpointLabels(snapshot, dr.host);
    if (!eps || eps.length === 0) return []; // unknown host (destination-rule-host) or no endpoints at all
    return dr.subsets.flatMap((s, i) => (eps.some((l) => selectorMatches(s.labels, l)) ? []
      : [finding('DestinationRule', dr, `spec.subsets[${i}].labels`, `subset ${JSON.stringify(s.name)} (${Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',')}) selects none of the ${eps.length} endpoint${eps.length > 1 ? 's' : ''} of ${dr.host}: requests routed to it get 503`)]));
  }),
};

const sidecarHides: Analyzer = {
  name: 'sidecar-hides-called-service',
  description: 'a Sidecar whose egress hides a service its workload was seen calling (telemetry edges): those calls leave the mesh\'s routing or fail',
  run: ({ snapshot, edges }) => {
    if (!edges) return [];
    const out = new Map<string, Diagnostic>();
    for (const e of edges) {
      const w = snapshot.workloads.find((x) => x.namespace === e.srcNamespace && x.name === e.src);
      const dst = snapshot.workloads.find((x) => x.namespace === e.dstNamespace && x.name === e.dst);
      if (!w || !dst) continue;
      const sc = sidecarFor(snapshot, w); // translation's own choice (src/xds/translate/registry.ts)
      if (!sc) continue;
      const mode = sc.outboundTrafficPolicy ?? snapshot.config.outboundTrafficPolicy;
      for (const svc of snapshot.services.filter((s) => s.meta.namespace === dst.namespace && s.selector && selectorMatches(s.selector, dst.labels))) {
        if (egressAdmits(sc, { hostname: svc.hostname, namespace: svc.meta.namespace })) continue;
        const key = `${nsName(sc)}|${w.namespace}/${w.name}|${svc.hostname}`;
        const effect = mode === 'REGISTRY_ONLY' ? 'with REGISTRY_ONLY those calls now fail (502)' : 'with ALLOW_ANY they pass through unrouted, with no mTLS, retries or route rules';
        out.set(key, finding('Sidecar', sc, 'spec.egress', `hides ${svc.hostname} from ${w.namespace}/${w.name}, which telemetry saw calling ${dst.namespace}/${dst.name} (${e.requests} request${e.requests === 1 ? '' : 's'}, last ${e.lastSeen}): ${effect}; add "${svc.meta.namespace}/${svc.hostname}" to egress.hosts`));
      }
    }
    return [...out.entries()].sort(([a], [b]) => cmp(a, b)).map(([, d]) => d);
  },
};

const configDiagnostics: Analyzer = {
  name: 'traffic-config',
  description: 'problems the config source found in traffic objects (rejected objects, weights not summing to 100, gateways other than mesh, unsupported fields), as meshd\'s /debug/diagnostics lists them',
  run: ({ diagnostics }) => (diagnostics ?? []).filter((d) => TRAFFIC_KINDS.includes(d.kind)).map((d) => ({ ...d })),
};

/** The traffic analyzers, in the order their findings are listed. */
export const TRAFFIC_ANALYZERS: readonly Analyzer[] = [
  missingSubset, unknownHost, duplicateHosts, weights, ruleHost, emptySubset, sidecarHides, configDiagnostics,
];

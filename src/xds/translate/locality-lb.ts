/**
 * Locality-aware load balancing, as Istio's: endpoints grouped by locality into a
 * ClusterLoadAssignment, weighted (`distribute`) or prioritised relative to the calling
 * proxy's locality (failover). Failover needs outlier detection (Envoy moves to the next
 * priority only when endpoints are ejected), so, as Istio, priorities are set only when the
 * policy has outlierDetection; `distribute` applies either way.
 *
 * Failover priorities: 0 same region/zone/subzone, 1 same region/zone, 2 same region,
 * 3 the region named by a `failover` rule for the proxy's region, 4 anything else;
 * with `failoverPriority` label keys, the number of leading keys whose value differs from the
 * proxy's labels comes first. Priorities are then compacted to 0..n.
 */
import type { Labels } from '../../model/types.js';
import type { Locality, LocalityLbSetting, PortTrafficPolicy } from '../../model/traffic.js';
import type { EnvoyObject } from '../resource-types.js';
import { cmp } from './common.js';
import { FrozenMemo } from './frozen-memo.js';
import type { HostEndpoint } from './host-endpoints.js';

/** Endpoint entries shared by value: a host's subset assignments repeat its endpoints, and snapshots repeat them. */
const lbEndpoints = new FrozenMemo<EnvoyObject>(100_000);
const NO_LOCALITY: EnvoyObject = Object.freeze({});

/** The caller's side of locality load balancing. */
export interface LocalityView {
  readonly locality?: Locality;
  readonly labels: Labels;
}

/** How endpoints are grouped for one cluster: flat (the default), weighted, or prioritised. */
export type LocalityMode =
  | { readonly kind: 'flat' }
  | { readonly kind: 'distribute'; readonly to: readonly (readonly [string, number])[] }
  | { readonly kind: 'failover'; readonly setting: LocalityLbSetting };

function locStr(l: Locality | undefined): string {
  return l ? [l.region, l.zone, l.subZone].filter((x) => x !== undefined).join('/') : '';
}

/** Whether pattern `region/zone/subzone` (each part may be `*`, trailing parts may be missing) matches a locality. */
export function localityMatches(pattern: string, l: Locality | undefined): boolean {
  const p = pattern.split('/');
  const v = [l?.region ?? '', l?.zone ?? '', l?.subZone ?? ''];
  for (let i = 0; i < p.length && i < 3; i++) {
    if (p[i] === '*') return true;
    if (p[i] !== v[i]) return false;
  }
  return true;
}

/** The grouping a merged port policy asks for, for a caller (flat when the caller has no locality). */
export function localityMode(policy: PortTrafficPolicy, view: LocalityView | undefined): LocalityMode {
  const s = policy.loadBalancer?.localityLbSetting;
  if (!view || s?.enabled === false) return { kind: 'flat' };
  if (s && s.failoverPriority.length > 0 && policy.outlierDetection) return { kind: 'failover', setting: s };
  if (!view.locality) return { kind: 'flat' };
  if (s && s.distribute.length > 0) {
    const rule = s.distribute.find((d) => localityMatches(d.from, view.locality));
    return rule ? { kind: 'distribute', to: rule.to } : { kind: 'flat' };
  }
  if (policy.outlierDetection) return { kind: 'failover', setting: s ?? { distribute: [], failover: [], failoverPriority: [] } };
  return { kind: 'flat' };
}

/** A key naming the mode (to share endpoint chunks between callers with the same grouping). */
export function localityModeKey(mode: LocalityMode, view: LocalityView | undefined): string {
  if (mode.kind === 'flat') return '';
  if (mode.kind === 'distribute') return `d:${locStr(view?.locality)}`;
  const keys = mode.setting.failoverPriority;
  return `f:${locStr(view?.locality)}:${keys.map((k) => view?.labels[k] ?? '').join(',')}`;
}

function lbEndpoint(e: HostEndpoint, metadata: (e: HostEndpoint) => EnvoyObject | undefined): EnvoyObject {
  const md = metadata(e);
  if (md !== undefined && !Object.isFrozen(md)) return buildLbEndpoint(e, md);
  // The endpoint's last entry, while its metadata is the same shared object (almost always:
  // an endpoint keeps its tlsMode), without building and hashing the value key.
  const last = lastEntry.get(e);
  if (last !== undefined && last.md === md) return last.v;
  // A frozen metadata object is a shared constant (tlsModeMetadata's): its identity is its value.
  const v = lbEndpoints.get(`${e.address}|${e.port}|${e.weight ?? ''}|${md === undefined ? '-' : sharedMetadataKey(md)}`, () => buildLbEndpoint(e, md));
  lastEntry.set(e, { md, v });
  return v;
}

/** Per endpoint (HostEndpoint objects are carried across snapshots while their workload is the same), its last entry and the metadata it was built with. */
const lastEntry = new WeakMap<HostEndpoint, { readonly md: EnvoyObject | undefined; readonly v: EnvoyObject }>();

/** A short id per shared metadata object (equal values, equal ids): the value key without the metadata's JSON in it. */
const metadataKeys = new WeakMap<EnvoyObject, string>();
const metadataIds = new Map<string, string>();
function sharedMetadataKey(md: EnvoyObject): string {
  let k = metadataKeys.get(md);
  if (k === undefined) {
    const json = JSON.stringify(md);
    k = metadataIds.get(json);
    if (k === undefined) { k = `m${metadataIds.size}`; if (metadataIds.size < 10_000) metadataIds.set(json, k); else k = json; }
    metadataKeys.set(md, k);
  }
  return k;
}

function buildLbEndpoint(e: HostEndpoint, md: EnvoyObject | undefined): EnvoyObject {
  return {
    endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
    ...(md ? { metadata: md } : {}),
    ...(e.weight !== undefined && e.weight > 0 ? { load_balancing_weight: e.weight } : {}),
  };
}

function envoyLocality(l: Locality | undefined): EnvoyObject {
  return l ? { region: l.region, ...(l.zone ? { zone: l.zone } : {}), ...(l.subZone ? { sub_zone: l.subZone } : {}) } : NO_LOCALITY;
}

function failoverPriority(e: HostEndpoint, view: LocalityView, s: LocalityLbSetting): number {
  const keys = s.failoverPriority;
  let labelRank = 0;
  if (keys.length) {
    let m = 0;
    while (m < keys.length && e.labels[keys[m]!] !== undefined && e.labels[keys[m]!] === view.labels[keys[m]!]) m++;
    labelRank = keys.length - m;
  }
  const me = view.locality;
  let loc = 0;
  if (me) {
    const l = e.locality;
    if (l?.region === me.region && l.zone === me.zone && l.subZone === me.subZone) loc = 0;
    else if (l?.region === me.region && l.zone === me.zone) loc = 1;
    else if (l?.region === me.region) loc = 2;
    else if (s.failover.some((f) => f.from === me.region && f.to === l?.region)) loc = 3;
    else loc = 4;
  }
  return labelRank * 5 + loc;
}

/**
 * The `endpoints` of a ClusterLoadAssignment for `eps` grouped as `mode` says. The flat form
 * is one empty locality of weight 1 (what gRPC clients need and Envoy ignores).
 */
export function localityGroups(eps: readonly HostEndpoint[], mode: LocalityMode, view: LocalityView | undefined, metadata: (e: HostEndpoint) => EnvoyObject | undefined): EnvoyObject[] {
  if (eps.length === 0) return [];
  if (mode.kind === 'flat') return [{ locality: NO_LOCALITY, load_balancing_weight: 1, lb_endpoints: eps.map((e) => lbEndpoint(e, metadata)) }];
  const groups = new Map<string, HostEndpoint[]>();
  for (const e of eps) {
    const k = mode.kind === 'failover' ? `${failoverPriority(e, view!, mode.setting)}|${locStr(e.locality)}` : `0|${locStr(e.locality)}`;
    const l = groups.get(k) ?? [];
    l.push(e);
    groups.set(k, l);
  }
  const keys = [...groups.keys()].sort((a, b) => Number(a.split('|')[0]) - Number(b.split('|')[0]) || cmp(a, b));
  if (mode.kind === 'distribute') {
    // Each `to` share is split evenly among the localities it matches; unmatched localities get nothing.
    const shares = new Map<string, number>();
    for (const [pattern, weight] of mode.to) {
      const matched = keys.filter((k) => localityMatches(pattern, groups.get(k)![0]!.locality) && !shares.has(k));
      for (const k of matched) shares.set(k, weight / matched.length);
    }
    return keys.filter((k) => (shares.get(k) ?? 0) > 0).map((k) => ({
      locality: envoyLocality(groups.get(k)![0]!.locality),
      load_balancing_weight: Math.max(1, Math.round(shares.get(k)! * 10)),
      lb_endpoints: groups.get(k)!.map((e) => lbEndpoint(e, metadata)),
    }));
  }
  const priorities = [...new Set(keys.map((k) => Number(k.split('|')[0])))].sort((a, b) => a - b);
  return keys.map((k) => {
    const p = priorities.indexOf(Number(k.split('|')[0]));
    return {
      locality: envoyLocality(groups.get(k)![0]!.locality),
      load_balancing_weight: 1,
      ...(p > 0 ? { priority: p } : {}),
      lb_endpoints: groups.get(k)!.map((e) => lbEndpoint(e, metadata)),
    };
  });
}

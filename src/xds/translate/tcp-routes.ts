/**
 * TCP and TLS rules of route sets (VirtualService `tcp` / `tls`) applied to a proxy's outbound
 * listeners, after they are built: a filter chain whose tcp_proxy goes to a host's base
 * cluster (`outbound|<port>||<host>`) takes the host's winning route set (the same choice as
 * for HTTP: exportTo, exact before wildcard, oldest first).
 *
 * - `tcp`: the first rule with a match for this port and caller (or no match) replaces the
 *   tcp_proxy target by its weighted destinations.
 * - `tls`: each rule's applying matches become filter chains matched on `server_names`
 *   (sniHosts), ahead of the original chain, which stays as the fallback; the listener gets
 *   tls_inspector. Chains that already match on something are left alone.
 * - `destinationSubnets` is not supported: such a match is left out, with a diagnostic.
 */
import type { Diagnostic, Labels, MeshSnapshot } from '../../model/types.js';
import type { L4Match, RouteSet, WeightedDestination } from '../../model/traffic.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { BLACKHOLE_CLUSTER, parseOutboundClusterName } from '../names.js';
import { diag } from './common.js';
import { destinationCluster, destinationField } from './route-actions.js';
import { labelsMatch } from './route-match.js';
import { routeSetOrder } from './http-routes.js';
import { exportedTo, hostMatches } from './registry.js';
import type { HostIndex } from './route-hosts.js';

/** The caller side of L4 routing. */
export interface L4Inputs {
  readonly namespace: string;
  readonly labels: Labels;
  readonly hosts: HostIndex;
}

const TCP_TYPE = `type.googleapis.com/${TypeName.TcpProxy}`;

const l4Sets = new WeakMap<MeshSnapshot, readonly RouteSet[]>();

function winnerFor(snapshot: MeshSnapshot, namespace: string, host: string): RouteSet | undefined {
  let all = l4Sets.get(snapshot);
  if (!all) { all = snapshot.routeSets.filter((rs) => rs.tcp.length || rs.tls.length).sort(routeSetOrder); l4Sets.set(snapshot, all); }
  if (!all.length) return undefined;
  const sets = all.filter((rs) => exportedTo(rs.exportTo, namespace));
  return sets.find((rs) => rs.hosts.includes(host)) ?? sets.find((rs) => rs.hosts.some((h) => h.includes('*') && hostMatches(h, host)));
}

function applies(m: L4Match, port: number, inp: L4Inputs, rs: RouteSet, field: string, diagnostics: Diagnostic[]): boolean {
  if (m.destinationSubnets.length) {
    diagnostics.push(diag(rs.origin, rs.meta.namespace, rs.meta.name, `${field}.destinationSubnets`, 'destinationSubnets is not supported by meshd; this match is left out'));
    return false;
  }
  if (m.port !== undefined && m.port !== port) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== inp.namespace) return false;
  return m.sourceLabels === undefined || labelsMatch(m.sourceLabels, inp.labels);
}

function tcpProxyTo(statPrefix: string, dests: readonly WeightedDestination[], port: number, rs: RouteSet, field: string, inp: L4Inputs, diagnostics: Diagnostic[]): EnvoyObject {
  const ctx = { port, hosts: inp.hosts, set: rs, field, diagnostics };
  const clusters = dests.map((d, i) => destinationCluster(d.destination, ctx, destinationField(i)) ?? BLACKHOLE_CLUSTER);
  const target = clusters.length === 1
    ? { cluster: clusters[0] }
    : { weighted_clusters: { clusters: clusters.map((name, i) => ({ name, weight: dests[i]!.weight })) } };
  return { name: Filter.TcpProxy, typed_config: typed(TypeName.TcpProxy, { stat_prefix: statPrefix, ...target }) };
}

function chainTarget(chain: EnvoyObject): { index: number; statPrefix: string; port: number; hostname: string } | undefined {
  if (chain.filter_chain_match !== undefined) return undefined;
  const filters = (chain.filters as EnvoyObject[] | undefined) ?? [];
  for (let index = 0; index < filters.length; index++) {
    const cfg = filters[index]!.typed_config as EnvoyObject | undefined;
    if (cfg?.['@type'] !== TCP_TYPE || typeof cfg.cluster !== 'string') continue;
    const parsed = parseOutboundClusterName(cfg.cluster);
    if (parsed && parsed.subset === undefined) return { index, statPrefix: String(cfg.stat_prefix ?? cfg.cluster), port: parsed.port, hostname: parsed.hostname };
  }
  return undefined;
}

/** `listener` with the TCP/TLS rules of the route sets applied (unchanged when none applies). */
export function withL4Routes(snapshot: MeshSnapshot, listener: EnvoyObject, inp: L4Inputs, diagnostics: Diagnostic[]): EnvoyObject {
  const chains = (listener.filter_chains as EnvoyObject[] | undefined) ?? [];
  let changed = false;
  let sni = false;
  const out: EnvoyObject[] = [];
  for (const chain of chains) {
    const t = chainTarget(chain);
    const rs = t ? winnerFor(snapshot, inp.namespace, t.hostname) : undefined;
    if (!t || !rs) { out.push(chain); continue; }
    rs.tls.forEach((rule, i) => {
      rule.matches.forEach((m, j) => {
        const field = `spec.tls[${i}].match[${j}]`;
        if (!applies(m, t.port, inp, rs, field, diagnostics)) return;
        const filters = [...(chain.filters as EnvoyObject[])];
        filters[t.index] = tcpProxyTo(t.statPrefix, rule.destinations, t.port, rs, `spec.tls[${i}]`, inp, diagnostics);
        out.push({ ...chain, name: `${t.statPrefix}|tls[${i}].match[${j}]`, filter_chain_match: { server_names: [...m.sniHosts] }, filters });
        sni = changed = true;
      });
    });
    const tcpRule = rs.tcp.findIndex((r) => !r.matches.length || r.matches.some((m, j) => applies(m, t.port, inp, rs, `spec.tcp[${rs.tcp.indexOf(r)}].match[${j}]`, diagnostics)));
    if (tcpRule >= 0) {
      const filters = [...(chain.filters as EnvoyObject[])];
      filters[t.index] = tcpProxyTo(t.statPrefix, rs.tcp[tcpRule]!.destinations, t.port, rs, `spec.tcp[${tcpRule}]`, inp, diagnostics);
      out.push({ ...chain, filters });
      changed = true;
    } else out.push(chain);
  }
  if (!changed) return listener;
  const lf = (listener.listener_filters as EnvoyObject[] | undefined) ?? [];
  const needInspector = sni && !lf.some((f) => f.name === Filter.TlsInspector);
  return {
    ...listener,
    ...(needInspector ? { listener_filters: [...lf, { name: Filter.TlsInspector, typed_config: typed(TypeName.TlsInspector, {}) }] } : {}),
    filter_chains: out,
  };
}

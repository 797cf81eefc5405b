/**
 * ServiceEntry hosts in Envoy: the base cluster of a host port by resolution (STATIC → EDS,
 * DNS → STRICT_DNS with an inline assignment, DNS_ROUND_ROBIN → LOGICAL_DNS, NONE →
 * ORIGINAL_DST), and the outbound listeners for its non-HTTP ports (TCP on the entry's
 * `addresses`, TLS/HTTPS by SNI). HTTP ports get virtual hosts from the route translation.
 * MESH_EXTERNAL hosts get plaintext unless a DestinationRule sets `tls`; MESH_INTERNAL hosts
 * use auto-mTLS as mesh services do.
 */
import { isIP } from 'node:net';
import type { Diagnostic, InterceptionMode, MeshSnapshot } from '../../model/types.js';
import type { OutboundTrafficMode } from '../../model/traffic.js';
import { cidrRange } from '../../authz/rbac-rule.js';
import { isHttpProtocol } from '../../config/protocol.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { BLACKHOLE_CLUSTER, MESH_ALPN, PASSTHROUGH_CLUSTER, addressListenerName, outboundClusterName } from '../names.js';
import { ADS_SOURCE, cmp, diag, socketAddress, tcpProxy, type SecretSource } from './common.js';
import type { HostEndpoint } from './host-endpoints.js';
import { TLS_MODE_ISTIO_METADATA, autoMtlsSocketMatches, httpProtocolOptions } from './outbound-clusters.js';
import type { RegistryHost, RegistryPort } from './registry.js';

/** Endpoint metadata that selects mesh mTLS in `transport_socket_matches` (one shared object). */
export function tlsModeMetadata(e: HostEndpoint): EnvoyObject | undefined {
  return e.mtls ? TLS_MODE_ISTIO_METADATA : undefined;
}

/** The inline assignment of a DNS cluster: the endpoints' names, or the host itself when it lists none. */
export function dnsAssignment(name: string, host: RegistryHost, p: RegistryPort, eps: readonly HostEndpoint[]): EnvoyObject | undefined {
  const targets = eps.length ? eps.map((e) => ({ address: e.address, port: e.port, weight: e.weight }))
    : host.hostname.startsWith('*') ? [] : [{ address: host.hostname, port: typeof p.targetPort === 'number' ? p.targetPort : p.port, weight: undefined }];
  if (targets.length === 0) return undefined;
  return {
    cluster_name: name,
    endpoints: [{ locality: {}, load_balancing_weight: 1, lb_endpoints: targets.map((t) => ({ endpoint: { address: socketAddress(t.address, t.port) }, ...(t.weight ? { load_balancing_weight: t.weight } : {}) })) }],
  };
}

/**
 * The base cluster of a ServiceEntry host port. `eps` are the host's endpoints (for DNS
 * resolution they are inlined); undefined, with a diagnostic, when no cluster can be built.
 */
export function serviceEntryCluster(
  host: RegistryHost, p: RegistryPort, eps: readonly HostEndpoint[], src: SecretSource, connectTimeout: string, sans: readonly string[], diagnostics: Diagnostic[],
): EnvoyObject | undefined {
  const se = host.serviceEntry!;
  const name = outboundClusterName(p.port, host.hostname);
  const http = isHttpProtocol(p.protocol);
  const c: Record<string, unknown> = { name, connect_timeout: connectTimeout, lb_policy: 'ROUND_ROBIN' };
  switch (host.resolution) {
    case 'NONE':
      c.type = 'ORIGINAL_DST';
      c.lb_policy = 'CLUSTER_PROVIDED';
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN': {
      let la = dnsAssignment(name, host, p, eps);
      if (!la) {
        diagnostics.push(diag('ServiceEntry', se.meta.namespace, se.meta.name, 'spec.hosts', `${host.hostname}: a wildcard host with resolution ${host.resolution} needs endpoints; no cluster for port ${p.port}`));
        return undefined;
      }
      if (host.resolution === 'DNS_ROUND_ROBIN') {
        const list = ((la.endpoints as EnvoyObject[])[0]!.lb_endpoints as EnvoyObject[]);
        if (list.length > 1) diagnostics.push(diag('ServiceEntry', se.meta.namespace, se.meta.name, 'spec.endpoints', `resolution DNS_ROUND_ROBIN uses one endpoint; ${list.length - 1} more ignored (use DNS for several)`));
        la = { ...la, endpoints: [{ locality: {}, load_balancing_weight: 1, lb_endpoints: [list[0]] }] };
      }
      c.type = host.resolution === 'DNS' ? 'STRICT_DNS' : 'LOGICAL_DNS';
      c.dns_lookup_family = 'V4_ONLY';
      c.load_assignment = la;
      break;
    }
    default:
      c.type = 'EDS';
      c.eds_cluster_config = { eds_config: ADS_SOURCE };
  }
  if (host.location === 'MESH_INTERNAL' && host.resolution !== 'NONE') {
    const alpn = http ? [MESH_ALPN, 'h2', 'http/1.1'] : [MESH_ALPN];
    c.transport_socket_matches = autoMtlsSocketMatches(src, alpn, sans);
  }
  if (http) c.typed_extension_protocol_options = httpProtocolOptions(p.protocol);
  return c;
}

/**
 * Transparent mode, CIDR `addresses` on a TCP port: one `0.0.0.0_<port>` listener (Envoy hands
 * a redirected connection to it when no listener has its exact address), a filter chain per
 * host matched on the destination's prefix ranges, and what the outbound policy says for any
 * other destination on that port (PassthroughCluster, or BlackHoleCluster under REGISTRY_ONLY),
 * as Istio's. Exact-address listeners keep precedence for single IPs.
 */
function cidrListener(port: number, ranges: readonly { h: RegistryHost; cidrs: string[] }[], outbound: OutboundTrafficMode, skip: (h: RegistryHost, name: string) => boolean, diagnostics: Diagnostic[]): EnvoyObject | undefined {
  if (ranges.length === 0) return undefined;
  const name = addressListenerName('0.0.0.0', port);
  if (ranges.some(({ h }) => skip(h, name))) return undefined;
  const seen = new Set<string>();
  const chains: EnvoyObject[] = [];
  for (const { h, cidrs } of [...ranges].sort((a, b) => cmp(a.h.hostname, b.h.hostname))) {
    // A range two hosts claim goes to the first by name (Envoy refuses equal chain matches).
    const own = cidrs.filter((c) => !seen.has(c));
    for (const c of cidrs) if (seen.has(c)) diagnostics.push(diag('ServiceEntry', h.namespace, h.name, 'spec.addresses', `${c} on TCP port ${port} is also claimed by another ServiceEntry host, which wins (first by name); ${h.hostname} is not reached through it`));
    own.forEach((c) => seen.add(c));
    if (!own.length) continue;
    const cluster = outboundClusterName(port, h.hostname);
    chains.push({ name: cluster, filter_chain_match: { prefix_ranges: own.map(cidrRange) }, filters: [tcpProxy(cluster, cluster)] });
  }
  const fallback = outbound === 'REGISTRY_ONLY' ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
  return {
    name, address: socketAddress('0.0.0.0', port), bind_to_port: false, traffic_direction: 'OUTBOUND',
    filter_chains: chains,
    default_filter_chain: { name: fallback, filters: [tcpProxy(fallback, fallback)] },
  };
}

/** TLS-carrying ports: routed by SNI. */
function isTls(p: RegistryPort): boolean {
  return p.protocol === 'TLS' || p.protocol === 'HTTPS';
}

/**
 * Outbound listeners for ServiceEntry ports that are neither HTTP nor served by a Service
 * listener: TLS/HTTPS ports get one listener per port with a filter chain per host matched by
 * SNI; TCP ports a listener on each of the entry's IP `addresses` (transparent mode) or, in
 * explicit mode, one bound listener per port when one host claims it. Names in `taken` are
 * skipped with a diagnostic.
 */
export function serviceEntryListeners(hosts: readonly RegistryHost[], mode: InterceptionMode, bindAddress: string, taken: ReadonlySet<string>, diagnostics: Diagnostic[], outbound: OutboundTrafficMode = 'ALLOW_ANY'): EnvoyObject[] {
  const tls = new Map<number, RegistryHost[]>();
  const tcp = new Map<number, RegistryHost[]>();
  for (const h of hosts) {
    if (h.origin !== 'ServiceEntry') continue;
    for (const p of h.ports) {
      if (isHttpProtocol(p.protocol)) continue;
      const m = isTls(p) ? tls : tcp;
      const l = m.get(p.port) ?? [];
      l.push(h);
      m.set(p.port, l);
    }
  }
  const out: EnvoyObject[] = [];
  const listenAt = (port: number): { name: string; address: EnvoyObject; bind?: boolean } =>
    mode === 'REDIRECT' ? { name: addressListenerName('0.0.0.0', port), address: socketAddress('0.0.0.0', port), bind: false } : { name: addressListenerName(bindAddress, port), address: socketAddress(bindAddress, port) };
  const skip = (h: RegistryHost, name: string): boolean => {
    if (!taken.has(name)) return false;
    diagnostics.push(diag('ServiceEntry', h.namespace, h.name, 'spec.ports', `listener ${name} is already used by a Service port; ${h.hostname} is not reachable on it through the sidecar`));
    return true;
  };
  for (const [port, list] of [...tls].sort(([a], [b]) => a - b)) {
    const at = listenAt(port);
    if (list.some((h) => skip(h, at.name))) continue;
    const chains = list.map((h) => {
      const cluster = outboundClusterName(port, h.hostname);
      return { name: cluster, filter_chain_match: { server_names: [h.hostname] }, filters: [tcpProxy(cluster, cluster)] };
    }).sort((a, b) => cmp(a.name, b.name));
    out.push({
      name: at.name, address: at.address, ...(at.bind === false ? { bind_to_port: false } : {}), traffic_direction: 'OUTBOUND',
      listener_filters: [{ name: Filter.TlsInspector, typed_config: typed(TypeName.TlsInspector, {}) }],
      filter_chains: chains,
    });
  }
  for (const [port, list] of [...tcp].sort(([a], [b]) => a - b)) {
    if (mode === 'REDIRECT') {
      const ranges: { h: RegistryHost; cidrs: string[] }[] = [];
      for (const h of list) {
        if (h.addresses.length === 0) {
          diagnostics.push(diag('ServiceEntry', h.namespace, h.name, 'spec.addresses', `TCP port ${port} of ${h.hostname} needs addresses in transparent mode; not reachable through the sidecar`));
          continue;
        }
        const cluster = outboundClusterName(port, h.hostname);
        const cidrs: string[] = [];
        for (const a of h.addresses) {
          if (isIP(a) === 0) { cidrs.push(a); continue; }
          const name = addressListenerName(a, port);
          if (skip(h, name)) continue;
          out.push({ name, address: socketAddress(a, port), bind_to_port: false, traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [tcpProxy(cluster, cluster)] }] });
        }
        if (cidrs.length) ranges.push({ h, cidrs });
      }
      const wide = cidrListener(port, ranges, outbound, skip, diagnostics);
      if (wide) out.push(wide);
      continue;
    }
    const [first, ...rest] = list;
    const at = listenAt(port);
    if (skip(first!, at.name)) continue;
    for (const h of rest) diagnostics.push(diag('ServiceEntry', h.namespace, h.name, 'spec.ports', `TCP port ${port} is also used by ${first!.hostname}, which wins in explicit mode (first by name)`));
    const cluster = outboundClusterName(port, first!.hostname);
    out.push({ name: at.name, address: at.address, traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [tcpProxy(cluster, cluster)] }] });
  }
  // Two transparent TCP hosts on one address:port: the first wins.
  const seen = new Set<string>();
  return out.filter((l) => {
    const n = String(l.name);
    if (seen.has(n)) return false;
    seen.add(n);
    return true;
  });
}

/** SANs for mesh mTLS to a MESH_INTERNAL entry: its subjectAltNames plus the endpoints' SPIFFE ids. */
export function serviceEntrySans(snapshot: MeshSnapshot, host: RegistryHost, eps: readonly HostEndpoint[]): string[] {
  const td = snapshot.config.trustDomain;
  const ids = new Set<string>(host.serviceEntry?.subjectAltNames ?? []);
  for (const e of eps) if (e.mtls && e.serviceAccount) ids.add(`spiffe://${td}/ns/${host.namespace}/sa/${e.serviceAccount}`);
  return [...ids].sort(cmp);
}

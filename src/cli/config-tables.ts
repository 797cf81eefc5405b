/**
 * Summary tables of Envoy resources (the JSON meshd's `/debug/config_dump` shows), in the
 * shape of `istioctl proxy-config`: one row per filter chain, cluster, virtual host route
 * and endpoint.
 */
import { parseOutboundClusterName } from '../xds/names.js';
import { formatTable } from './output.js';

type Obj = Readonly<Record<string, unknown>>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

function socketAddress(a: unknown): { address: string; port: string } {
  const s = isObj(a) && isObj(a.socket_address) ? a.socket_address : {};
  return { address: str(s.address), port: str(s.port_value) };
}

function typeName(cfg: unknown): string {
  const t = isObj(cfg) ? str(cfg['@type']) : '';
  return t.slice(t.lastIndexOf('.') + 1);
}

/** Where a filter chain sends traffic: its route configuration, its cluster, or its filter. */
function destinationOf(chain: Obj): string {
  for (const f of arr(chain.filters)) {
    const c = isObj(f.typed_config) ? f.typed_config : {};
    const kind = typeName(c);
    if (kind === 'HttpConnectionManager') {
      if (isObj(c.rds)) return `Route: ${str(c.rds.route_config_name)}`;
      const vhosts = isObj(c.route_config) ? arr(c.route_config.virtual_hosts) : [];
      const clusters = [...new Set(vhosts.flatMap((h) => arr(h.routes)).map((r) => (isObj(r.route) ? str(r.route.cluster) : '')).filter(Boolean))];
      return clusters.length ? `Inline Route: ${clusters.join(', ')}` : 'Inline Route';
    }
    if (kind === 'TcpProxy') return `Cluster: ${str(c.cluster)}`;
  }
  return '';
}

function matchOf(chain: Obj): string {
  const m = isObj(chain.filter_chain_match) ? chain.filter_chain_match : {};
  const parts: string[] = [];
  if (m.destination_port !== undefined) parts.push(`port ${str(isObj(m.destination_port) ? m.destination_port.value : m.destination_port)}`);
  if (m.transport_protocol) parts.push(str(m.transport_protocol));
  if (Array.isArray(m.application_protocols)) parts.push(`ALPN ${m.application_protocols.map(str).join(',')}`);
  if (Array.isArray(m.server_names)) parts.push(`SNI ${m.server_names.map(str).join(',')}`);
  return parts.join('; ') || 'ALL';
}

/** LISTENER ADDRESS PORT CHAIN MATCH DESTINATION, one row per filter chain. */
export function listenersTable(listeners: readonly Obj[]): string {
  const rows = listeners.flatMap((l) => {
    const { address, port } = socketAddress(l.address);
    const chains = [...arr(l.filter_chains), ...(isObj(l.default_filter_chain) ? [{ ...l.default_filter_chain, name: str(l.default_filter_chain.name) || '(default)' }] : [])];
    if (isObj(l.api_listener)) return [[str(l.name), '', '', '', 'API listener', 'gRPC (proxyless)']];
    return chains.map((c) => [str(l.name), address, port, str(c.name), matchOf(c), destinationOf(c)]);
  });
  return formatTable(['LISTENER', 'ADDRESS', 'PORT', 'CHAIN', 'MATCH', 'DESTINATION'], rows);
}

/** SERVICE FQDN PORT SUBSET DIRECTION TYPE, as istioctl. */
export function clustersTable(clusters: readonly Obj[]): string {
  const rows = clusters.map((c) => {
    const name = str(c.name);
    const out = parseOutboundClusterName(name);
    const inbound = /^inbound\|(\d+)\|([^|]*)\|/.exec(name);
    const type = str(c.type) || (isObj(c.cluster_discovery_type) ? 'CUSTOM' : 'EDS');
    if (out) return [out.hostname, String(out.port), '', 'outbound', type];
    if (inbound) return ['', inbound[1]!, inbound[2]!, 'inbound', type];
    return [name, '', '', '', type];
  });
  return formatTable(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE'], rows);
}

/** NAME VHOST DOMAINS MATCH CLUSTER, one row per route. */
export function routesTable(routes: readonly Obj[]): string {
  const rows = routes.flatMap((rc) => arr(rc.virtual_hosts).flatMap((vh) => {
    const domains = Array.isArray(vh.domains) ? vh.domains.map(str) : [];
    const dom = domains.length > 2 ? `${domains[0]} +${domains.length - 1} more` : domains.join(', ');
    const rs = arr(vh.routes);
    return (rs.length ? rs : [{}]).map((r) => {
      const m = isObj(r.match) ? r.match : {};
      const match = m.prefix !== undefined ? `${str(m.prefix)}*` : m.path !== undefined ? str(m.path) : isObj(m.safe_regex) ? `~${str(m.safe_regex.regex)}` : '';
      const action = isObj(r.route) ? (r.route.cluster ? str(r.route.cluster) : isObj(r.route.weighted_clusters) ? arr(r.route.weighted_clusters.clusters).map((w) => `${str(w.name)} ${str(w.weight)}`).join(', ') : '') : isObj(r.direct_response) ? `direct ${str(r.direct_response.status)}` : '';
      return [str(rc.name), str(vh.name), dom, match, action];
    });
  }));
  return formatTable(['NAME', 'VHOST', 'DOMAINS', 'MATCH', 'CLUSTER'], rows);
}

/** ENDPOINT STATUS TLS CLUSTER, one row per endpoint meshd sends. */
export function endpointsTable(assignments: readonly Obj[]): string {
  const rows = assignments.flatMap((a) => arr(a.endpoints).flatMap((loc) => arr(loc.lb_endpoints).map((e) => {
    const { address, port } = socketAddress(isObj(e.endpoint) ? e.endpoint.address : undefined);
    const md = isObj(e.metadata) && isObj(e.metadata.filter_metadata) ? e.metadata.filter_metadata : {};
    const tls = Object.values(md).filter(isObj).map((x) => str(x.tlsMode)).find(Boolean) ?? '';
    return [`${address}:${port}`, str(e.health_status) || 'HEALTHY', tls || 'disabled', str(a.cluster_name)];
  })));
  return formatTable(['ENDPOINT', 'STATUS', 'TLS', 'CLUSTER'], rows);
}

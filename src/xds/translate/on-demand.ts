/**
 * On-demand cluster discovery for scoped sidecars: a call to a mesh host outside the proxy's
 * scope still works on first use. Each outbound HTTP connection manager gets two filters
 * before the router:
 *
 * 1. a Lua filter that turns the request's authority into the mesh cluster name it would use
 *    (`outbound|<port>||<fqdn>`: FQDN, `<name>.<ns>.svc`, `<name>.<ns>` for a mesh namespace,
 *    or a short name in the proxy's own namespace) in header `x-meshd-od-cluster` (a value the
 *    app sent is removed first), and clears the route cache;
 * 2. `envoy.filters.http.on_demand` with `odcds`: when the route's cluster is missing, Envoy
 *    asks meshd for it by name over a Delta CDS stream of its own (gRPC
 *    `ClusterDiscoveryService/DeltaClusters` on `xds-grpc`, marked by the initial metadata
 *    `x-meshd-stream: on-demand-cds`) and holds the request until the cluster arrives or the
 *    timeout passes (the bounded first-request delay).
 *
 * The route configuration's catch-all virtual host (`*`) then routes by `cluster_header`.
 * Cluster-IP authorities are not resolved on demand (transparent mode falls back to
 * PassthroughCluster for them, as before); TCP services outside the scope are not reachable.
 */
import type { MeshSnapshot } from '../../model/types.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { ON_DEMAND_STREAM_METADATA } from '../names.js';
import { ALS_CLUSTER } from '../../telemetry/als-config.js';
import { cmp } from './common.js';

/** The header that carries the on-demand cluster name (set by meshd's Lua filter only). */
export const ON_DEMAND_CLUSTER_HEADER = 'x-meshd-od-cluster';
/** How long Envoy holds a request for an on-demand cluster before it gives up (503). */
export const ON_DEMAND_TIMEOUT = '5s';

const OnDemandType = 'envoy.extensions.filters.http.on_demand.v3.OnDemand';
const LuaType = 'envoy.extensions.filters.http.lua.v3.Lua';

/** The ODCDS config source: Delta gRPC to meshd over the bootstrap's `xds-grpc` cluster. */
export const ODCDS_SOURCE: EnvoyObject = {
  resource_api_version: 'V3',
  api_config_source: {
    api_type: 'DELTA_GRPC',
    transport_api_version: 'V3',
    set_node_on_first_message_only: true,
    grpc_services: [{ envoy_grpc: { cluster_name: ALS_CLUSTER }, initial_metadata: [{ ...ON_DEMAND_STREAM_METADATA }] }],
  },
};

const luaString = (s: string): string => JSON.stringify(s);

/**
 * The Lua source for one outbound port: authority → `outbound|<port>||<fqdn>` (see the module
 * comment). Deterministic for (port, namespace, mesh namespaces, domain suffix).
 */
export function onDemandLua(port: number, namespace: string, meshNamespaces: readonly string[], domainSuffix: string): string {
  const nss = [...new Set(meshNamespaces)].sort(cmp).map((n) => `[${luaString(n)}]=true`).join(',');
  return [
    `local PORT = ${luaString(String(port))}`,
    `local NS = ${luaString(namespace)}`,
    `local SVC = ${luaString(`.svc.${domainSuffix}`)}`,
    `local SUFFIX = ${luaString(domainSuffix)}`,
    `local MESH_NS = {${nss}}`,
    'function envoy_on_request(h)',
    '  local hs = h:headers()',
    `  hs:remove(${luaString(ON_DEMAND_CLUSTER_HEADER)})`,
    '  local a = hs:get(":authority")',
    '  if a == nil then return end',
    '  a = string.gsub(string.lower(a), ":%d+$", "")',
    '  local fqdn = nil',
    '  if string.sub(a, -#SVC) == SVC then fqdn = a',
    '  elseif string.sub(a, -4) == ".svc" then fqdn = a .. "." .. SUFFIX',
    '  else',
    '    local name, ns = string.match(a, "^([^.]+)%.([^.]+)$")',
    '    if ns ~= nil and MESH_NS[ns] then fqdn = a .. SVC',
    '    elseif string.find(a, ".", 1, true) == nil then fqdn = a .. "." .. NS .. SVC end',
    '  end',
    '  if fqdn == nil or string.match(fqdn, "^[a-z0-9][a-z0-9.-]*$") == nil then return end',
    `  hs:add(${luaString(ON_DEMAND_CLUSTER_HEADER)}, "outbound|" .. PORT .. "||" .. fqdn)`,
    '  h:clearRouteCache()',
    'end',
    '',
  ].join('\n');
}

/** The two HTTP filters that go before the router of an outbound HCM on `port`. */
export function onDemandHttpFilters(port: number, namespace: string, snapshot: MeshSnapshot): EnvoyObject[] {
  const namespaces = [...new Set(snapshot.services.map((s) => s.meta.namespace))];
  return [
    { name: 'envoy.filters.http.lua', typed_config: typed(LuaType, { default_source_code: { inline_string: onDemandLua(port, namespace, namespaces, snapshot.config.domainSuffix) } }) },
    { name: 'envoy.filters.http.on_demand', typed_config: typed(OnDemandType, { odcds: { source: ODCDS_SOURCE, timeout: ON_DEMAND_TIMEOUT } }) },
  ];
}

type Rec = { readonly [k: string]: unknown };
const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Rec : {});
const arr = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

/**
 * A copy of an outbound listener whose HTTP connection managers (stat prefix `outbound_<port>`)
 * carry the on-demand filters before their router. Other listeners are returned as they are.
 */
export function withOnDemandFilters(listener: EnvoyObject, namespace: string, snapshot: MeshSnapshot): EnvoyObject {
  if (listener.traffic_direction !== 'OUTBOUND') return listener;
  let changed = false;
  const chains = arr(listener.filter_chains).map((chain) => {
    const filters = arr(rec(chain).filters).map((f) => {
      const fr = rec(f);
      const cfg = rec(fr.typed_config);
      if (fr.name !== Filter.HttpConnectionManager) return f;
      const m = /^outbound_(\d+)$/.exec(String(cfg.stat_prefix ?? ''));
      if (!m) return f;
      const http = arr(cfg.http_filters);
      if (http.some((h) => rec(h).name === 'envoy.filters.http.on_demand')) return f;
      const at = http.findIndex((h) => rec(h).name === Filter.Router);
      const extra = onDemandHttpFilters(Number(m[1]), namespace, snapshot);
      const next = at < 0 ? [...http, ...extra] : [...http.slice(0, at), ...extra, ...http.slice(at)];
      changed = true;
      return { ...fr, typed_config: { ...cfg, http_filters: next } };
    });
    return { ...rec(chain), filters };
  });
  return changed ? { ...listener, filter_chains: chains } : listener;
}

const onDemandRoute: EnvoyObject = {
  name: 'on-demand',
  match: { prefix: '/', headers: [{ name: ON_DEMAND_CLUSTER_HEADER, present_match: true }] },
  route: { cluster_header: ON_DEMAND_CLUSTER_HEADER, timeout: '0s', retry_policy: { retry_on: 'connect-failure,refused-stream,reset-before-request', num_retries: 2 } },
};

const isCatchAll = (v: unknown): boolean => arr(rec(v).domains).includes('*');

/**
 * A scoped proxy's route configuration for one port with the on-demand catch-all. `scoped` is
 * the configuration built for the scope (absent: no visible host on the port), `full` the one
 * the proxy would get without learned scoping. The result keeps the scoped virtual hosts and
 * replaces the `*` one by `on_demand`: first a route by `x-meshd-od-cluster` (the cluster is
 * discovered on demand), then what the full configuration's `*` virtual host does
 * (PassthroughCluster, REGISTRY_ONLY's 502, or explicit mode's only service on the port).
 * Inputs are not mutated.
 */
export function withOnDemandCatchAll(scoped: EnvoyObject | undefined, full: EnvoyObject): EnvoyObject {
  const base = scoped ?? { name: full.name, virtual_hosts: [], validate_clusters: false };
  const vhosts = arr(base.virtual_hosts).filter((v) => !isCatchAll(v));
  const fallback = arr(rec(arr(full.virtual_hosts).find(isCatchAll)).routes);
  return { ...base, virtual_hosts: [...vhosts, { name: 'on_demand', domains: ['*'], routes: [onDemandRoute, ...fallback] }] };
}

/**
 * The hosts routes may send traffic to, as the route translation sees them: the registry
 * hosts a proxy sees (Services and ServiceEntry hosts, exportTo and Sidecar applied; see
 * registry.ts), indexed by hostname with their ports. Memoized per visible-host list (proxies
 * sharing a scope share the index); must not be mutated.
 */
import { isHttpProtocol } from '../../config/protocol.js';
import type { RegistryHost } from './registry.js';

/** One routable host. */
export interface RouteHost {
  readonly hostname: string;
  readonly kind: 'Service' | 'ServiceEntry';
  readonly namespace: string;
  readonly name: string;
  /** Every port, sorted. */
  readonly ports: readonly number[];
  /** The HTTP ports, sorted. */
  readonly httpPorts: readonly number[];
  readonly registry: RegistryHost;
}

/** Hosts by hostname (the first registry entry of a hostname wins, in registry order). */
export type HostIndex = ReadonlyMap<string, RouteHost>;

const memo = new WeakMap<readonly RegistryHost[], HostIndex>();

/** The route hosts of a visible-host list. */
export function routeHosts(hosts: readonly RegistryHost[]): HostIndex {
  let idx = memo.get(hosts);
  if (idx) return idx;
  const m = new Map<string, RouteHost>();
  for (const h of hosts) {
    if (m.has(h.hostname)) continue;
    m.set(h.hostname, {
      hostname: h.hostname, kind: h.origin, namespace: h.namespace, name: h.name, registry: h,
      ports: h.ports.map((p) => p.port),
      httpPorts: h.ports.filter((p) => isHttpProtocol(p.protocol)).map((p) => p.port),
    });
  }
  idx = m;
  memo.set(hosts, idx);
  return idx;
}

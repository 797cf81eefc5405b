/**
 * The hosts routes may send traffic to, as the route translation sees them: one entry per
 * hostname with its ports. Built from Kubernetes Services (ServiceEntry hosts join once the
 * registry of src/xds/translate knows them). Memoized per snapshot; must not be mutated.
 */
import type { MeshSnapshot, Service } from '../../model/types.js';
import { isHttpProtocol } from '../../config/protocol.js';
import { meshPorts } from './outbound-clusters.js';

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
  /** The Service behind the host (undefined for ServiceEntry hosts). */
  readonly service?: Service;
}

/** Hosts by hostname (the first Service of a hostname wins, in snapshot order). */
export type HostIndex = ReadonlyMap<string, RouteHost>;

const memo = new WeakMap<MeshSnapshot, HostIndex>();

/** The route hosts of a snapshot. */
export function routeHosts(snapshot: MeshSnapshot): HostIndex {
  let idx = memo.get(snapshot);
  if (idx) return idx;
  const m = new Map<string, RouteHost>();
  for (const svc of snapshot.services) {
    if (m.has(svc.hostname)) continue;
    const ports = meshPorts(svc);
    m.set(svc.hostname, {
      hostname: svc.hostname, kind: 'Service', namespace: svc.meta.namespace, name: svc.meta.name, service: svc,
      ports: ports.map((p) => p.port).sort((a, b) => a - b),
      httpPorts: ports.filter((p) => isHttpProtocol(p.protocol)).map((p) => p.port).sort((a, b) => a - b),
    });
  }
  idx = m;
  memo.set(snapshot, idx);
  return idx;
}

/** Whether `host` (an FQDN) is covered by `pattern` (an FQDN, `*.suffix` or `*`). */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

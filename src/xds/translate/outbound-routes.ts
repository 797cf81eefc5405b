/**
 * Outbound route configurations: one per HTTP service port number, one virtual host per
 * service on that port. Shared by every sidecar of one namespace and interception mode.
 */
import type { MeshSnapshot, Service, ServicePort } from '../../model/types.js';
import type { InterceptionMode } from '../../model/types.js';
import type { OutboundTrafficMode } from '../../model/traffic.js';
import { isHttpProtocol } from '../../config/protocol.js';
import type { EnvoyObject } from '../resource-types.js';
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER, apiListenerName, outboundClusterName, outboundRouteName } from '../names.js';
import { cmp } from './common.js';
import { meshPorts } from './outbound-clusters.js';

/** Service ports grouped by port number, services sorted by name then namespace. */
export function portsByNumber(snapshot: MeshSnapshot, http: boolean): Map<number, { svc: Service; sp: ServicePort }[]> {
  const m = new Map<number, { svc: Service; sp: ServicePort }[]>();
  for (const svc of snapshot.services) {
    for (const sp of meshPorts(svc)) {
      if (isHttpProtocol(sp.protocol) !== http) continue;
      const list = m.get(sp.port) ?? [];
      list.push({ svc, sp });
      m.set(sp.port, list);
    }
  }
  for (const list of m.values()) list.sort((a, b) => cmp(a.svc.meta.name, b.svc.meta.name) || cmp(a.svc.meta.namespace, b.svc.meta.namespace));
  return new Map([...m].sort(([a], [b]) => a - b));
}

/**
 * The names a caller may use for a service, each with and without `:port`: the FQDN,
 * `<name>.<ns>.svc`, `<name>.<ns>`, the cluster IP, and `<name>` only from its own namespace.
 */
export function serviceDomains(svc: Service, port: number, fromNamespace: string | undefined): string[] {
  const { name, namespace } = svc.meta;
  const hosts = [svc.hostname, `${name}.${namespace}.svc`, `${name}.${namespace}`];
  if (fromNamespace === namespace) hosts.push(name);
  if (svc.clusterIP) hosts.push(svc.clusterIP);
  return hosts.flatMap((h) => [h, `${h}:${port}`]);
}

function route(cluster: string): EnvoyObject {
  // timeout 0s: no overall deadline, so gRPC streams and long polls are not cut at 15 s.
  // Retries only where the request cannot have reached the app (a connection that failed, a
  // refused stream, a reset before the request was sent): safe for every method, and it hides
  // the upstream connection draining that a listener update (a policy change) causes.
  return {
    name: 'default', match: { prefix: '/' },
    route: { cluster, timeout: '0s', retry_policy: { retry_on: 'connect-failure,refused-stream,reset-before-request', num_retries: 2 } },
  };
}

/**
 * The route configuration for one outbound port. A domain claimed by two services goes to
 * the first by name. Explicit mode: when exactly one service uses the port, a `*` host
 * routes to it (an app calling 127.0.0.1:port without a Host). Transparent mode: `*` goes to
 * PassthroughCluster (calls to addresses outside the mesh), as Istio's ALLOW_ANY. With
 * REGISTRY_ONLY, `*` goes to BlackHoleCluster in both modes (Envoy answers 502), as Istio.
 */
export function outboundRouteConfig(port: number, services: readonly { svc: Service; sp: ServicePort }[], fromNamespace: string, mode: InterceptionMode, policy: OutboundTrafficMode = 'ALLOW_ANY'): EnvoyObject {
  const used = new Set<string>();
  const vhosts: EnvoyObject[] = [];
  for (const { svc } of services) {
    const domains = serviceDomains(svc, port, fromNamespace).filter((d) => !used.has(d));
    domains.forEach((d) => used.add(d));
    if (domains.length) vhosts.push({ name: apiListenerName(svc.hostname, port), domains, routes: [route(outboundClusterName(port, svc.hostname))] });
  }
  if (policy === 'REGISTRY_ONLY') {
    vhosts.push({ name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, route: { cluster: BLACKHOLE_CLUSTER, timeout: '0s' } }] });
  } else if (mode === 'REDIRECT') {
    vhosts.push({ name: 'allow_any', domains: ['*'], routes: [route(PASSTHROUGH_CLUSTER)] });
  } else if (services.length === 1) {
    vhosts.push({ name: 'default', domains: ['*'], routes: [route(outboundClusterName(port, services[0]!.svc.hostname))] });
  }
  return { name: outboundRouteName(port), virtual_hosts: vhosts, validate_clusters: false };
}

/**
 * Service ports by number and the domains a caller may use for a service: the lookups the
 * outbound listeners and routes share. The route configurations themselves are built by
 * http-routes.ts (with the mesh's route sets applied).
 */
import type { MeshSnapshot, Service, ServicePort } from '../../model/types.js';
import { isHttpProtocol } from '../../config/protocol.js';
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

/**
 * Service ports by number and the domains a caller may use for a service: the lookups the
 * outbound listeners and routes share. The route configurations themselves are built by
 * http-routes.ts (with the mesh's route sets applied).
 */
import type { MeshSnapshot, Service, ServicePort } from '../../model/types.js';
import { isHttpProtocol } from '../../config/protocol.js';
import { cmp } from './common.js';
import { meshPorts } from './outbound-clusters.js';

type PortsByNumber = ReadonlyMap<number, readonly { readonly svc: Service; readonly sp: ServicePort }[]>;
const portsMemo = new WeakMap<MeshSnapshot, { http?: PortsByNumber; tcp?: PortsByNumber }>();

/**
 * Service ports grouped by port number, services sorted by name then namespace. Memoized per
 * snapshot (every proxy's outbound listeners ask on every full push; a scan of every service
 * per proxy was a fifth of the server's CPU there); the result must not be mutated.
 */
export function portsByNumber(snapshot: MeshSnapshot, http: boolean): PortsByNumber {
  let e = portsMemo.get(snapshot);
  if (!e) portsMemo.set(snapshot, (e = {}));
  const k = http ? 'http' : 'tcp';
  return (e[k] ??= buildPortsByNumber(snapshot, http));
}

function buildPortsByNumber(snapshot: MeshSnapshot, http: boolean): PortsByNumber {
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
  const short = `${name}.${namespace}`;
  const out = [svc.hostname, `${svc.hostname}:${port}`, `${short}.svc`, `${short}.svc:${port}`, short, `${short}:${port}`];
  if (fromNamespace === namespace) out.push(name, `${name}:${port}`);
  if (svc.clusterIP) out.push(svc.clusterIP, `${svc.clusterIP}:${port}`);
  return out;
}

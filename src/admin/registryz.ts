/**
 * `/debug/registryz`: the service registry as meshd sees it right now (namespaces, services,
 * workloads and which services each workload serves), from the current snapshot.
 */
import type { MeshSnapshot, Service, Workload } from '../model/types.js';
import { selectorMatches } from '../authz/index.js';

/** Whether a service selects a workload (same namespace, selector labels present). */
export function serviceSelects(s: Service, w: Workload): boolean {
  return s.selector !== undefined && s.meta.namespace === w.namespace && selectorMatches(s.selector, w.labels);
}

/** The services (hostnames) a workload serves, sorted. */
export function servicesOf(snapshot: MeshSnapshot, w: Workload): string[] {
  return snapshot.services.filter((s) => serviceSelects(s, w)).map((s) => s.hostname).sort();
}

/** The registry JSON: plain data, sorted as the snapshot is. */
export function registryz(snapshot: MeshSnapshot): unknown {
  return {
    generation: snapshot.generation,
    trustDomain: snapshot.config.trustDomain,
    namespaces: snapshot.namespaces.map((n) => n.meta.name),
    services: snapshot.services.map((s) => ({
      namespace: s.meta.namespace, name: s.meta.name, hostname: s.hostname, clusterIP: s.clusterIP ?? null,
      selector: s.selector ?? null,
      ports: s.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol })),
      workloads: snapshot.workloads.filter((w) => serviceSelects(s, w)).map((w) => `${w.namespace}/${w.name}`),
    })),
    workloads: snapshot.workloads.map((w) => ({
      namespace: w.namespace, name: w.name, address: w.address, serviceAccount: w.serviceAccount,
      spiffeId: `spiffe://${snapshot.config.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`,
      labels: w.labels, ports: w.ports, meshed: w.meshed, ready: w.ready, source: w.meta.source,
      services: servicesOf(snapshot, w),
    })),
  };
}

/** Building the immutable MeshSnapshot from validated objects. */
import type { AuthorizationPolicy, MeshConfig, MeshSnapshot, Namespace, ObjectMeta, PeerAuthentication, RequestAuthentication, Service, Telemetry, Workload } from '../model/types.js';
import type { DestinationRule, RouteSet, ServiceEntry, SidecarScope } from '../model/traffic.js';
import { applyMeshConfig } from './mesh-config.js';
import { keyOf, type MeshObject } from './parse.js';

/** Freezes an object graph in place (plain data only) and returns it. */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

function byNsName<T extends { readonly meta: ObjectMeta }>(a: T, b: T): number {
  const x = a.meta.namespace + '\u0000' + a.meta.name;
  const y = b.meta.namespace + '\u0000' + b.meta.name;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Sorts objects by kind, namespace, name (the order sources emit them in). */
export function sortObjects(objects: readonly MeshObject[]): MeshObject[] {
  return [...objects].sort((a, b) => { const x = keyOf(a); const y = keyOf(b); return x < y ? -1 : x > y ? 1 : 0; });
}

/**
 * Builds a snapshot: every array sorted by namespace then name, everything deep-frozen. If two
 * objects share kind/namespace/name the first one given wins (sources report duplicates). A
 * MeshConfig object (the mesh config file or ConfigMap) is applied over `config`.
 */
export function buildSnapshot(objects: readonly MeshObject[], config: MeshConfig, generation: number): MeshSnapshot {
  const seen = new Set<string>();
  const namespaces: Namespace[] = [];
  const services: Service[] = [];
  const workloads: Workload[] = [];
  const peerAuthentications: PeerAuthentication[] = [];
  const authorizationPolicies: AuthorizationPolicy[] = [];
  const routeSets: RouteSet[] = [];
  const destinationRules: DestinationRule[] = [];
  const serviceEntries: ServiceEntry[] = [];
  const sidecars: SidecarScope[] = [];
  const requestAuthentications: RequestAuthentication[] = [];
  const telemetries: Telemetry[] = [];
  let merged = config;
  for (const o of objects) {
    const k = keyOf(o);
    if (seen.has(k)) continue;
    seen.add(k);
    switch (o.kind) {
      case 'Namespace': namespaces.push(o.value); break;
      case 'Service': services.push(o.value); break;
      case 'WorkloadEntry': workloads.push(o.value); break;
      case 'PeerAuthentication': peerAuthentications.push(o.value); break;
      case 'AuthorizationPolicy': authorizationPolicies.push(o.value); break;
      case 'VirtualService': case 'HTTPRoute': case 'GRPCRoute': routeSets.push(o.value); break;
      case 'DestinationRule': destinationRules.push(o.value); break;
      case 'ServiceEntry': serviceEntries.push(o.value); break;
      case 'Sidecar': sidecars.push(o.value); break;
      case 'RequestAuthentication': requestAuthentications.push(o.value); break;
      case 'Telemetry': telemetries.push(o.value); break;
      case 'MeshConfig': merged = applyMeshConfig(config, o.value.overrides); break;
    }
  }
  return deepFreeze({
    generation,
    config: merged,
    namespaces: namespaces.sort(byNsName),
    services: services.sort(byNsName),
    workloads: workloads.sort(byNsName),
    peerAuthentications: peerAuthentications.sort(byNsName),
    authorizationPolicies: authorizationPolicies.sort(byNsName),
    routeSets: routeSets.sort(byNsName),
    destinationRules: destinationRules.sort(byNsName),
    serviceEntries: serviceEntries.sort(byNsName),
    sidecars: sidecars.sort(byNsName),
    requestAuthentications: requestAuthentications.sort(byNsName),
    telemetries: telemetries.sort(byNsName),
  });
}

/**
 * `/debug/traffic`: the traffic model in force (the last good version of every VirtualService,
 * HTTPRoute, GRPCRoute, DestinationRule, ServiceEntry and Sidecar, as the model holds them) and
 * the localities and weights of workloads, from one snapshot. `?namespace=` keeps one namespace.
 */
import type { MeshSnapshot } from '../model/types.js';
import type { DestinationRule, Locality, RouteSet, ServiceEntry, SidecarScope } from '../model/traffic.js';

export interface TrafficView {
  readonly generation: number;
  readonly routeSets: readonly RouteSet[];
  readonly destinationRules: readonly DestinationRule[];
  readonly serviceEntries: readonly ServiceEntry[];
  readonly sidecars: readonly SidecarScope[];
  /** Workloads with a locality or a weight (WorkloadEntries, Pods on labelled nodes). */
  readonly workloads: readonly { namespace: string; name: string; address: string; locality?: Locality; weight?: number }[];
}

/** The traffic part of a snapshot, optionally for one namespace (objects are the snapshot's own, frozen). */
export function trafficView(s: MeshSnapshot, namespace?: string): TrafficView {
  const keep = <T extends { readonly meta: { readonly namespace: string } }>(l: readonly T[]): readonly T[] => (namespace ? l.filter((x) => x.meta.namespace === namespace) : l);
  return {
    generation: s.generation,
    routeSets: keep(s.routeSets),
    destinationRules: keep(s.destinationRules),
    serviceEntries: keep(s.serviceEntries),
    sidecars: keep(s.sidecars),
    workloads: keep(s.workloads).filter((w) => w.locality || w.weight !== undefined).map((w) => ({
      namespace: w.namespace, name: w.name, address: w.address,
      ...(w.locality ? { locality: w.locality } : {}), ...(w.weight !== undefined ? { weight: w.weight } : {}),
    })),
  };
}

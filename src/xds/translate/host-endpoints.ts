/**
 * Endpoints of a registry host port, whatever defines the host: a Service's selected ready
 * workloads, or a ServiceEntry's `endpoints` plus the workloads its `workloadSelector` picks
 * (same namespace). One shape for all, so subsets, locality and cluster builders need no case.
 */
import type { Labels, MeshSnapshot, Workload } from '../../model/types.js';
import type { Locality } from '../../model/traffic.js';
import { effectiveMtls } from '../../authz/index.js';
import { cmp, selects, workloadPort } from './common.js';
import { serviceEndpoints } from './outbound-clusters.js';
import { asServicePort, type RegistryHost, type RegistryPort } from './registry.js';
import { workloadCandidates } from './workload-index.js';
import { differsOnlyInWorkloads } from '../incremental/snapshot-delta.js';

/** Endpoint label that marks a ServiceEntry endpoint as speaking mesh mTLS (as Istio's). */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/** One endpoint: an address (an IP, or a hostname for DNS resolution) and port, with what subsets and locality need. */
export interface HostEndpoint {
  readonly address: string;
  readonly port: number;
  readonly labels: Labels;
  readonly locality?: Locality;
  readonly weight?: number;
  /** Whether callers use mesh mTLS by default (meshed workload, or a MESH_INTERNAL endpoint labelled tlsMode istio). */
  readonly mtls: boolean;
  /** Meshed service account of the endpoint, for SANs. */
  readonly serviceAccount?: string;
}

function seTargetPort(p: RegistryPort): number {
  return typeof p.targetPort === 'number' ? p.targetPort : p.port;
}

const memo = new WeakMap<MeshSnapshot, Map<string, readonly HostEndpoint[]>>();

/**
 * The endpoints last built per host port, with their snapshot and the workloads they were
 * built from (bounded). Endpoints read the snapshot's workloads only through those candidates;
 * so in a snapshot that differs only in workloads, a host port whose candidates are the same
 * objects keeps its array: an endpoint change rebuilds one service's endpoints, not every
 * service's, and what is built from them (ClusterLoadAssignments) can be kept by identity.
 */
let carried = new Map<string, { readonly snapshot: MeshSnapshot; readonly from: readonly Workload[]; readonly eps: readonly HostEndpoint[] }>();
const MAX_CARRIED = 100_000;

/** Drops the endpoints carried across snapshots (tests: translation from scratch). */
export function forgetCarriedEndpoints(): void {
  carried = new Map();
}

/**
 * Endpoints of `host`'s port `p`, sorted by address then port, one per address:port (first
 * wins). MESH_EXTERNAL endpoints never default to mesh mTLS. Memoized per snapshot; the same
 * array as in an earlier snapshot when nothing it is built from changed.
 */
export function hostEndpoints(snapshot: MeshSnapshot, host: RegistryHost, p: RegistryPort): readonly HostEndpoint[] {
  let m = memo.get(snapshot);
  if (!m) { m = new Map(); memo.set(snapshot, m); }
  const key = `${host.namespace}/${host.name}/${host.hostname}/${p.port}`;
  let out = m.get(key);
  if (out) return out;
  const from = candidates(snapshot, host);
  const last = carried.get(key);
  if (last && last.snapshot !== snapshot && sameItems(last.from, from) && differsOnlyInWorkloads(last.snapshot, snapshot)) out = last.eps;
  else out = Object.freeze(build(snapshot, host, p));
  m.set(key, out);
  if (carried.size >= MAX_CARRIED && !carried.has(key)) carried.clear();
  carried.set(key, { snapshot, from, eps: out });
  return out;
}

const NO_WORKLOADS: readonly Workload[] = Object.freeze([]);

/** The workloads `build` may read for `host`: those carrying its selector's first label in its namespace. */
function candidates(snapshot: MeshSnapshot, host: RegistryHost): readonly Workload[] {
  if (host.service) return host.service.selector ? workloadCandidates(snapshot, host.service.meta.namespace, host.service.selector) : NO_WORKLOADS;
  const sel = host.serviceEntry?.workloadSelector;
  return sel ? workloadCandidates(snapshot, host.serviceEntry!.meta.namespace, sel) : NO_WORKLOADS;
}

function sameItems(a: readonly Workload[], b: readonly Workload[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function build(snapshot: MeshSnapshot, host: RegistryHost, p: RegistryPort): HostEndpoint[] {
  if (host.service) {
    return serviceEndpoints(snapshot, host.service, asServicePort(p)).map((e) => ({
      address: e.workload.address, port: e.port, labels: e.workload.labels, mtls: e.mtls,
      ...(e.workload.locality ? { locality: e.workload.locality } : {}),
      ...(e.workload.weight !== undefined ? { weight: e.workload.weight } : {}),
      ...(e.workload.meshed ? { serviceAccount: e.workload.serviceAccount } : {}),
    }));
  }
  const se = host.serviceEntry;
  if (!se) return [];
  const internal = host.location === 'MESH_INTERNAL';
  const out: HostEndpoint[] = [];
  for (const ep of se.endpoints) {
    out.push({
      address: ep.address, port: ep.ports[p.name] ?? seTargetPort(p), labels: ep.labels,
      mtls: internal && ep.labels[TLS_MODE_LABEL] === 'istio',
      ...(ep.locality ? { locality: ep.locality } : {}), ...(ep.weight !== undefined ? { weight: ep.weight } : {}),
      ...(ep.serviceAccount !== undefined ? { serviceAccount: ep.serviceAccount } : {}),
    });
  }
  if (se.workloadSelector) {
    const sel = se.workloadSelector;
    for (const w of workloadCandidates(snapshot, se.meta.namespace, sel)) {
      if (!w.ready || !selects(sel, w.labels)) continue;
      const port = w.ports[p.name] ?? workloadPort(w, asServicePort({ ...p, targetPort: seTargetPort(p) }));
      if (port === undefined) continue;
      let mtls = internal && w.meshed;
      if (mtls) {
        const eff = effectiveMtls(snapshot, w);
        mtls = (eff.ports.get(port) ?? eff.mode) !== 'DISABLE';
      }
      out.push({
        address: w.address, port, labels: w.labels, mtls,
        ...(w.locality ? { locality: w.locality } : {}), ...(w.weight !== undefined ? { weight: w.weight } : {}),
        ...(w.meshed ? { serviceAccount: w.serviceAccount } : {}),
      });
    }
  }
  const seen = new Set<string>();
  return out.sort((a, b) => cmp(a.address, b.address) || a.port - b.port).filter((e) => {
    const id = `${e.address}|${e.port}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

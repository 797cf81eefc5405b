/**
 * Test fixtures for authz: a minimal reader for the non-security kinds in golden inputs
 * (WorkloadEntry, Service, a `MeshConfig` document) so the cases do not depend on the file store.
 */
import YAML from 'yaml';
import type { Diagnostic, MeshConfig, MeshSnapshot, PortProtocol, Service, Workload } from '../../../src/model/types.js';
import { snapshotFromPolicies } from '../../../src/authz/index.js';
import { parseMeshConfig } from '../../../src/config/mesh-config.js';

type Raw = Record<string, unknown>;
const rec = (v: unknown): Raw => (v && typeof v === 'object' && !Array.isArray(v) ? v as Raw : {});

/** A workload for tests. */
export function workload(namespace: string, name: string, labels: Record<string, string>, ports: Record<string, number>, serviceAccount = name): Workload {
  return {
    meta: { name, namespace, labels: {}, annotations: {}, source: 'test' },
    name, namespace, address: '10.0.0.1', labels, serviceAccount, ports, meshed: true, ready: true,
  };
}

function readWorkloadEntry(o: Raw): Workload {
  const md = rec(o.metadata);
  const spec = rec(o.spec);
  return {
    ...workload(String(md.namespace ?? 'default'), String(md.name), rec(spec.labels) as Record<string, string>, rec(spec.ports) as Record<string, number>, String(spec.serviceAccount ?? md.name)),
    address: String(spec.address ?? '10.0.0.1'),
  };
}

function readService(o: Raw): Service {
  const md = rec(o.metadata);
  const spec = rec(o.spec);
  const ns = String(md.namespace ?? 'default');
  const ports = (Array.isArray(spec.ports) ? spec.ports : []).map((p: unknown) => {
    const r = rec(p);
    const name = String(r.name ?? '');
    const prefix = name.split('-')[0]!.toUpperCase();
    const protocol: PortProtocol = (['HTTP', 'HTTP2', 'GRPC', 'TCP', 'TLS', 'HTTPS'] as const).find((x) => x === prefix) ?? 'TCP';
    return { name, port: Number(r.port), targetPort: (r.targetPort as number | string | undefined) ?? Number(r.port), protocol };
  });
  return { meta: { name: String(md.name), namespace: ns, labels: {}, annotations: {}, source: 'test' }, hostname: `${md.name}.${ns}.svc.cluster.local`, selector: rec(spec.selector) as Record<string, string>, ports };
}

/** Parses a multi-document golden input into a snapshot plus the parse diagnostics. */
export function loadCase(text: string, source = 'in.yaml'): { snapshot: MeshSnapshot; diagnostics: Diagnostic[] } {
  const docs = YAML.parseAllDocuments(text).map((d) => d.toJSON() as unknown).filter((d) => d !== null);
  const workloads: Workload[] = [];
  const services: Service[] = [];
  let config: Partial<MeshConfig> = {};
  const meshDiagnostics: Diagnostic[] = [];
  for (const d of docs) {
    const o = rec(d);
    if (o.kind === 'WorkloadEntry') workloads.push(readWorkloadEntry(o));
    else if (o.kind === 'Service') services.push(readService(o));
    else if (o.kind === 'MeshConfig') {
      // Istio's mesh config, read by meshd's own parser (its errors become case diagnostics).
      const r = parseMeshConfig(o.spec, source);
      if (r.ok) config = r.value;
      else meshDiagnostics.push(...r.diagnostics);
    }
  }
  workloads.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const r = snapshotFromPolicies({ workloads, services, objects: docs, config, source });
  return { snapshot: r.snapshot, diagnostics: [...meshDiagnostics, ...r.diagnostics] };
}

/** Freezes an object graph (translation must not mutate its inputs). */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

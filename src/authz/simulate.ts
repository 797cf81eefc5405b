/**
 * Checking calls straight from policy YAML: parse the `security.istio.io` objects, build a
 * snapshot around one workload, sketch its inbound listeners, evaluate.
 */
import { DEFAULT_MESH_CONFIG } from '../model/types.js';
import type { AuthorizationPolicy, Diagnostic, MeshConfig, MeshSnapshot, PeerAuthentication, RequestAuthentication, Service, Workload } from '../model/types.js';
import { parseAuthorizationPolicy } from './parse-authz.js';
import { parsePeerAuthentication } from './parse-peer.js';
import { parseRequestAuthentication } from './parse-request-authn.js';
import { isRecord } from './parse-util.js';
import { checkCall } from './evaluate.js';
import type { Call, CallDecision } from './evaluate.js';
import { authzSketchListeners } from './sketch-listener.js';

export interface PolicyInput {
  readonly workloads: readonly Workload[];
  /** Raw objects (parsed YAML / Kubernetes JSON); kinds other than the two policies are ignored. */
  readonly objects: readonly unknown[];
  readonly services?: readonly Service[];
  readonly config?: Partial<MeshConfig>;
  readonly source?: string;
}

function byNsName(a: { meta: { namespace: string; name: string } }, b: { meta: { namespace: string; name: string } }): number {
  return `${a.meta.namespace}/${a.meta.name}`.localeCompare(`${b.meta.namespace}/${b.meta.name}`);
}

/** Builds a snapshot from raw policy objects and given workloads; invalid objects are left out and reported. */
export function snapshotFromPolicies(input: PolicyInput): { snapshot: MeshSnapshot; diagnostics: Diagnostic[] } {
  const ctx = { source: input.source ?? 'input', defaultNamespace: 'default' };
  const pas: PeerAuthentication[] = [];
  const aps: AuthorizationPolicy[] = [];
  const ras: RequestAuthentication[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const o of input.objects) {
    if (!isRecord(o)) continue;
    if (o.kind === 'PeerAuthentication') {
      const r = parsePeerAuthentication(o, ctx);
      if (r.ok) { pas.push(r.value); diagnostics.push(...r.warnings); } else diagnostics.push(...r.diagnostics);
    } else if (o.kind === 'AuthorizationPolicy') {
      const r = parseAuthorizationPolicy(o, ctx);
      if (r.ok) { aps.push(r.value); diagnostics.push(...r.warnings); } else diagnostics.push(...r.diagnostics);
    } else if (o.kind === 'RequestAuthentication') {
      const r = parseRequestAuthentication(o, ctx);
      if (r.ok) { ras.push(r.value); diagnostics.push(...r.warnings); } else diagnostics.push(...r.diagnostics);
    }
  }
  const snapshot: MeshSnapshot = {
    generation: 0,
    config: { ...DEFAULT_MESH_CONFIG, ...input.config },
    namespaces: [],
    services: input.services ?? [],
    workloads: [...input.workloads],
    peerAuthentications: pas.sort(byNsName),
    authorizationPolicies: aps.sort(byNsName),
    routeSets: [], destinationRules: [], serviceEntries: [], sidecars: [],
    requestAuthentications: ras.sort(byNsName),
  };
  return { snapshot, diagnostics };
}

/** Decides a call to `workload` under the given raw policies (listeners from the authz sketch). */
export function checkWithPolicies(input: PolicyInput, workload: Workload, call: Call): CallDecision & { readonly diagnostics: readonly Diagnostic[] } {
  const { snapshot, diagnostics } = snapshotFromPolicies(input);
  return { ...checkCall(authzSketchListeners(snapshot, workload), call), diagnostics };
}

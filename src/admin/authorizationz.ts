/**
 * `/debug/authorizationz`: per workload, its effective mTLS mode per port and the
 * PeerAuthentication that set it, and the AuthorizationPolicies that select it; per policy,
 * the workloads it selects. Computed with the same functions translation uses.
 */
import type { AuthorizationPolicy, MeshSnapshot } from '../model/types.js';
import { authorizationPoliciesFor, mtlsProvenance } from '../authz/index.js';

function policySummary(p: AuthorizationPolicy): Record<string, unknown> {
  return { namespace: p.meta.namespace, name: p.meta.name, action: p.action, dryRun: p.dryRun, rules: p.rules?.length ?? 0, selector: p.selector ?? null, ...(p.provider ? { provider: p.provider.name } : {}) };
}

/** The whole view, or one workload's part of it (`namespace/name`); undefined for an unknown workload. */
export function authorizationz(snapshot: MeshSnapshot, only?: string): unknown {
  const workloads = snapshot.workloads.filter((w) => !only || `${w.namespace}/${w.name}` === only);
  if (only && workloads.length === 0) return undefined;
  const selected = new Map<AuthorizationPolicy, string[]>();
  const rows = workloads.map((w) => {
    const policies = authorizationPoliciesFor(snapshot, w);
    for (const p of policies) selected.set(p, [...(selected.get(p) ?? []), `${w.namespace}/${w.name}`]);
    return { namespace: w.namespace, name: w.name, meshed: w.meshed, mtls: mtlsProvenance(snapshot, w), policies: policies.map(policySummary) };
  });
  return {
    workloads: rows,
    authorizationPolicies: snapshot.authorizationPolicies.map((p) => ({ ...policySummary(p), selects: selected.get(p) ?? [] })),
    peerAuthentications: snapshot.peerAuthentications.map((p) => ({
      namespace: p.meta.namespace, name: p.meta.name, mode: p.mtls?.mode ?? 'UNSET', selector: p.selector ?? null,
      portLevelMtls: Object.fromEntries(Object.entries(p.portLevelMtls ?? {}).map(([k, v]) => [k, v.mode])),
    })),
  };
}

/**
 * Snapshot-level checks on security policies: legal configuration that is likely a mistake.
 */
import type { AuthorizationPolicy, Diagnostic, MeshSnapshot, PeerAuthentication } from '../model/types.js';
import { selectorMatches } from './select.js';

function warn(p: AuthorizationPolicy | PeerAuthentication, kind: string, field: string, message: string): Diagnostic {
  return { severity: 'warning', source: p.meta.source, kind, namespace: p.meta.namespace, name: p.meta.name, field, message };
}

/**
 * Warnings over a whole snapshot: selectors that match no workload, PeerAuthentication
 * selectors in the root namespace (never mesh-wide), `portLevelMtls` ports no selected workload
 * has, several policies competing at one PeerAuthentication level, CUSTOM providers missing
 * from the mesh config. Sorted by namespace, name, field.
 */
export function policyWarnings(snapshot: MeshSnapshot): Diagnostic[] {
  const out: Diagnostic[] = [];
  const root = snapshot.config.rootNamespace;
  for (const p of snapshot.authorizationPolicies) {
    const kind = 'AuthorizationPolicy';
    if (p.selector) {
      const sel = p.selector;
      const hits = snapshot.workloads.filter((w) => (p.meta.namespace === root || w.namespace === p.meta.namespace) && selectorMatches(sel, w.labels));
      if (hits.length === 0) out.push(warn(p, kind, 'spec.selector', `selects no workload${p.meta.namespace === root ? ' in any namespace' : ` in namespace ${p.meta.namespace}`}`));
    }
    if (p.action === 'CUSTOM' && p.provider && !snapshot.config.extensionProviders.some((e) => e.name === p.provider!.name)) {
      out.push({ ...warn(p, kind, 'spec.provider.name', `no extension provider "${p.provider.name}" in the mesh config: matching requests are denied`), severity: 'error' });
    }
  }
  const levels = new Map<string, PeerAuthentication[]>();
  for (const p of snapshot.peerAuthentications) {
    const kind = 'PeerAuthentication';
    if (!p.selector) {
      const k = p.meta.namespace;
      levels.set(k, [...(levels.get(k) ?? []), p]);
      continue;
    }
    const sel = p.selector;
    if (p.meta.namespace === root) out.push(warn(p, kind, 'spec.selector', `a selector policy in the root namespace (${root}) is not mesh-wide: it applies only to workloads in ${root}`));
    const hits = snapshot.workloads.filter((w) => w.namespace === p.meta.namespace && selectorMatches(sel, w.labels));
    if (hits.length === 0) out.push(warn(p, kind, 'spec.selector', `selects no workload in namespace ${p.meta.namespace}`));
    for (const port of Object.keys(p.portLevelMtls ?? {})) {
      if (hits.length && !hits.some((w) => Object.values(w.ports).includes(Number(port)))) {
        out.push(warn(p, kind, `spec.portLevelMtls[${port}]`, `no selected workload has port ${port} (ports are the workload's, not the service's)`));
      }
    }
  }
  for (const [ns, ps] of levels) {
    if (ps.length > 1) {
      for (const p of ps) out.push(warn(p, 'PeerAuthentication', 'spec', `${ps.length} namespace-wide policies in ${ns}${ns === root ? ' (mesh-wide)' : ''}: only the oldest applies`));
    }
  }
  return out.sort((a, b) => `${a.namespace}/${a.name}/${a.kind}/${a.field}`.localeCompare(`${b.namespace}/${b.name}/${b.kind}/${b.field}`));
}

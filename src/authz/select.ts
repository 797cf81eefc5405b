/**
 * Which security policies apply to a workload, with per-snapshot indexes so that translating
 * many proxies from one snapshot scans each policy list once.
 */
import type { AuthorizationPolicy, Labels, MeshSnapshot, PeerAuthentication, Workload } from '../model/types.js';

/** Whether every selector label is on the workload (Kubernetes matchLabels). */
export function selectorMatches(selector: Labels, labels: Labels): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

interface Index {
  readonly authzByNs: Map<string, AuthorizationPolicy[]>;
  readonly peerByNs: Map<string, PeerAuthentication[]>;
}
const indexes = new WeakMap<MeshSnapshot, Index>();

function index(snapshot: MeshSnapshot): Index {
  let ix = indexes.get(snapshot);
  if (ix) return ix;
  const authzByNs = new Map<string, AuthorizationPolicy[]>();
  for (const p of snapshot.authorizationPolicies) {
    const l = authzByNs.get(p.meta.namespace);
    if (l) l.push(p); else authzByNs.set(p.meta.namespace, [p]);
  }
  const peerByNs = new Map<string, PeerAuthentication[]>();
  for (const p of snapshot.peerAuthentications) {
    const l = peerByNs.get(p.meta.namespace);
    if (l) l.push(p); else peerByNs.set(p.meta.namespace, [p]);
  }
  ix = { authzByNs, peerByNs };
  indexes.set(snapshot, ix);
  return ix;
}

/** Orders by namespace, then name: the order of RBAC policies in generated config. */
function byNamespaceName(a: { meta: { namespace: string; name: string } }, b: { meta: { namespace: string; name: string } }): number {
  return a.meta.namespace < b.meta.namespace ? -1 : a.meta.namespace > b.meta.namespace ? 1 : a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;
}

/**
 * AuthorizationPolicies that apply to a workload, as Istio's sidecars see them: those in the
 * workload's namespace and in the root namespace (mesh-wide), with no selector or a selector
 * matching the workload's labels; policies with targetRefs apply to no sidecar. Sorted by
 * namespace then name.
 */
export function authorizationPoliciesFor(snapshot: MeshSnapshot, workload: Workload): AuthorizationPolicy[] {
  const ix = index(snapshot);
  const root = snapshot.config.rootNamespace;
  const nss = workload.namespace === root ? [root] : [root, workload.namespace];
  const out: AuthorizationPolicy[] = [];
  for (const ns of nss) {
    for (const p of ix.authzByNs.get(ns) ?? []) {
      if (p.targetRefs?.length) continue;
      if (p.selector && !selectorMatches(p.selector, workload.labels)) continue;
      out.push(p);
    }
  }
  return out.sort(byNamespaceName);
}

/** PeerAuthentications in one namespace (snapshot order). */
export function peerAuthenticationsIn(snapshot: MeshSnapshot, namespace: string): readonly PeerAuthentication[] {
  return index(snapshot).peerByNs.get(namespace) ?? [];
}

/**
 * The oldest of several policies at one level: earliest `creationTimestamp` (a missing one counts
 * as oldest, like Go's zero time in Istio), then name order.
 */
export function oldest<T extends { meta: { name: string; creationTimestamp?: string } }>(items: readonly T[]): T | undefined {
  let best: T | undefined;
  let bestT = 0;
  for (const it of items) {
    const t = it.meta.creationTimestamp ? Date.parse(it.meta.creationTimestamp) : -Infinity;
    if (!best || t < bestT || (t === bestT && it.meta.name < best.meta.name)) { best = it; bestT = t; }
  }
  return best;
}

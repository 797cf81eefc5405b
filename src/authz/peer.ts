/**
 * The PeerAuthentication merge: one pure function, Istio's precedence.
 */
import type { MeshSnapshot, MtlsMode, PeerAuthentication, Workload } from '../model/types.js';
import { oldest, peerAuthenticationsIn, selectorMatches } from './select.js';

/** The effective inbound mTLS mode for a workload: never UNSET (nothing set means PERMISSIVE). */
export type EffectiveMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface EffectiveMtls {
  /** Mode for ports without a port-level setting. */
  readonly mode: EffectiveMode;
  /** Port-level overrides, keyed by the workload's port number. */
  readonly ports: ReadonlyMap<number, EffectiveMode>;
}

/** The three policies that decide a workload's mTLS, any of them absent. */
export interface PeerAuthenticationLevels {
  readonly mesh?: PeerAuthentication;
  readonly namespace?: PeerAuthentication;
  readonly workload?: PeerAuthentication;
}

/**
 * Picks the policy at each level for a workload: mesh = no selector in the root namespace;
 * namespace = no selector in the workload's namespace; workload = selector matching the
 * workload's labels in the workload's own namespace. A selector policy in the root namespace
 * is never mesh-wide (it only selects workloads of the root namespace). Several at one level:
 * the oldest wins (see `oldest`).
 */
export function peerAuthenticationLevels(snapshot: MeshSnapshot, workload: Workload): PeerAuthenticationLevels {
  const root = snapshot.config.rootNamespace;
  const own = peerAuthenticationsIn(snapshot, workload.namespace);
  const mesh = oldest(peerAuthenticationsIn(snapshot, root).filter((p) => !p.selector));
  const namespace = workload.namespace === root ? undefined : oldest(own.filter((p) => !p.selector));
  const workloadLevel = oldest(own.filter((p) => p.selector !== undefined && selectorMatches(p.selector, workload.labels)));
  return { ...(mesh ? { mesh } : {}), ...(namespace ? { namespace } : {}), ...(workloadLevel ? { workload: workloadLevel } : {}) };
}

function inherit(parent: EffectiveMode | undefined, mode: MtlsMode | undefined): EffectiveMode | undefined {
  return mode === undefined || mode === 'UNSET' ? parent : mode;
}

const memo = new WeakMap<MeshSnapshot, Map<string, EffectiveMtls>>();
/** What every workload gets when the snapshot has no PeerAuthentication at all (shared; the common case). */
const NOTHING_SET: EffectiveMtls = Object.freeze({ mode: 'PERMISSIVE', ports: new Map<number, EffectiveMode>() });

/**
 * Merges PeerAuthentications for one workload. Precedence: the workload-selector policy over
 * the namespace policy over the mesh policy (root namespace, no selector); a level whose mode is
 * UNSET (or has no `mtls`) inherits from the level above; nothing set anywhere → PERMISSIVE.
 * Several policies at one level → the oldest `creationTimestamp` wins, then name order.
 * `portLevelMtls` comes only from the workload-selector policy, is keyed by the workload's port
 * number, and an UNSET port inherits the workload's effective mode.
 */
export function effectiveMtls(snapshot: MeshSnapshot, workload: Workload): EffectiveMtls {
  if (snapshot.peerAuthentications.length === 0) return NOTHING_SET;
  let bySnap = memo.get(snapshot);
  if (!bySnap) { bySnap = new Map(); memo.set(snapshot, bySnap); }
  const key = `${workload.namespace}/${workload.name}`;
  const hit = bySnap.get(key);
  if (hit) return hit;
  const lv = peerAuthenticationLevels(snapshot, workload);
  let mode = inherit(undefined, lv.mesh?.mtls?.mode);
  mode = inherit(mode, lv.namespace?.mtls?.mode);
  mode = inherit(mode, lv.workload?.mtls?.mode);
  const base: EffectiveMode = mode ?? 'PERMISSIVE';
  const ports = new Map<number, EffectiveMode>();
  const pl = lv.workload?.portLevelMtls ?? {};
  for (const k of Object.keys(pl).sort((a, b) => Number(a) - Number(b))) {
    ports.set(Number(k), inherit(base, pl[k]!.mode) ?? base);
  }
  const out: EffectiveMtls = Object.freeze({ mode: base, ports });
  bySnap.set(key, out);
  return out;
}

/** The effective mode on one workload port (a port-level setting, else the workload's mode). */
export function effectiveModeForPort(m: EffectiveMtls, port: number): EffectiveMode {
  return m.ports.get(port) ?? m.mode;
}

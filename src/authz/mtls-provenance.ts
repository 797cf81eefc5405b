/**
 * Where a workload's mTLS mode comes from: per port, the effective mode and the
 * PeerAuthentication (and its level) that decided it, by the same merge translation uses.
 */
import type { MeshSnapshot, PeerAuthentication, Workload } from '../model/types.js';
import { effectiveModeForPort, effectiveMtls, peerAuthenticationLevels } from './peer.js';

/** Which policy decided a mode: `namespace/name` and its level, or the default. */
export interface ModeSource {
  readonly policy: string | null;
  readonly level: 'workload' | 'workload (port level)' | 'namespace' | 'mesh' | 'default';
}

/** One port's mode and the deciding policy. */
export interface PortMtls { readonly port: number; readonly mode: string; readonly setBy: ModeSource }

/** A workload's mode and each of its ports' modes, with the deciding policy. */
export interface WorkloadMtls { readonly mode: string; readonly setBy: ModeSource; readonly ports: readonly PortMtls[] }

const nsName = (p: { meta: { namespace: string; name: string } }): string => `${p.meta.namespace}/${p.meta.name}`;

function decided(p: PeerAuthentication | undefined): boolean {
  return p?.mtls !== undefined && p.mtls.mode !== 'UNSET';
}

/**
 * The effective mode of a workload and of each of its ports, with the policy that decided
 * each: the lowest level (workload, namespace, mesh) whose mode is not UNSET; a port-level
 * setting of the workload policy wins for its port.
 */
export function mtlsProvenance(snapshot: MeshSnapshot, w: Workload): WorkloadMtls {
  const lv = peerAuthenticationLevels(snapshot, w);
  const eff = effectiveMtls(snapshot, w);
  const pick = ([['workload', lv.workload], ['namespace', lv.namespace], ['mesh', lv.mesh]] as const).find(([, p]) => decided(p));
  const setBy: ModeSource = pick ? { policy: nsName(pick[1]!), level: pick[0] } : { policy: null, level: 'default' };
  const portNumbers = new Set<number>([...Object.values(w.ports), ...eff.ports.keys()]);
  const ports = [...portNumbers].sort((a, b) => a - b).map((port) => {
    const portLevel = lv.workload?.portLevelMtls?.[String(port)];
    const own = portLevel !== undefined && portLevel.mode !== 'UNSET';
    return { port, mode: effectiveModeForPort(eff, port), setBy: own ? { policy: nsName(lv.workload!), level: 'workload (port level)' as const } : setBy };
  });
  return { mode: eff.mode, setBy, ports };
}


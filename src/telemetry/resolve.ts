/**
 * Names for the ends of an edge, from the current snapshot. The destination comes from the
 * stream's credential (its namespace and service account); node metadata only picks among the
 * workloads that credential may speak for. The source comes from the caller's SPIFFE id, else
 * from its address.
 */
import type { Identity, MeshSnapshot, Workload } from '../model/types.js';
import { spiffeId } from '../model/types.js';
import { parseSpiffeId } from '../ca/spiffe.js';
import { parseNodeId } from '../xds/names.js';
import type { Destination } from './store.js';

/**
 * The destination a log stream speaks for: the node's claimed workload if the credential's
 * identity owns it, else the only workload with that identity, else `sa/<serviceAccount>`.
 * Without an identity (unauthenticated mode) the node's claim is used as is, or undefined.
 */
export function resolveDestination(snapshot: MeshSnapshot, identity: Identity | undefined, nodeId: string): Destination | undefined {
  const claim = parseNodeId(nodeId);
  if (!identity) {
    if (!claim) return undefined;
    return { namespace: claim.namespace, workload: claim.name, serverId: '' };
  }
  const serverId = spiffeId(identity);
  const owned = snapshot.workloads.filter((w) => w.namespace === identity.namespace && w.serviceAccount === identity.serviceAccount);
  const claimed = claim && claim.namespace === identity.namespace ? owned.find((w) => w.name === claim.name) : undefined;
  const w = claimed ?? (owned.length === 1 ? owned[0] : undefined);
  return { namespace: identity.namespace, workload: w ? w.name : `sa/${identity.serviceAccount}`, serverId };
}

function byAddress(snapshot: MeshSnapshot, address: string, among: readonly Workload[] = snapshot.workloads): Workload | undefined {
  if (!address) return undefined;
  return among.find((w) => w.address === address) ?? among.find((w) => w.appAddress === address || w.outboundAddress === address);
}

/**
 * The caller of an edge: by SPIFFE id, the workload with that identity (the one at the source
 * address when several share it; their names joined by `,` when that does not decide); without
 * one, the workload at the source address; else the address itself (namespace '').
 */
export function resolveSource(snapshot: MeshSnapshot, clientId: string, sourceAddress: string): { name: string; namespace: string } {
  const id = clientId ? parseSpiffeId(clientId) : undefined;
  if (id) {
    const owned = snapshot.workloads.filter((w) => w.namespace === id.namespace && w.serviceAccount === id.serviceAccount);
    const at = byAddress(snapshot, sourceAddress, owned);
    if (at) return { name: at.name, namespace: at.namespace };
    if (owned.length > 0) return { name: owned.map((w) => w.name).sort().join(','), namespace: id.namespace };
    return { name: `sa/${id.serviceAccount}`, namespace: id.namespace };
  }
  const w = byAddress(snapshot, sourceAddress);
  return w ? { name: w.name, namespace: w.namespace } : { name: sourceAddress, namespace: '' };
}

/**
 * The mesh's outbound traffic policy at the edges of a sidecar's config: with REGISTRY_ONLY,
 * connections to addresses no listener claims (virtualOutbound's default chain) go to
 * BlackHoleCluster instead of PassthroughCluster, as Istio's (the HTTP catch-all virtual host
 * does the same in outbound-routes.ts; Envoy answers 502 there).
 */
import type { OutboundTrafficMode } from '../../model/traffic.js';
import type { EnvoyObject } from '../resource-types.js';
import { BLACKHOLE_CLUSTER, VIRTUAL_OUTBOUND } from '../names.js';
import { tcpProxy } from './common.js';

/** `listener` as the policy wants it: virtualOutbound's catch-all chain to BlackHoleCluster under REGISTRY_ONLY; anything else unchanged. */
export function withOutboundPolicy(listener: EnvoyObject, policy: OutboundTrafficMode): EnvoyObject {
  if (policy !== 'REGISTRY_ONLY' || listener.name !== VIRTUAL_OUTBOUND) return listener;
  return { ...listener, filter_chains: [{ name: BLACKHOLE_CLUSTER, filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)] }] };
}

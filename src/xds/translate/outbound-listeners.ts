/**
 * A sidecar's outbound listeners. Explicit interception (`NONE`): one bound listener per
 * service port on the app-facing outbound address. Transparent (`REDIRECT`): virtualOutbound
 * on 15001 hands connections to unbound per-port listeners by original destination.
 */
import type { Diagnostic, MeshSnapshot, Service, ServicePort } from '../../model/types.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { PASSTHROUGH_CLUSTER, VIRTUAL_OUTBOUND, VIRTUAL_OUTBOUND_PORT, addressListenerName, outboundClusterName, outboundRouteName } from '../names.js';
import { ADS_SOURCE, CORS_FILTER, FAULT_FILTER, ROUTER_FILTER, diag, socketAddress, stdoutAccessLog, tcpProxy } from './common.js';
import { portsByNumber } from './outbound-routes.js';

/** Outbound HCM on one port: routes come by RDS from the shared route configuration (also for listener-scope.ts). */
export function outboundHcm(port: number): EnvoyObject {
  return {
    name: Filter.HttpConnectionManager,
    typed_config: typed(TypeName.HttpConnectionManager, {
      stat_prefix: `outbound_${port}`,
      codec_type: 'AUTO',
      rds: { route_config_name: outboundRouteName(port), config_source: ADS_SOURCE },
      // Fault and CORS act only on routes that carry their per-route config (route-actions.ts).
      http_filters: [FAULT_FILTER, CORS_FILTER, ROUTER_FILTER],
      upgrade_configs: [{ upgrade_type: 'websocket' }],
      access_log: [stdoutAccessLog('outbound')],
    }),
  };
}

function tcpChain(svc: Service, sp: ServicePort): EnvoyObject {
  const cluster = outboundClusterName(sp.port, svc.hostname);
  return { filters: [tcpProxy(cluster, cluster)] };
}

/** TCP services per port: the first by name wins a shared port; the others get a diagnostic. */
function tcpWinners(snapshot: MeshSnapshot, httpPorts: ReadonlySet<number>, diagnostics: Diagnostic[], needIp: boolean): { svc: Service; sp: ServicePort }[] {
  const out: { svc: Service; sp: ServicePort }[] = [];
  for (const [port, list] of portsByNumber(snapshot, false)) {
    if (needIp) {
      for (const e of list) {
        if (e.svc.clusterIP) out.push(e);
        else diagnostics.push(diag('Service', e.svc.meta.namespace, e.svc.meta.name, 'spec.clusterIP', `TCP port ${port} needs a clusterIP in transparent mode; not reachable through the sidecar`));
      }
      continue;
    }
    const [first, ...rest] = list;
    if (httpPorts.has(port)) {
      for (const e of list) diagnostics.push(diag('Service', e.svc.meta.namespace, e.svc.meta.name, 'spec.ports', `TCP port ${port} is also an HTTP port of another service; explicit mode serves HTTP there`));
      continue;
    }
    if (first) out.push(first);
    for (const e of rest) diagnostics.push(diag('Service', e.svc.meta.namespace, e.svc.meta.name, 'spec.ports', `TCP port ${port} is also used by ${first!.svc.hostname}, which wins in explicit mode (first by name)`));
  }
  return out;
}

/** Explicit mode: listeners bound on `<bindAddress>:<port>` for every service port. */
export function explicitOutboundListeners(snapshot: MeshSnapshot, bindAddress: string, diagnostics: Diagnostic[]): EnvoyObject[] {
  const http = portsByNumber(snapshot, true);
  const listeners: EnvoyObject[] = [];
  for (const port of http.keys()) {
    listeners.push({
      name: addressListenerName(bindAddress, port),
      address: socketAddress(bindAddress, port),
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [outboundHcm(port)] }],
    });
  }
  for (const { svc, sp } of tcpWinners(snapshot, new Set(http.keys()), diagnostics, false)) {
    listeners.push({
      name: addressListenerName(bindAddress, sp.port),
      address: socketAddress(bindAddress, sp.port),
      traffic_direction: 'OUTBOUND',
      filter_chains: [tcpChain(svc, sp)],
    });
  }
  return listeners;
}

/**
 * Transparent mode: virtualOutbound (original destination, default PassthroughCluster),
 * `0.0.0.0_<port>` per HTTP port and `<clusterIP>_<port>` per TCP service port, unbound.
 */
export function transparentOutboundListeners(snapshot: MeshSnapshot, diagnostics: Diagnostic[]): EnvoyObject[] {
  const listeners: EnvoyObject[] = [{
    name: VIRTUAL_OUTBOUND,
    address: socketAddress('0.0.0.0', VIRTUAL_OUTBOUND_PORT),
    use_original_dst: true,
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ name: PASSTHROUGH_CLUSTER, filters: [tcpProxy(PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER)] }],
  }];
  const http = portsByNumber(snapshot, true);
  for (const port of http.keys()) {
    listeners.push({
      name: addressListenerName('0.0.0.0', port),
      address: socketAddress('0.0.0.0', port),
      bind_to_port: false,
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [outboundHcm(port)] }],
    });
  }
  const seen = new Set<string>();
  for (const { svc, sp } of tcpWinners(snapshot, new Set(http.keys()), diagnostics, true)) {
    const name = addressListenerName(svc.clusterIP!, sp.port);
    if (seen.has(name)) {
      diagnostics.push(diag('Service', svc.meta.namespace, svc.meta.name, 'spec.clusterIP', `${name} is already used by another service`));
      continue;
    }
    seen.add(name);
    listeners.push({
      name,
      address: socketAddress(svc.clusterIP!, sp.port),
      bind_to_port: false,
      traffic_direction: 'OUTBOUND',
      filter_chains: [tcpChain(svc, sp)],
    });
  }
  return listeners;
}

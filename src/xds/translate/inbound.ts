/**
 * A sidecar's inbound side: a STATIC cluster per served port to the app, and filter chains
 * per port chosen by the workload's effective mTLS mode (tls_inspector tells mesh mTLS, by its
 * ALPN, from plaintext and from the app's own TLS).
 */
import type { Diagnostic, MeshSnapshot, Workload } from '../../model/types.js';
import { effectiveMtls, inboundAuthz, type EffectiveMode } from '../../authz/index.js';
import { jwtAuthnFilter } from '../../authz/request-authn-filter.js';
import { isHttpProtocol } from '../../config/protocol.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import {
  MESH_ALPN, VIRTUAL_INBOUND, VIRTUAL_INBOUND_PORT, addressListenerName, inboundChainName, inboundClusterName,
  inboundRouteName, inboundStatPrefix,
} from '../names.js';
import { ROUTER_FILTER, cmp, diag, downstreamTlsSocket, selects, socketAddress, stdoutAccessLog, tcpProxy, workloadPort, type SecretSource } from './common.js';
import { meshPorts } from './outbound-clusters.js';
import { inboundHttpGrpcAccessLog, inboundTcpGrpcAccessLog } from '../../telemetry/als-config.js';

/** A port the workload serves to the mesh. */
export interface InboundPort {
  readonly port: number;
  readonly http: boolean;
}

/**
 * Ports of a workload that some service selecting it exposes, sorted. When services disagree
 * on the protocol of one workload port, the first service by name decides (with a diagnostic).
 */
export function inboundPorts(snapshot: MeshSnapshot, w: Workload, diagnostics: Diagnostic[]): InboundPort[] {
  const m = new Map<number, { http: boolean; by: string }>();
  for (const svc of snapshot.services) {
    if (svc.meta.namespace !== w.namespace || !selects(svc.selector, w.labels)) continue;
    for (const sp of meshPorts(svc)) {
      const port = workloadPort(w, sp);
      if (port === undefined) continue;
      const http = isHttpProtocol(sp.protocol);
      const prev = m.get(port);
      if (!prev) m.set(port, { http, by: svc.meta.name });
      else if (prev.http !== http) {
        diagnostics.push(diag('Service', svc.meta.namespace, svc.meta.name, 'spec.ports', `workload ${w.name} port ${port} is ${http ? 'HTTP' : 'TCP'} here but not in service ${prev.by}, which wins`));
      }
    }
  }
  return [...m].sort(([a], [b]) => a - b).map(([port, v]) => ({ port, http: v.http }));
}

/** `inbound|<port>||`: STATIC to the app at `<appAddress ?? 127.0.0.1>:<port>`. */
export function inboundCluster(w: Workload | undefined, port: number): EnvoyObject {
  const name = inboundClusterName(port);
  return {
    name,
    type: 'STATIC',
    connect_timeout: '10s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(w?.appAddress ?? '127.0.0.1', port) } }] }] },
  };
}

type ChainKind = 'mtls' | 'plaintext' | 'tls-passthrough';

function inboundHcm(snapshot: MeshSnapshot, w: Workload, port: number, kind: ChainKind, diagnostics: Diagnostic[]): EnvoyObject {
  const authz = inboundAuthz(snapshot, w, port, 'http');
  const jwt = jwtAuthnFilter(snapshot, w);
  if (kind === 'mtls') diagnostics.push(...jwt.diagnostics, ...authz.diagnostics);
  return {
    name: Filter.HttpConnectionManager,
    typed_config: typed(TypeName.HttpConnectionManager, {
      stat_prefix: inboundStatPrefix(kind, port),
      codec_type: 'AUTO',
      route_config: {
        name: inboundRouteName(port),
        validate_clusters: false,
        virtual_hosts: [{ name: inboundClusterName(port), domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: inboundClusterName(port), timeout: '0s' } }] }],
      },
      // JWT validation first: RBAC matches the payload it leaves in metadata.
      http_filters: [...(jwt.filter ? [jwt.filter] : []), ...authz.httpFilters, ROUTER_FILTER],
      // The app sees x-forwarded-client-cert with the caller's SPIFFE id (and nothing a caller forged).
      forward_client_cert_details: 'SANITIZE_SET',
      set_current_client_cert_details: { uri: true },
      upgrade_configs: [{ upgrade_type: 'websocket' }],
      // meshd's AccessLogService sees every inbound request: edges, plaintext, denials.
      access_log: [stdoutAccessLog('inbound'), inboundHttpGrpcAccessLog(inboundChainName(kind, port))],
    }),
  };
}

/** tcp_proxy to the app, logging each connection to meshd's AccessLogService. */
function inboundTcpProxy(kind: ChainKind, port: number): EnvoyObject {
  const base = tcpProxy(inboundStatPrefix(kind, port), inboundClusterName(port));
  const cfg = base.typed_config as EnvoyObject;
  return { ...base, typed_config: { ...cfg, access_log: [inboundTcpGrpcAccessLog(inboundChainName(kind, port))] } };
}

function inboundFilters(snapshot: MeshSnapshot, w: Workload, p: InboundPort, kind: ChainKind, diagnostics: Diagnostic[]): EnvoyObject[] {
  if (kind === 'tls-passthrough') return [inboundTcpProxy(kind, p.port)];
  if (p.http) return [inboundHcm(snapshot, w, p.port, kind, diagnostics)];
  const authz = inboundAuthz(snapshot, w, p.port, 'tcp');
  if (kind === 'mtls') diagnostics.push(...authz.diagnostics);
  return [...authz.networkFilters, inboundTcpProxy(kind, p.port)];
}

/** The kinds of chains a mode allows: STRICT mTLS only; DISABLE plaintext only; PERMISSIVE all three. */
export function chainKinds(mode: EffectiveMode): ChainKind[] {
  if (mode === 'STRICT') return ['mtls'];
  if (mode === 'DISABLE') return ['plaintext'];
  return ['mtls', 'plaintext', 'tls-passthrough'];
}

/** Filter chains for one inbound port; `matchPort` adds `destination_port` (virtualInbound). */
export function inboundChains(snapshot: MeshSnapshot, w: Workload, p: InboundPort, src: SecretSource, matchPort: boolean, diagnostics: Diagnostic[]): EnvoyObject[] {
  const eff = effectiveMtls(snapshot, w);
  const mode = eff.ports.get(p.port) ?? eff.mode;
  const dest = matchPort ? { destination_port: p.port } : {};
  return chainKinds(mode).map((kind) => {
    const match = kind === 'mtls'
      ? { ...dest, transport_protocol: 'tls', application_protocols: [MESH_ALPN] }
      : { ...dest, transport_protocol: kind === 'plaintext' ? 'raw_buffer' : 'tls' };
    return {
      name: inboundChainName(kind, p.port),
      filter_chain_match: match,
      filters: inboundFilters(snapshot, w, p, kind, diagnostics),
      // The server selects the mesh ALPN, never h2/http1.1: the calling sidecar speaks whatever
      // protocol its own downstream spoke, and the inbound HCM (codec AUTO) detects it from the
      // preface. Selecting h2 here would make the HCM expect HTTP/2 from an HTTP/1.1 caller.
      ...(kind === 'mtls' ? { transport_socket: downstreamTlsSocket(src, [MESH_ALPN]) } : {}),
    };
  });
}

const TLS_INSPECTOR: EnvoyObject = { name: Filter.TlsInspector, typed_config: typed(TypeName.TlsInspector, {}) };
const ORIGINAL_DST: EnvoyObject = { name: Filter.OriginalDst, typed_config: typed(TypeName.OriginalDst, {}) };

/** Explicit mode: one listener per inbound port, bound on `<workload.address>:<port>`. */
export function explicitInboundListeners(snapshot: MeshSnapshot, w: Workload, ports: readonly InboundPort[], src: SecretSource, diagnostics: Diagnostic[]): EnvoyObject[] {
  return ports.map((p) => ({
    name: addressListenerName(w.address, p.port),
    address: socketAddress(w.address, p.port),
    traffic_direction: 'INBOUND',
    listener_filters: [TLS_INSPECTOR],
    // Server-first protocols send nothing for tls_inspector to read: fall through as plaintext.
    continue_on_listener_filters_timeout: true,
    filter_chains: inboundChains(snapshot, w, p, src, false, diagnostics),
  }));
}

/** Transparent mode: virtualInbound on 15006, chains matched by original destination port. */
export function virtualInboundListener(snapshot: MeshSnapshot, w: Workload, ports: readonly InboundPort[], src: SecretSource, diagnostics: Diagnostic[]): EnvoyObject {
  const chains = ports.flatMap((p) => inboundChains(snapshot, w, p, src, true, diagnostics));
  return {
    name: VIRTUAL_INBOUND,
    address: socketAddress('0.0.0.0', VIRTUAL_INBOUND_PORT),
    traffic_direction: 'INBOUND',
    listener_filters: [ORIGINAL_DST, TLS_INSPECTOR],
    continue_on_listener_filters_timeout: true,
    filter_chains: chains.sort((a, b) => cmp(String(a.name), String(b.name))),
  };
}

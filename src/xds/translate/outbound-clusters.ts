/**
 * Outbound clusters and their endpoints: one EDS cluster per service port, the same for every
 * proxy (auto-mTLS is decided per endpoint by metadata, not per proxy).
 */
import type { MeshSnapshot, Service, ServicePort, Workload } from '../../model/types.js';
import { spiffeId } from '../../model/types.js';
import { effectiveMtls } from '../../authz/index.js';
import { isHttpProtocol } from '../../config/protocol.js';
import { TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { BLACKHOLE_CLUSTER, MESH_ALPN, PASSTHROUGH_CLUSTER, outboundClusterName } from '../names.js';
import { ADS_SOURCE, RAW_BUFFER_SOCKET, cmp, freeze, selectedWorkloads, socketAddress, upstreamTlsSocket, workloadPort, type SecretSource } from './common.js';
import { FrozenMemo } from './frozen-memo.js';

/*
 * Pieces every cluster or endpoint of a kind repeats are built once and shared (deep-frozen):
 * 1,000 services make 3,000 clusters whose EDS source, protocol options and auto-mTLS socket
 * pair are equal per service or per mesh, so translation allocates, freezes and the encoder
 * converts each once. Output is the same as building them per cluster.
 */
const EDS_OVER_ADS: EnvoyObject = freeze({ eds_config: ADS_SOURCE });
const socketMatches = new FrozenMemo<readonly EnvoyObject[]>();
const TLS_MODE_MATCH: EnvoyObject = freeze({ tlsMode: 'istio' });
const PLAINTEXT_MATCH: EnvoyObject = freeze({ name: 'tlsMode-disabled', match: {}, transport_socket: RAW_BUFFER_SOCKET });
const sansMemo = new WeakMap<MeshSnapshot, Map<Service, string[]>>();

/** Endpoint metadata key Envoy reads for `transport_socket_matches`. */
export const TLS_MODE_METADATA = 'envoy.transport_socket_match';
/** The metadata of an endpoint that speaks mesh mTLS (shared: every such endpoint carries the same). */
export const TLS_MODE_ISTIO_METADATA: EnvoyObject = Object.freeze({ filter_metadata: Object.freeze({ [TLS_MODE_METADATA]: Object.freeze({ tlsMode: 'istio' }) }) });

/** Service ports the mesh proxies (UNSUPPORTED ones, such as UDP, are left alone). */
export function meshPorts(svc: Service): readonly ServicePort[] {
  return svc.ports.filter((p) => p.protocol !== 'UNSUPPORTED');
}

/** One endpoint of a service port: a ready workload and the port it serves on. */
export interface Endpoint {
  readonly workload: Workload;
  readonly port: number;
  /** Whether callers should use mesh mTLS: meshed and not DISABLE for that port. */
  readonly mtls: boolean;
}

/**
 * Endpoints of a service port: ready workloads selected by the service, sorted by address and
 * port; a second workload on the same address:port is dropped (first by name wins).
 */
export function serviceEndpoints(snapshot: MeshSnapshot, svc: Service, sp: ServicePort): Endpoint[] {
  const all: Endpoint[] = [];
  for (const w of selectedWorkloads(snapshot, svc)) {
    if (!w.ready) continue;
    const port = workloadPort(w, sp);
    if (port === undefined) continue;
    let mtls = w.meshed;
    if (mtls) {
      const eff = effectiveMtls(snapshot, w);
      mtls = (eff.ports.get(port) ?? eff.mode) !== 'DISABLE';
    }
    all.push({ workload: w, port, mtls });
  }
  // A stable sort keeps name order among equal address:port, so keeping the first of each run drops the later names.
  all.sort((a, b) => cmp(a.workload.address, b.workload.address) || a.port - b.port);
  const out: Endpoint[] = [];
  for (const e of all) {
    const last = out[out.length - 1];
    if (!last || last.workload.address !== e.workload.address || last.port !== e.port) out.push(e);
  }
  return out;
}

/** SPIFFE ids of the meshed service accounts behind a service, sorted and unique. */
export function serviceSans(snapshot: MeshSnapshot, svc: Service): string[] {
  let m = sansMemo.get(snapshot);
  if (!m) { m = new Map(); sansMemo.set(snapshot, m); }
  let sans = m.get(svc);
  if (!sans) { sans = freeze(buildServiceSans(snapshot, svc)); m.set(svc, sans); }
  return sans;
}

function buildServiceSans(snapshot: MeshSnapshot, svc: Service): string[] {
  const td = snapshot.config.trustDomain;
  const ids: string[] = [];
  for (const w of selectedWorkloads(snapshot, svc)) {
    if (w.meshed) ids.push(spiffeId({ trustDomain: td, namespace: w.namespace, serviceAccount: w.serviceAccount }));
  }
  // Sorted, then the repeats (workloads sharing a service account) dropped.
  ids.sort(cmp);
  return ids.filter((id, i) => i === 0 || id !== ids[i - 1]);
}

/** ClusterLoadAssignment for a service port; mTLS endpoints carry `tlsMode: istio`. */
export function loadAssignment(snapshot: MeshSnapshot, svc: Service, sp: ServicePort): EnvoyObject {
  const lbEndpoints = serviceEndpoints(snapshot, svc, sp).map((e) => ({
    endpoint: { address: socketAddress(e.workload.address, e.port) },
    ...(e.mtls ? { metadata: TLS_MODE_ISTIO_METADATA } : {}),
  }));
  return {
    cluster_name: outboundClusterName(sp.port, svc.hostname),
    // grpc-js-xds rejects localities that are unset, so an empty one is always sent.
    // gRPC clients ignore localities without a weight (and need the locality itself); Envoy
    // ignores the weight unless locality-weighted balancing is on.
    ...(lbEndpoints.length ? { endpoints: [{ locality: {}, load_balancing_weight: 1, lb_endpoints: lbEndpoints }] } : {}),
  };
}

/**
 * Upstream HTTP protocol: gRPC/HTTP2 ports always speak HTTP/2; HTTP ports speak what the app
 * spoke to its sidecar (`use_downstream_protocol_config`), as Istio does. (`auto_config` would
 * pick by ALPN, but Envoy rejects it on a cluster whose plaintext match has no ALPN.)
 */
const DOWNSTREAM_PROTOCOL_OPTIONS: EnvoyObject = freeze({ [TypeName.HttpProtocolOptions]: typed(TypeName.HttpProtocolOptions, { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } }) });
const HTTP2_PROTOCOL_OPTIONS: EnvoyObject = freeze({ [TypeName.HttpProtocolOptions]: typed(TypeName.HttpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } }) });

/** The protocol options of an HTTP port (shared, frozen): HTTP speaks what the app spoke; gRPC/HTTP2 always HTTP/2. */
export function httpProtocolOptions(protocol: ServicePort['protocol']): EnvoyObject {
  return protocol === 'HTTP' ? DOWNSTREAM_PROTOCOL_OPTIONS : HTTP2_PROTOCOL_OPTIONS;
}

/** Auto-mTLS's transport socket pair: mesh mTLS to `tlsMode: istio` endpoints, plaintext to the rest (shared by value). */
export function autoMtlsSocketMatches(src: SecretSource, alpn: readonly string[], sans: readonly string[]): readonly EnvoyObject[] {
  return socketMatches.get(`${src}|${alpn.join(',')}|${sans.join(',')}`, () => [
    { name: 'tlsMode-istio', match: TLS_MODE_MATCH, transport_socket: upstreamTlsSocket(src, alpn, sans) },
    PLAINTEXT_MATCH,
  ]);
}

/**
 * A sidecar's outbound cluster: EDS over ADS; auto-mTLS by `transport_socket_matches` (mesh
 * mTLS to endpoints tagged `tlsMode: istio`, plaintext to the rest).
 */
const HTTP_ALPN: readonly string[] = Object.freeze([MESH_ALPN, 'h2', 'http/1.1']);
const TCP_ALPN: readonly string[] = Object.freeze([MESH_ALPN]);

export function sidecarCluster(snapshot: MeshSnapshot, svc: Service, sp: ServicePort, src: SecretSource, connectTimeout: string): EnvoyObject {
  const http = isHttpProtocol(sp.protocol);
  const c: Record<string, unknown> = {
    name: outboundClusterName(sp.port, svc.hostname),
    type: 'EDS',
    eds_cluster_config: EDS_OVER_ADS,
    connect_timeout: connectTimeout,
    lb_policy: 'ROUND_ROBIN',
    transport_socket_matches: autoMtlsSocketMatches(src, http ? HTTP_ALPN : TCP_ALPN, serviceSans(snapshot, svc)),
  };
  if (http) c.typed_extension_protocol_options = httpProtocolOptions(sp.protocol);
  return c;
}

/** A proxyless gRPC client's cluster: EDS over ADS, plaintext (grpc-js-xds does its own TLS, if any). */
export function proxylessCluster(svc: Service, sp: ServicePort): EnvoyObject {
  return {
    name: outboundClusterName(sp.port, svc.hostname),
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_SOURCE },
    lb_policy: 'ROUND_ROBIN',
  };
}

/** PassthroughCluster (original destination) and BlackHoleCluster (no endpoints). */
export function specialClusters(connectTimeout: string): EnvoyObject[] {
  return [
    { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: connectTimeout },
    { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', connect_timeout: connectTimeout, lb_policy: 'CLUSTER_PROVIDED' },
  ];
}

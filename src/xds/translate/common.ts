/**
 * Builders shared by the translation modules: config sources, TLS contexts, access logs,
 * filters; and the model lookups (which workloads a service selects, which port they use).
 */
import type { Diagnostic, Labels, MeshSnapshot, ProxyInfo, Service, ServicePort, Workload } from '../../model/types.js';
import { AGENT_SDS_CLUSTER } from '../../bootstrap/render.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { SECRET_DEFAULT, SECRET_ROOTCA } from '../names.js';
import { workloadCandidates } from './workload-index.js';

export type SecretSource = NonNullable<ProxyInfo['secretSource']>;

/** Deep-freezes plain data in place and returns it (outputs of translation are immutable). */
export function freeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) freezeObject(v as object);
  return v;
}

/** The walk behind freeze(): index loops and for-in, no per-object arrays (this runs over every translated resource). */
function freezeObject(o: object): void {
  Object.freeze(o);
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const x: unknown = o[i];
      if (x !== null && typeof x === 'object' && !Object.isFrozen(x)) freezeObject(x);
    }
    return;
  }
  const r = o as Record<string, unknown>;
  for (const k in r) {
    const x = r[k];
    if (x !== null && typeof x === 'object' && !Object.isFrozen(x)) freezeObject(x);
  }
}

/** A chunk: resources sorted by `name` (or `cluster_name`), frozen. */
export function chunk(resources: EnvoyObject[]): readonly EnvoyObject[] {
  // In place, no key wrappers: builders mostly emit in name order already, which the sort's
  // run detection passes through in one pass.
  resources.sort(byResourceKey);
  return freeze(resources);
}

function byResourceKey(a: EnvoyObject, b: EnvoyObject): number {
  const x = resourceKey(a);
  const y = resourceKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function resourceKey(r: EnvoyObject): string {
  return String(r.name ?? r.cluster_name ?? '');
}

/** Compares strings by code unit (locale-independent, deterministic). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** ADS as the config source (listeners' RDS, clusters' EDS, and SDS when meshd serves secrets). */
export const ADS_SOURCE: EnvoyObject = { ads: {}, resource_api_version: 'V3' };

/** Where SDS secrets come from: meshd over ADS, or the node agent's SDS socket. */
export function sdsSource(src: SecretSource): EnvoyObject {
  if (src === 'ads') return ADS_SOURCE;
  return {
    resource_api_version: 'V3',
    api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: AGENT_SDS_CLUSTER } }] },
  };
}

/*
 * The SDS references and ALPN lists are the same in every TLS context of a proxy (one per
 * outbound cluster): built once per secret source / list and shared, frozen.
 */
const secretConfigMemo = new Map<SecretSource, { rootca: EnvoyObject; certs: readonly EnvoyObject[] }>();
function secretConfigs(src: SecretSource): { rootca: EnvoyObject; certs: readonly EnvoyObject[] } {
  let v = secretConfigMemo.get(src);
  if (!v) {
    v = freeze({ rootca: { name: SECRET_ROOTCA, sds_config: sdsSource(src) }, certs: [{ name: SECRET_DEFAULT, sds_config: sdsSource(src) }] });
    secretConfigMemo.set(src, v);
  }
  return v;
}
const alpnMemo = new Map<string, readonly string[]>();
function alpnList(alpn: readonly string[]): readonly string[] {
  const k = alpn.join(',');
  let v = alpnMemo.get(k);
  if (!v) { v = freeze([...alpn]); if (alpnMemo.size < 64) alpnMemo.set(k, v); }
  return v;
}

/** The mesh TLS context shared by both directions: workload cert `default`, trust bundle `ROOTCA`. */
function commonTls(src: SecretSource, alpn: readonly string[], sans: readonly string[] | undefined): EnvoyObject {
  const { rootca, certs } = secretConfigs(src);
  return {
    ...(alpn.length ? { alpn_protocols: alpnList(alpn) } : {}),
    tls_certificate_sds_secret_configs: certs,
    ...(sans === undefined
      ? { validation_context_sds_secret_config: rootca }
      : {
        combined_validation_context: {
          default_validation_context: sans.length ? { match_typed_subject_alt_names: sans.map((s) => ({ san_type: 'URI', matcher: { exact: s } })) } : {},
          validation_context_sds_secret_config: rootca,
        },
      }),
  };
}

/** Client side of mesh mTLS: verifies the server's SPIFFE URI against `sans`. */
export function upstreamTlsSocket(src: SecretSource, alpn: readonly string[], sans: readonly string[]): EnvoyObject {
  return {
    name: Filter.TransportSocketTls,
    typed_config: typed(TypeName.UpstreamTlsContext, { common_tls_context: commonTls(src, alpn, sans) }),
  };
}

/** Server side of mesh mTLS: a client certificate from the mesh CA is required. */
export function downstreamTlsSocket(src: SecretSource, alpn: readonly string[]): EnvoyObject {
  return {
    name: Filter.TransportSocketTls,
    typed_config: typed(TypeName.DownstreamTlsContext, { require_client_certificate: true, common_tls_context: commonTls(src, alpn, undefined) }),
  };
}

/** Plaintext transport socket. */
export const RAW_BUFFER_SOCKET: EnvoyObject = {
  name: 'envoy.transport_sockets.raw_buffer',
  typed_config: typed('envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer', {}),
};

const LOG_FORMAT =
  '[%START_TIME%] %DIRECTION% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% ' +
  '%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% "%REQ(:AUTHORITY)%" %UPSTREAM_CLUSTER% %UPSTREAM_HOST% peer=%DOWNSTREAM_PEER_URI_SAN% chain=%FILTER_CHAIN_NAME%\n';

/** Access log to stdout with response flags and the caller's SPIFFE id. */
export function stdoutAccessLog(direction: 'inbound' | 'outbound'): EnvoyObject {
  return {
    name: Filter.StdoutAccessLog,
    typed_config: typed(TypeName.StdoutAccessLog, {
      log_format: { text_format_source: { inline_string: LOG_FORMAT.replace('%DIRECTION%', direction) } },
    }),
  };
}

/** The router, always the last HTTP filter. */
export const ROUTER_FILTER: EnvoyObject = { name: Filter.Router, typed_config: typed(TypeName.Router, {}) };

/** Fault injection, configured per route (typed_per_filter_config); a no-op elsewhere. */
export const FAULT_FILTER: EnvoyObject = { name: Filter.HttpFault, typed_config: typed(TypeName.HttpFault, {}) };

/** CORS, configured per route (typed_per_filter_config); a no-op elsewhere. */
export const CORS_FILTER: EnvoyObject = { name: Filter.HttpCors, typed_config: typed(TypeName.HttpCors, {}) };

/** tcp_proxy to one cluster. */
export function tcpProxy(statPrefix: string, cluster: string): EnvoyObject {
  return { name: Filter.TcpProxy, typed_config: typed(TypeName.TcpProxy, { stat_prefix: statPrefix, cluster }) };
}

/** A socket address in Envoy's form. */
export function socketAddress(address: string, port: number): EnvoyObject {
  return { socket_address: { address, port_value: port } };
}

// ---- model lookups ---------------------------------------------------------------------------

/** Whether `labels` carry every key/value of `selector` (an absent selector selects nothing). */
export function selects(selector: Labels | undefined, labels: Labels): boolean {
  if (!selector) return false;
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

/** Workloads a service selects (same namespace), ready or not, sorted by name. */
export function selectedWorkloads(snapshot: MeshSnapshot, svc: Service): Workload[] {
  return svc.selector ? workloadCandidates(snapshot, svc.meta.namespace, svc.selector).filter((w) => selects(svc.selector, w.labels)) : [];
}

/**
 * The port a workload serves a service port on: its `ports[<service port name>]`, else the
 * named targetPort in its `ports`, else a numeric targetPort; undefined when a named targetPort
 * is not declared by the workload (Kubernetes then has no endpoint either).
 */
export function workloadPort(w: Workload, sp: ServicePort): number | undefined {
  const byName = sp.name ? w.ports[sp.name] : undefined;
  if (byName !== undefined) return byName;
  if (typeof sp.targetPort === 'string') return w.ports[sp.targetPort];
  return sp.targetPort;
}

/** A translation diagnostic about a model object. */
export function diag(kind: string, namespace: string, name: string, field: string, message: string, severity: Diagnostic['severity'] = 'warning'): Diagnostic {
  return { severity, source: 'translate', kind, namespace, name, field, message };
}

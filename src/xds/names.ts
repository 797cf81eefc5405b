/**
 * Every generated resource name is built here, following Istio's conventions so that
 * people who know Istio can read our config dumps.
 */

/** Outbound cluster for a service port: `outbound|9080||reviews.default.svc.cluster.local`. */
export function outboundClusterName(port: number, hostname: string): string {
  return `outbound|${port}||${hostname}`;
}

/** Inbound cluster for a workload port: `inbound|8080||`. */
export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** Outbound cluster for one DestinationRule subset of a service port: `outbound|9080|v2|reviews.default.svc.cluster.local`. */
export function outboundSubsetClusterName(port: number, subset: string, hostname: string): string {
  return `outbound|${port}|${subset}|${hostname}`;
}

/** Parses an outbound cluster name (with or without a subset); undefined for anything else. `subset` is absent for the base cluster. */
export function parseOutboundClusterName(name: string): { port: number; hostname: string; subset?: string } | undefined {
  const m = /^outbound\|(\d+)\|([^|]*)\|(.+)$/.exec(name);
  if (!m) return undefined;
  return { port: Number(m[1]), hostname: m[3]!, ...(m[2] ? { subset: m[2] } : {}) };
}

/** Route configuration shared by all HTTP services on one outbound port: `8080`. */
export function outboundRouteName(port: number): string {
  return String(port);
}

/** Inbound route configuration for a workload port: `inbound|8080||`. */
export function inboundRouteName(port: number): string {
  return `inbound|${port}||`;
}

/** Listener named after its bind address: `127.0.0.1_8080`. */
export function addressListenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

export const VIRTUAL_OUTBOUND = 'virtualOutbound';
export const VIRTUAL_INBOUND = 'virtualInbound';
export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';

/** SDS secret names, as Istio's: the workload's key and chain, and the trust bundle. */
export const SECRET_DEFAULT = 'default';
export const SECRET_ROOTCA = 'ROOTCA';

/**
 * The mesh ALPN value. Outbound mesh clusters offer it ahead of `h2`/`http/1.1`; inbound
 * listeners match it in the ClientHello (tls_inspector) to tell mesh mTLS from an app's own
 * TLS. Stock Envoy has no istio.alpn filter, so the value lives in the TLS contexts.
 */
export const MESH_ALPN = 'meshd-mtls';

/** Stat prefixes on inbound filter chains, so plaintext in PERMISSIVE mode can be counted. */
export function inboundStatPrefix(kind: 'mtls' | 'plaintext' | 'tls-passthrough', port: number): string {
  return `meshd_inbound_${kind}_${port}`;
}

/** RBAC policy key, as Istio's: `ns[prod]-policy[name]-rule[0]`. */
export function rbacPolicyName(namespace: string, policy: string, rule: number): string {
  return `ns[${namespace}]-policy[${policy}]-rule[${rule}]`;
}

/** Parses an Istio-style node id: `sidecar~<ip>~<name>.<namespace>~<namespace>.svc.cluster.local`. */
export function parseNodeId(id: string): { type: string; ip: string; name: string; namespace: string } | undefined {
  const parts = id.split('~');
  if (parts.length !== 4) return undefined;
  const [type, ip, podAndNs, domain] = parts as [string, string, string, string];
  const dot = podAndNs.lastIndexOf('.');
  if (dot <= 0 || !type || !ip || !domain) return undefined;
  return { type, ip, name: podAndNs.slice(0, dot), namespace: podAndNs.slice(dot + 1) };
}

/**
 * API listener (and its route configuration) for proxyless gRPC clients: the `xds:///` target
 * itself, `backend.production.svc.cluster.local:8080`, since grpc-js-xds asks LDS for it.
 */
export function apiListenerName(host: string, port?: number): string {
  return port === undefined ? host : `${host}:${port}`;
}

/** Filter chain names on inbound listeners: `inbound|8080|mtls`. */
export function inboundChainName(kind: 'mtls' | 'plaintext' | 'tls-passthrough', port: number): string {
  return `inbound|${port}|${kind}`;
}

/** gRPC initial metadata that marks Envoy's on-demand CDS stream (served from the full translation). */
export const ON_DEMAND_STREAM_METADATA = { key: 'x-meshd-stream', value: 'on-demand-cds' } as const;

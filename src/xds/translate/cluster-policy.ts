/**
 * A DestinationRule port policy (already merged, see destination-rules.ts) applied to an
 * outbound Envoy cluster: load balancer, consistent hash, connection pool limits, outlier
 * detection and upstream TLS; and `routeHashPolicy`, the route side of consistent hashing.
 * What cannot be translated becomes a diagnostic naming the rule and field.
 */
import type { Diagnostic } from '../../model/types.js';
import type { ClientTlsSettings, ConnectionPoolSettings, DestinationRule, HashKey, LoadBalancerSettings, OutlierDetection, PortTrafficPolicy, Subset } from '../../model/traffic.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { MESH_ALPN } from '../names.js';
import { RAW_BUFFER_SOCKET, diag, freeze, upstreamTlsSocket, type SecretSource } from './common.js';
import { FrozenMemo } from './frozen-memo.js';
import { policyField } from './destination-rules.js';

/** Envoy's duration form of integer milliseconds: `1.5s`. */
export function ms(n: number): string {
  return `${n / 1000}s`;
}

/** What applying a policy needs to know about the cluster's host and port. */
export interface PolicyTarget {
  readonly hostname: string;
  /** HTTP-family port (HTTP options and hash policies apply). */
  readonly http: boolean;
  readonly src: SecretSource;
  /** SPIFFE ids of the mesh endpoints (for ISTIO_MUTUAL). */
  readonly sans: readonly string[];
  readonly rule: DestinationRule;
  readonly port: number;
  readonly subset?: Subset;
  readonly diagnostics: Diagnostic[];
}

function warn(t: PolicyTarget, field: keyof PortTrafficPolicy, rest: string, message: string): void {
  const f = policyField(t.rule, t.port, t.subset, field) + (rest ? `.${rest}` : '');
  t.diagnostics.push(diag('DestinationRule', t.rule.meta.namespace, t.rule.meta.name, f, message));
}

const SIMPLE_LB: Record<string, string> = { ROUND_ROBIN: 'ROUND_ROBIN', LEAST_REQUEST: 'LEAST_REQUEST', LEAST_CONN: 'LEAST_REQUEST', RANDOM: 'RANDOM' };

function loadBalancer(c: Record<string, unknown>, lb: LoadBalancerSettings, t: PolicyTarget): void {
  if (c.type === 'ORIGINAL_DST' && (lb.simple !== undefined && lb.simple !== 'PASSTHROUGH' || lb.consistentHash)) {
    warn(t, 'loadBalancer', '', 'has no effect on a host with resolution NONE (connections go to the address the app asked for)');
    return;
  }
  if (lb.simple === 'PASSTHROUGH') {
    // Straight to the address the app asked for: no endpoints, no EDS.
    c.type = 'ORIGINAL_DST';
    c.lb_policy = 'CLUSTER_PROVIDED';
    delete c.eds_cluster_config;
    delete c.load_assignment;
    delete c.dns_lookup_family;
  } else if (lb.simple) {
    c.lb_policy = SIMPLE_LB[lb.simple];
  }
  const ch = lb.consistentHash;
  if (ch) {
    if (!t.http && ch.key.kind !== 'source-ip') warn(t, 'loadBalancer', 'consistentHash', `a ${ch.key.kind} hash key needs an HTTP port; port ${t.port} is TCP, where only useSourceIp applies`);
    if (ch.algorithm.kind === 'maglev') {
      c.lb_policy = 'MAGLEV';
      if (ch.algorithm.tableSize !== undefined) c.maglev_lb_config = { table_size: String(ch.algorithm.tableSize) };
    } else {
      c.lb_policy = 'RING_HASH';
      if (ch.algorithm.minimumRingSize !== undefined) c.ring_hash_lb_config = { minimum_ring_size: String(ch.algorithm.minimumRingSize) };
    }
  }
  if (lb.warmupDurationMs !== undefined) {
    const policy = String(c.lb_policy);
    if (policy === 'ROUND_ROBIN') c.round_robin_lb_config = { slow_start_config: { slow_start_window: ms(lb.warmupDurationMs) } };
    else if (policy === 'LEAST_REQUEST') c.least_request_lb_config = { slow_start_config: { slow_start_window: ms(lb.warmupDurationMs) } };
    else warn(t, 'loadBalancer', 'warmupDurationSecs', `warmup applies to ROUND_ROBIN and LEAST_REQUEST only; ignored with ${policy}`);
  }
}

/** Envoy hash_policy entries for a consistent-hash key (for the route that sends to the cluster). */
export function hashPolicyFor(key: HashKey): EnvoyObject[] {
  switch (key.kind) {
    case 'header': return [{ header: { header_name: key.name } }];
    case 'cookie': return [{ cookie: { name: key.name, ...(key.path !== undefined ? { path: key.path } : {}), ...(key.ttlMs !== undefined ? { ttl: ms(key.ttlMs) } : {}) } }];
    case 'source-ip': return [{ connection_properties: { source_ip: true } }];
    case 'query-param': return [{ query_parameter: { name: key.name } }];
  }
}

/*
 * A rule's pool settings are one object shared by its base and subset clusters (and the base
 * cluster's protocol options are shared constants), so the Envoy pieces built from them are
 * memoized by those identities and shared, frozen: a rule with two subsets builds them once.
 */
const breakersMemo = new WeakMap<ConnectionPoolSettings, EnvoyObject | null>();
const NO_OPTIONS: object = Object.freeze({});
/** Protocol options by input options (a shared frozen object: its identity) and pool settings (by value: rules repeat them). */
const optionsMemo = new WeakMap<object, FrozenMemo<EnvoyObject>>();
const poolKeys = new WeakMap<ConnectionPoolSettings, string>();
function poolKey(pool: ConnectionPoolSettings): string {
  let k = poolKeys.get(pool);
  if (k === undefined) { k = JSON.stringify([pool.http ?? null, pool.tcp?.maxConnectionDurationMs ?? null]); poolKeys.set(pool, k); }
  return k;
}

/** The HttpProtocolOptions of an HTTP cluster with the pool's HTTP settings folded in. */
function httpOptions(c: Record<string, unknown>, pool: ConnectionPoolSettings, t: PolicyTarget): void {
  if (pool.http?.useClientProtocol === false) warn(t, 'connectionPool', 'http.useClientProtocol', 'false has no effect: meshd speaks the client\'s protocol upstream on HTTP ports unless h2UpgradePolicy is UPGRADE');
  const teoIn = (c.typed_extension_protocol_options as object | undefined) ?? NO_OPTIONS;
  const build = (): EnvoyObject => buildHttpOptions(teoIn === NO_OPTIONS ? undefined : teoIn as Record<string, EnvoyObject>, pool);
  // Only a frozen input is a shared value whose identity can key the memo.
  if (!Object.isFrozen(teoIn)) { c.typed_extension_protocol_options = freeze(build()); return; }
  let byPool = optionsMemo.get(teoIn);
  if (!byPool) { byPool = new FrozenMemo(1_000); optionsMemo.set(teoIn, byPool); }
  c.typed_extension_protocol_options = byPool.get(poolKey(pool), build);
}

function buildHttpOptions(teoIn: Record<string, EnvoyObject> | undefined, pool: ConnectionPoolSettings): EnvoyObject {
  const h = pool.http;
  const tcp = pool.tcp;
  const key = TypeName.HttpProtocolOptions;
  const teo = { ...teoIn };
  const cur = { ...(teo[key] ?? typed(key, { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } })) } as Record<string, unknown>;
  const common: Record<string, unknown> = { ...(cur.common_http_protocol_options as EnvoyObject | undefined) };
  if (h?.idleTimeoutMs !== undefined) common.idle_timeout = ms(h.idleTimeoutMs);
  if (h?.maxRequestsPerConnection !== undefined && h.maxRequestsPerConnection > 0) common.max_requests_per_connection = h.maxRequestsPerConnection;
  if (tcp?.maxConnectionDurationMs !== undefined) common.max_connection_duration = ms(tcp.maxConnectionDurationMs);
  if (Object.keys(common).length) cur.common_http_protocol_options = common;
  const h2: Record<string, unknown> = h?.maxConcurrentStreams !== undefined ? { max_concurrent_streams: h.maxConcurrentStreams } : {};
  if (h?.h2UpgradePolicy === 'UPGRADE' || cur.explicit_http_config) {
    delete cur.use_downstream_protocol_config;
    cur.explicit_http_config = { http2_protocol_options: h2 };
  } else if (h?.h2UpgradePolicy === 'DO_NOT_UPGRADE' && h.useClientProtocol !== true) {
    delete cur.use_downstream_protocol_config;
    cur.explicit_http_config = { http_protocol_options: {} };
  } else {
    cur.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: h2 };
  }
  teo[key] = cur;
  return teo;
}

function circuitBreakers(pool: ConnectionPoolSettings): EnvoyObject | null {
  const th: Record<string, unknown> = {};
  if (pool.tcp?.maxConnections !== undefined) th.max_connections = pool.tcp.maxConnections;
  if (pool.http?.http1MaxPendingRequests !== undefined) th.max_pending_requests = pool.http.http1MaxPendingRequests;
  if (pool.http?.http2MaxRequests !== undefined) th.max_requests = pool.http.http2MaxRequests;
  if (pool.http?.maxRetries !== undefined) th.max_retries = pool.http.maxRetries;
  return Object.keys(th).length ? freeze({ thresholds: [{ priority: 'DEFAULT', ...th }] }) : null;
}

function connectionPool(c: Record<string, unknown>, pool: ConnectionPoolSettings, t: PolicyTarget): void {
  let breakers = breakersMemo.get(pool);
  if (breakers === undefined) { breakers = circuitBreakers(pool); breakersMemo.set(pool, breakers); }
  if (breakers) c.circuit_breakers = breakers;
  if (pool.tcp?.connectTimeoutMs !== undefined) c.connect_timeout = ms(pool.tcp.connectTimeoutMs);
  const ka = pool.tcp?.tcpKeepalive;
  if (ka) {
    c.upstream_connection_options = {
      tcp_keepalive: {
        ...(ka.probes !== undefined ? { keepalive_probes: ka.probes } : {}),
        ...(ka.timeMs !== undefined ? { keepalive_time: Math.max(1, Math.round(ka.timeMs / 1000)) } : {}),
        ...(ka.intervalMs !== undefined ? { keepalive_interval: Math.max(1, Math.round(ka.intervalMs / 1000)) } : {}),
      },
    };
  }
  if (pool.tcp?.idleTimeoutMs !== undefined) warn(t, 'connectionPool', 'tcp.idleTimeout', 'is not applied by meshd (TCP proxy idle timeouts stay at Envoy\'s default of 1h)');
  if (t.http) httpOptions(c, pool, t);
  else if (pool.tcp?.maxConnectionDurationMs !== undefined) warn(t, 'connectionPool', 'tcp.maxConnectionDuration', `is applied on HTTP ports only; port ${t.port} is TCP`);
}

function outlier(c: Record<string, unknown>, od: OutlierDetection): void {
  const o: Record<string, unknown> = {};
  if (od.consecutive5xxErrors !== undefined) {
    o.consecutive_5xx = od.consecutive5xxErrors;
    o.enforcing_consecutive_5xx = od.consecutive5xxErrors > 0 ? 100 : 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    o.consecutive_gateway_failure = od.consecutiveGatewayErrors;
    o.enforcing_consecutive_gateway_failure = od.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  if (od.splitExternalLocalOriginErrors) o.split_external_local_origin_errors = true;
  if (od.consecutiveLocalOriginFailures !== undefined) {
    o.consecutive_local_origin_failure = od.consecutiveLocalOriginFailures;
    o.enforcing_consecutive_local_origin_failure = od.consecutiveLocalOriginFailures > 0 ? 100 : 0;
  }
  if (od.intervalMs !== undefined) o.interval = ms(od.intervalMs);
  if (od.baseEjectionTimeMs !== undefined) o.base_ejection_time = ms(od.baseEjectionTimeMs);
  if (od.maxEjectionPercent !== undefined) o.max_ejection_percent = od.maxEjectionPercent;
  // Success-rate ejection is not part of Istio's API; keep it off as Istio does.
  o.enforcing_success_rate = 0;
  c.outlier_detection = o;
  if (od.minHealthPercent !== undefined) c.common_lb_config = { ...(c.common_lb_config as EnvoyObject | undefined), healthy_panic_threshold: { value: od.minHealthPercent } };
}

/** UpstreamTlsContext for SIMPLE / MUTUAL origination with files on the sidecar's filesystem. */
function originationSocket(tls: ClientTlsSettings, t: PolicyTarget): EnvoyObject {
  const common: Record<string, unknown> = {};
  if (tls.mode === 'MUTUAL') {
    if (tls.clientCertificate && tls.privateKey) {
      common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
    } else if (!tls.credentialName) {
      warn(t, 'tls', '', 'MUTUAL needs clientCertificate and privateKey; the connection offers no client certificate');
    }
  }
  if (tls.credentialName) warn(t, 'tls', 'credentialName', 'credentials from Kubernetes Secrets are not supported for sidecars by meshd; use clientCertificate/privateKey/caCertificates files');
  if (!tls.insecureSkipVerify) {
    if (tls.caCertificates) {
      common.validation_context = {
        trusted_ca: { filename: tls.caCertificates },
        ...(tls.subjectAltNames.length ? { match_typed_subject_alt_names: tls.subjectAltNames.map((s) => ({ san_type: 'DNS', matcher: { exact: s } })) } : {}),
      };
    } else {
      warn(t, 'tls', 'caCertificates', 'is not set: the server certificate is not verified (meshd does not read the system trust store for sidecars); set caCertificates or insecureSkipVerify: true');
    }
  }
  const sni = tls.sni ?? (t.hostname.startsWith('*') ? undefined : t.hostname);
  return {
    name: Filter.TransportSocketTls,
    typed_config: typed(TypeName.UpstreamTlsContext, { ...(sni ? { sni } : {}), common_tls_context: common }),
  };
}

function tlsSettings(c: Record<string, unknown>, tls: ClientTlsSettings, t: PolicyTarget): void {
  delete c.transport_socket_matches;
  delete c.transport_socket;
  if (tls.mode === 'DISABLE') {
    c.transport_socket = RAW_BUFFER_SOCKET;
  } else if (tls.mode === 'ISTIO_MUTUAL') {
    const alpn = t.http ? [MESH_ALPN, 'h2', 'http/1.1'] : [MESH_ALPN];
    const sans = tls.subjectAltNames.length ? tls.subjectAltNames : t.sans;
    const sock = upstreamTlsSocket(t.src, alpn, sans);
    c.transport_socket = tls.sni ? { ...sock, typed_config: { ...(sock.typed_config as EnvoyObject), sni: tls.sni } } : sock;
    if (tls.caCertificates || tls.clientCertificate || tls.privateKey || tls.credentialName) warn(t, 'tls', '', 'ISTIO_MUTUAL uses the mesh certificates; the certificate fields are ignored');
  } else {
    c.transport_socket = originationSocket(tls, t);
  }
}

/** Returns a copy of `cluster` with `policy` applied (the input is not mutated). */
export function applyClusterPolicy(cluster: EnvoyObject, policy: PortTrafficPolicy, t: PolicyTarget): EnvoyObject {
  const c: Record<string, unknown> = { ...cluster };
  if (policy.loadBalancer) loadBalancer(c, policy.loadBalancer, t);
  if (policy.connectionPool) connectionPool(c, policy.connectionPool, t);
  if (policy.outlierDetection) outlier(c, policy.outlierDetection);
  if (policy.tls) tlsSettings(c, policy.tls, t);
  return c;
}

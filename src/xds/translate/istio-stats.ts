/**
 * Istio's standard metrics on stock Envoy: a stats access logger (`envoy.access_loggers.stats`,
 * behind a TypedStruct) per HTTP connection manager and tcp_proxy emits `istio_requests_total`,
 * `istio_request_duration_milliseconds`, ... with Istio's labels as real Envoy tags, in the
 * `wasmcustom` stat namespace so that Envoy's Prometheus output prints them without `envoy_`
 * (the bootstrap registers the namespace). Peer workload labels travel in one header
 * (`x-meshd-peer`, our own metadata exchange): each sidecar adds its own on requests (client)
 * and responses (server); the receiving sidecar moves it into dynamic metadata and strips it.
 * The proxy's own labels are not in the loggers and filters: meshd puts them in each listener's
 * metadata (`meshd.self`, {@link listenerSelfMetadata}), which the loggers and the header
 * mutation read with `%CEL(xds.listener_metadata...)%`. So the big parts are the same for every
 * proxy with the same metric settings; the builders' results are deep-frozen and shared by
 * value (frozen-memo.ts): one object on every chain, proxy and snapshot, converted once.
 */
import type { TagOverride, Workload } from '../../model/types.js';
import { Filter, TypeName, typed, typedStruct, type EnvoyObject } from '../resource-types.js';
import type { MetricSettings, StandardMetric } from '../../telemetry/effective.js';
import { FrozenMemo } from './frozen-memo.js';

const shared = new FrozenMemo<EnvoyObject>();
const sharedLists = new FrozenMemo<readonly EnvoyObject[]>();

/** The header carrying a sidecar's own workload labels to its peer. */
export const PEER_HEADER = 'x-meshd-peer';
/** Dynamic metadata namespace the peer's labels land in. */
export const PEER_METADATA_NS = 'meshd.peer';
/** Listener metadata namespace holding the proxy's own labels (set by meshd, read by the loggers). */
export const SELF_METADATA_NS = 'meshd.self';
/** Envoy's custom stat namespace stripped from Prometheus names (registered by the bootstrap's Wasm service). */
export const CUSTOM_STAT_NAMESPACE = 'wasmcustom';

/** Istio's metric names by selector. */
export const METRIC_STAT_NAMES: Readonly<Record<StandardMetric, string>> = {
  REQUEST_COUNT: 'istio_requests_total',
  REQUEST_DURATION: 'istio_request_duration_milliseconds',
  REQUEST_SIZE: 'istio_request_bytes',
  RESPONSE_SIZE: 'istio_response_bytes',
  TCP_OPENED_CONNECTIONS: 'istio_tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'istio_tcp_connections_closed_total',
  TCP_SENT_BYTES: 'istio_tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'istio_tcp_received_bytes_total',
};

/** What a sidecar tells its peers about its workload. */
export interface PeerInfo {
  readonly workload: string;
  readonly namespace: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
  /** The service a server sidecar answered for (`unknown` on requests): the client's destination_service. */
  readonly serviceHost: string;
  readonly serviceName: string;
  readonly serviceNamespace: string;
}
const PEER_FIELDS: readonly (keyof PeerInfo)[] = ['workload', 'namespace', 'app', 'version', 'canonicalService', 'canonicalRevision', 'cluster', 'serviceHost', 'serviceName', 'serviceNamespace'];

/** A service as the metrics name it. */
export interface ServiceLabels { readonly host: string; readonly name: string; readonly namespace: string }

/** Istio's workload name: a pod's controller (the name without the ReplicaSet hash and pod suffix), else the name. */
export function telemetryWorkloadName(w: Workload): string {
  const hash = w.labels['pod-template-hash'];
  if (hash) {
    const i = w.name.lastIndexOf(`-${hash}-`);
    if (i > 0) return w.name.slice(0, i);
  }
  return w.name;
}

/** The peer labels of a workload, with Istio's fallbacks (`unknown`, canonical service from app, revision `latest`). */
export function peerInfo(w: Workload | undefined, namespace: string, service?: ServiceLabels, cluster = 'Kubernetes'): PeerInfo {
  const svc = { serviceHost: service?.host ?? 'unknown', serviceName: service?.name ?? 'unknown', serviceNamespace: service?.namespace ?? 'unknown' };
  if (!w) return { workload: 'unknown', namespace: namespace || 'unknown', app: 'unknown', version: 'unknown', canonicalService: 'unknown', canonicalRevision: 'latest', cluster, ...svc };
  const l = w.labels;
  const name = telemetryWorkloadName(w);
  return {
    workload: name,
    namespace: w.namespace,
    app: l.app ?? l['app.kubernetes.io/name'] ?? 'unknown',
    version: l.version ?? l['app.kubernetes.io/version'] ?? 'unknown',
    canonicalService: l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? name,
    canonicalRevision: l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
    cluster,
    ...svc,
  };
}

/** `x-meshd-peer`'s value: the fields joined by `;` (label values never hold one). */
export function peerHeaderValue(p: PeerInfo): string {
  return PEER_FIELDS.map((f) => p[f].replace(/;/g, '_')).join(';');
}

/** header_to_metadata: the peer's header → `meshd.peer` metadata (`unknown` when absent), then stripped. */
export function peerHeaderToMetadata(direction: 'request' | 'response'): EnvoyObject {
  return shared.get(`h2m|${direction}`, () => buildPeerHeaderToMetadata(direction));
}

function buildPeerHeaderToMetadata(direction: 'request' | 'response'): EnvoyObject {
  const rules = PEER_FIELDS.map((f, i) => ({
    header: PEER_HEADER,
    on_header_present: {
      metadata_namespace: PEER_METADATA_NS, key: f,
      regex_value_rewrite: { pattern: { regex: i <= 2 ? `^${'[^;]*;'.repeat(i)}([^;]*).*$` : `^(?:[^;]*;){${i}}([^;]*).*$` }, substitution: '\\1' },
    },
    on_header_missing: { metadata_namespace: PEER_METADATA_NS, key: f, value: f === 'canonicalRevision' ? 'latest' : 'unknown' },
    ...(i === PEER_FIELDS.length - 1 ? { remove: true } : {}),
  }));
  return { name: Filter.HeaderToMetadata, typed_config: typed(TypeName.HeaderToMetadata, direction === 'request' ? { request_rules: rules } : { response_rules: rules }) };
}

/** One of the proxy's own fields in its listener's metadata, as a command operator. */
const selfRef = (key: string): string => `%METADATA(LISTENER:${SELF_METADATA_NS}:${key})%`;
/** The inbound chain's own entry (its service) in the listener metadata, keyed by the chain's name (CEL: the key is dynamic). */
const chainRef = (key: string): string => `%CEL(xds.listener_metadata.filter_metadata['${SELF_METADATA_NS}'].chains[xds.filter_chain_name].${key})%`;

/**
 * header_mutation: this sidecar's own `x-meshd-peer` on requests (client) or responses (server,
 * with the service of the chain that answered), replacing any. The value comes from the
 * listener's metadata, so the filter is the same on every proxy.
 */
export function peerHeaderMutation(direction: 'request' | 'response'): EnvoyObject {
  return shared.get(`mut|${direction}`, () => buildPeerHeaderMutation(direction, direction === 'request' ? selfRef('peer') : chainRef('peer')));
}

function buildPeerHeaderMutation(direction: 'request' | 'response', value: string): EnvoyObject {
  const m = [{ append: { header: { key: PEER_HEADER, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } }];
  return { name: Filter.HeaderMutation, typed_config: typed(TypeName.HeaderMutation, { mutations: direction === 'request' ? { request_mutations: m } : { response_mutations: m } }) };
}

const SELF_FIELDS: readonly (keyof PeerInfo)[] = ['workload', 'namespace', 'app', 'version', 'canonicalService', 'canonicalRevision', 'cluster'];

/**
 * A listener's `meshd.self` metadata: the proxy's own labels and its `x-meshd-peer` value (with
 * no service: the client's), and per inbound chain name the service it serves and the server's
 * header value. Values come from meshd's own workload record, not from the sidecar's bootstrap.
 */
export function listenerSelfMetadata(self: PeerInfo, chains: ReadonlyMap<string, ServiceLabels | undefined>): EnvoyObject {
  const own: Record<string, unknown> = {};
  for (const f of SELF_FIELDS) own[f] = self[f];
  own.peer = peerHeaderValue(self);
  if (chains.size) {
    const c: Record<string, unknown> = {};
    for (const [name, svc] of chains) {
      const p = { ...self, serviceHost: svc?.host ?? 'unknown', serviceName: svc?.name ?? 'unknown', serviceNamespace: svc?.namespace ?? 'unknown' };
      c[name] = { serviceHost: p.serviceHost, serviceName: p.serviceName, serviceNamespace: p.serviceNamespace, peer: peerHeaderValue(p) };
    }
    own.chains = c;
  }
  return { filter_metadata: { [SELF_METADATA_NS]: own } };
}

/** A literal in an Envoy format string. */
function lit(s: string): string {
  return s.replace(/%/g, '%%');
}
const meta = (key: keyof PeerInfo): string => `%DYNAMIC_METADATA(${PEER_METADATA_NS}:${key})%`;
const cel = (expr: string): string => `%CEL(${expr})%`;
const orUnknown = (attr: string): string => cel(`has(${attr}) ? ${attr} : 'unknown'`);
const GRPC_OR_HTTP = cel(`'content-type' in request.headers && request.headers['content-type'].startsWith('application/grpc') ? 'grpc' : 'http'`);

/**
 * The reporting side of a sidecar. Its own labels come from the listener's metadata; a server's
 * service from its chain's entry there; a client knows its service for TCP (one cluster per
 * tcp_proxy) and learns it from the server's peer header for HTTP.
 */
export type Reporter =
  | { readonly kind: 'destination'; readonly mtls: boolean }
  | { readonly kind: 'source'; readonly service?: ServiceLabels };

type Tags = [string, string][];

function peerTags(prefix: 'source' | 'destination', p: 'self' | 'metadata' | 'unknown'): Tags {
  const v = (f: keyof PeerInfo): string => p === 'metadata' ? meta(f) : p === 'self' ? selfRef(f) : (f === 'canonicalRevision' ? 'latest' : 'unknown');
  return [
    [`${prefix}_workload`, v('workload')], [`${prefix}_workload_namespace`, v('namespace')],
    [`${prefix}_app`, v('app')], [`${prefix}_version`, v('version')],
    [`${prefix}_canonical_service`, v('canonicalService')], [`${prefix}_canonical_revision`, v('canonicalRevision')],
    [`${prefix}_cluster`, v('cluster')],
  ];
}

/** Istio's label set for one reporter, in Istio's order; `tcp` leaves out the HTTP-only labels. */
export function istioTags(r: Reporter, tcp: boolean): Tags {
  const httpOnly = (t: Tags): Tags => tcp ? [] : t;
  if (r.kind === 'destination') {
    const src = r.mtls && !tcp ? 'metadata' : 'unknown';
    return [
      ['reporter', 'destination'],
      ...peerTags('source', src).slice(0, 2), ['source_principal', r.mtls ? '%DOWNSTREAM_PEER_URI_SAN%' : 'unknown'], ...peerTags('source', src).slice(2),
      ...peerTags('destination', 'self').slice(0, 2), ['destination_principal', r.mtls ? '%DOWNSTREAM_LOCAL_URI_SAN%' : 'unknown'], ...peerTags('destination', 'self').slice(2),
      ['destination_service', chainRef('serviceHost')], ['destination_service_name', chainRef('serviceName')], ['destination_service_namespace', chainRef('serviceNamespace')],
      ['request_protocol', tcp ? 'tcp' : GRPC_OR_HTTP],
      ...httpOnly([['response_code', '%RESPONSE_CODE%']]),
      ['response_flags', '%RESPONSE_FLAGS%'],
      ['connection_security_policy', r.mtls ? 'mutual_tls' : 'none'],
      ...httpOnly([['grpc_response_status', '%GRPC_STATUS(NUMBER)%']]),
    ];
  }
  const dst = tcp ? 'unknown' : 'metadata';
  const svcTag = (f: 'serviceHost' | 'serviceName' | 'serviceNamespace', k: keyof ServiceLabels): string => r.service ? lit(r.service[k]) : tcp ? 'unknown' : meta(f);
  return [
    ['reporter', 'source'],
    ...peerTags('source', 'self').slice(0, 2), ['source_principal', orUnknown('upstream.uri_san_local_certificate')], ...peerTags('source', 'self').slice(2),
    ...peerTags('destination', dst).slice(0, 2), ['destination_principal', orUnknown('upstream.uri_san_peer_certificate')], ...peerTags('destination', dst).slice(2),
    ['destination_service', svcTag('serviceHost', 'host')], ['destination_service_name', svcTag('serviceName', 'name')], ['destination_service_namespace', svcTag('serviceNamespace', 'namespace')],
    ['request_protocol', tcp ? 'tcp' : GRPC_OR_HTTP],
    ...httpOnly([['response_code', '%RESPONSE_CODE%']]),
    ['response_flags', '%RESPONSE_FLAGS%'],
    ['connection_security_policy', 'unknown'],
    ...httpOnly([['grpc_response_status', '%GRPC_STATUS(NUMBER)%']]),
  ];
}

/** Telemetry API tag overrides applied to a label set: REMOVE drops, UPSERT sets from a CEL expression. */
function withOverrides(tags: Tags, overrides: ReadonlyMap<string, TagOverride> | undefined): Tags {
  if (!overrides?.size) return tags;
  const out: Tags = tags.filter(([n]) => overrides.get(n)?.operation !== 'REMOVE');
  for (const [n, o] of [...overrides].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (o.operation !== 'UPSERT') continue;
    const i = out.findIndex(([x]) => x === n);
    if (i >= 0) out[i] = [n, cel(o.value)]; else out.push([n, cel(o.value)]);
  }
  return out;
}

/**
 * Tag objects whose format is the same on every proxy (command operators, not literals) are
 * shared: a sidecar's listener holds a hundred of them, a thousand sidecars would hold copies.
 * The set is fixed by this file and by Telemetry overrides, so it stays small.
 */
const sharedTags = new Map<string, EnvoyObject>();
function tagObject(name: string, value_format: string): EnvoyObject {
  if (!value_format.includes('%')) return { name, value_format };
  const key = `${name}\u0000${value_format}`;
  let o = sharedTags.get(key);
  if (!o) { o = Object.freeze({ name, value_format }); if (sharedTags.size < 10_000) sharedTags.set(key, o); }
  return o;
}

/** The tag list for a label set, built once per list (the metrics of one logger share it unless overridden). */
const tagLists = new WeakMap<Tags, readonly EnvoyObject[]>();
function tagList(tags: Tags): readonly EnvoyObject[] {
  let l = tagLists.get(tags);
  if (!l) { l = Object.freeze(tags.map(([n, f]) => tagObject(n, f))); tagLists.set(tags, l); }
  return l;
}

function stat(metric: StandardMetric, tags: Tags, settings: ReadonlyMap<StandardMetric, MetricSettings>): EnvoyObject {
  return { name: METRIC_STAT_NAMES[metric], tags: tagList(withOverrides(tags, settings.get(metric)?.tags)) };
}

const enabled = (m: StandardMetric, s: ReadonlyMap<StandardMetric, MetricSettings>): boolean => !s.get(m)?.disabled;

function statsLogger(body: EnvoyObject, filter?: EnvoyObject): EnvoyObject {
  return {
    name: Filter.StatsAccessLog,
    ...(filter ? { filter } : {}),
    typed_config: typedStruct(TypeName.StatsAccessLog, { stats_scope: { prefix: CUSTOM_STAT_NAMESPACE }, ...body }),
  };
}

/** A string that identifies metric settings by value (memoized per settings map). */
const settingsKeys = new WeakMap<ReadonlyMap<StandardMetric, MetricSettings>, string>();
function settingsKey(settings: ReadonlyMap<StandardMetric, MetricSettings>): string {
  let k = settingsKeys.get(settings);
  if (k === undefined) {
    k = JSON.stringify([...settings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([m, s]) => [m, s.disabled, [...s.tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]));
    settingsKeys.set(settings, k);
  }
  return k;
}
const reporterKey = (r: Reporter, settings: ReadonlyMap<StandardMetric, MetricSettings>): string =>
  (r.kind === 'destination' ? `d|${r.mtls}|` : r.service ? `s|${JSON.stringify(r.service)}|` : 's||') + settingsKey(settings);

/** The access log that counts Istio's HTTP metrics for one HCM (none when every HTTP metric is disabled). Shared by value, frozen. */
export function httpStatsLoggers(r: Reporter, settings: ReadonlyMap<StandardMetric, MetricSettings>): readonly EnvoyObject[] {
  return sharedLists.get(`http|${reporterKey(r, settings)}`, () => buildHttpStatsLoggers(r, settings));
}

function buildHttpStatsLoggers(r: Reporter, settings: ReadonlyMap<StandardMetric, MetricSettings>): EnvoyObject[] {
  const tags = istioTags(r, false);
  const counters = enabled('REQUEST_COUNT', settings) ? [{ stat: stat('REQUEST_COUNT', tags, settings), value_fixed: 1 }] : [];
  const hist = (m: StandardMetric, unit: string, value: string): EnvoyObject[] => enabled(m, settings) ? [{ stat: stat(m, tags, settings), unit, value_format: value }] : [];
  const histograms = [
    ...hist('REQUEST_DURATION', 'Milliseconds', '%DURATION%'),
    ...hist('REQUEST_SIZE', 'Bytes', cel('request.total_size')),
    ...hist('RESPONSE_SIZE', 'Bytes', cel('response.total_size')),
  ];
  if (!counters.length && !histograms.length) return [];
  return [statsLogger({ ...(counters.length ? { counters } : {}), ...(histograms.length ? { histograms } : {}) })];
}

const logType = (t: string): EnvoyObject => ({ log_type_filter: { types: [t] } });

/**
 * The access logs that count Istio's TCP metrics for one tcp_proxy: opened when the upstream
 * connects (the tcp_proxy must flush on connect), closed and bytes when the connection ends.
 * Shared by value, frozen.
 */
export function tcpStatsLoggers(r: Reporter, settings: ReadonlyMap<StandardMetric, MetricSettings>): readonly EnvoyObject[] {
  return sharedLists.get(`tcp|${reporterKey(r, settings)}`, () => buildTcpStatsLoggers(r, settings));
}

function buildTcpStatsLoggers(r: Reporter, settings: ReadonlyMap<StandardMetric, MetricSettings>): EnvoyObject[] {
  const tags = istioTags(r, true);
  const out: EnvoyObject[] = [];
  if (enabled('TCP_OPENED_CONNECTIONS', settings)) {
    out.push(statsLogger({ counters: [{ stat: stat('TCP_OPENED_CONNECTIONS', tags, settings), value_fixed: 1 }] }, logType('TcpUpstreamConnected')));
  }
  const end = [
    ...(enabled('TCP_CLOSED_CONNECTIONS', settings) ? [{ stat: stat('TCP_CLOSED_CONNECTIONS', tags, settings), value_fixed: 1 }] : []),
    ...(enabled('TCP_SENT_BYTES', settings) ? [{ stat: stat('TCP_SENT_BYTES', tags, settings), value_format: '%BYTES_SENT%' }] : []),
    ...(enabled('TCP_RECEIVED_BYTES', settings) ? [{ stat: stat('TCP_RECEIVED_BYTES', tags, settings), value_format: '%BYTES_RECEIVED%' }] : []),
  ];
  if (end.length) out.push(statsLogger({ counters: end }, logType('TcpConnectionEnd')));
  return out;
}

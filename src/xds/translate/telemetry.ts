/**
 * Telemetry on a sidecar's HTTP connection managers and tcp_proxies: Istio's standard metrics
 * (istio-stats.ts), tracing (Zipkin or OpenTelemetry from the mesh config's providers, with the
 * Telemetry API's sampling and custom tags) and the Telemetry API's access logs. The HCM and
 * tcp_proxy builders call `withHcmTelemetry` / `withTcpTelemetry` once each. Pure. The blocks
 * telemetry adds (stats loggers, peer-exchange filters, tracing, access logs) are deep-frozen
 * and shared by value (frozen-memo.ts): every chain, proxy and snapshot with the same inputs
 * holds the same object, which the encoder converts once and the interner compares by identity.
 * The proxy's own labels (and each inbound chain's service) are not in those blocks but in the
 * listener's `meshd.self` metadata, so the blocks are the same for every proxy.
 */
import { createHash } from 'node:crypto';
import type { Diagnostic, MeshSnapshot, Service, Workload } from '../../model/types.js';
import { Filter, TypeName, typed, typedStruct, type EnvoyObject } from '../resource-types.js';
import { outboundClusterName, parseOutboundClusterName } from '../names.js';
import { diag, selects, workloadPort } from './common.js';
import { FrozenMemo } from './frozen-memo.js';
import { meshPorts } from './outbound-clusters.js';
import { effectiveTelemetry, type AccessLogProvider, type EffectiveTelemetry, type SideTelemetry, type TracingProvider } from '../../telemetry/effective.js';
import {
  httpStatsLoggers, listenerSelfMetadata, peerHeaderMutation, peerHeaderToMetadata, peerHeaderValue, peerInfo, tcpStatsLoggers, SELF_METADATA_NS,
  type PeerInfo, type ServiceLabels,
} from './istio-stats.js';

const memo = new WeakMap<MeshSnapshot, Map<string, EffectiveTelemetry>>();
/** What effective telemetry depends on in a snapshot (mesh config and Telemetry resources), as a small id; per snapshot. */
const inputsIds = new WeakMap<MeshSnapshot, number>();
const inputsById = new Map<string, number>();
function telemetryInputsId(snapshot: MeshSnapshot): number {
  let id = inputsIds.get(snapshot);
  if (id === undefined) {
    const k = JSON.stringify([snapshot.config, snapshot.telemetries ?? []]);
    id = inputsById.get(k);
    if (id === undefined) {
      if (inputsById.size >= 64) inputsById.clear();
      id = nextInputsId++;
      inputsById.set(k, id);
    }
    inputsIds.set(snapshot, id);
  }
  return id;
}
let nextInputsId = 1;
/**
 * Effective telemetry by value across snapshots: equal inputs (mesh config, Telemetry
 * resources, namespace, labels) give the same object, so a push that changes neither does not
 * recompute it and the per-settings memos below it (stats logger keys) hit by identity.
 * Bounded: cleared when full.
 */
const across = new Map<string, EffectiveTelemetry>();
const ACROSS_MAX = 20_000;

/** The effective telemetry for a workload (or a proxy without one: its namespace), memoized per snapshot. */
export function telemetryFor(snapshot: MeshSnapshot, w: Workload | undefined, namespace: string): EffectiveTelemetry {
  let m = memo.get(snapshot);
  if (!m) { m = new Map(); memo.set(snapshot, m); }
  const key = w ? `${w.namespace}/${w.name}` : `${namespace}/`;
  let e = m.get(key);
  if (!e) {
    const ns = w?.namespace ?? namespace;
    const labels = w?.labels ?? {};
    const valueKey = `${ns}\u0000${JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]))}\u0000${telemetryInputsId(snapshot)}`;
    e = across.get(valueKey);
    if (!e) {
      e = effectiveTelemetry(snapshot, ns, labels);
      if (across.size >= ACROSS_MAX) across.clear();
      across.set(valueKey, e);
    }
    m.set(key, e);
  }
  return e;
}

/** What telemetry adds to one HTTP connection manager. */
export interface HcmTelemetry {
  /** HTTP filters to run first (peer metadata exchange). */
  readonly httpFilters: readonly EnvoyObject[];
  /** Replaces meshd's default stdout log when the Telemetry API configures access logging. */
  readonly accessLogs?: readonly EnvoyObject[];
  /** The stats access loggers (Istio's metrics). */
  readonly statsLogs: readonly EnvoyObject[];
  readonly tracing?: EnvoyObject;
}

/** Services by hostname, in snapshot order (per snapshot: looked up on every chain of every proxy). */
const byHost = new WeakMap<MeshSnapshot, ReadonlyMap<string, readonly Service[]>>();
function servicesByHost(snapshot: MeshSnapshot): ReadonlyMap<string, readonly Service[]> {
  let m = byHost.get(snapshot);
  if (!m) {
    const out = new Map<string, Service[]>();
    for (const s of snapshot.services) {
      const l = out.get(s.hostname);
      if (l) l.push(s); else out.set(s.hostname, [s]);
    }
    byHost.set(snapshot, (m = out));
  }
  return m;
}

/** Services by namespace, in snapshot order. */
const byNamespace = new WeakMap<MeshSnapshot, ReadonlyMap<string, readonly Service[]>>();
function servicesIn(snapshot: MeshSnapshot, namespace: string): readonly Service[] {
  let m = byNamespace.get(snapshot);
  if (!m) {
    const out = new Map<string, Service[]>();
    for (const s of snapshot.services) {
      const l = out.get(s.meta.namespace);
      if (l) l.push(s); else out.set(s.meta.namespace, [s]);
    }
    byNamespace.set(snapshot, (m = out));
  }
  return m.get(namespace) ?? [];
}

function findService(snapshot: MeshSnapshot, host: string, port: number): Service | undefined {
  return servicesByHost(snapshot).get(host)?.find((s) => meshPorts(s).some((p) => p.port === port));
}

const sharedBlocks = new FrozenMemo<EnvoyObject>();

function providerCluster(snapshot: MeshSnapshot, p: { name: string; target: { service: string; port: number } }, diags: Diagnostic[]): string | undefined {
  if (findService(snapshot, p.target.service, p.target.port)) return outboundClusterName(p.target.port, p.target.service);
  diags.push(diag('MeshConfig', '', 'mesh', `extensionProviders[${p.name}].service`, `no service ${p.target.service} with port ${p.target.port} in the mesh; the provider is not used`));
  return undefined;
}

function tracingConfig(snapshot: MeshSnapshot, t: NonNullable<SideTelemetry['tracing']>, serviceName: string, diags: Diagnostic[]): EnvoyObject | undefined {
  const cluster = providerCluster(snapshot, t.provider, diags);
  if (!cluster) return undefined;
  // Zipkin names the service from the node (Envoy's local cluster): the block is the same for every workload.
  const key = JSON.stringify([t.provider, t.sampling, Object.keys(t.customTags).sort().map((k) => [k, t.customTags[k]]), t.provider.kind === 'zipkin' ? '' : serviceName, cluster]);
  return sharedBlocks.get(`tracing|${key}`, () => buildTracing(t, serviceName, cluster));
}

function buildTracing(t: NonNullable<SideTelemetry['tracing']>, serviceName: string, cluster: string): EnvoyObject {
  const p: TracingProvider = t.provider;
  const provider = p.kind === 'zipkin'
    ? {
      name: Filter.ZipkinTracer,
      typed_config: typed(TypeName.ZipkinConfig, {
        collector_cluster: cluster, collector_endpoint: p.path ?? '/api/v2/spans', collector_endpoint_version: 'HTTP_JSON',
        collector_hostname: p.target.service, trace_id_128bit: true, shared_span_context: false,
      }),
    }
    : {
      name: Filter.OpenTelemetryTracer,
      typed_config: typed(TypeName.OpenTelemetryConfig, {
        service_name: serviceName,
        ...(p.http
          ? { http_service: { http_uri: { uri: `http://${p.target.service}:${p.target.port}${p.http.path}`, cluster, timeout: p.http.timeout ?? '5s' } } }
          : { grpc_service: { envoy_grpc: { cluster_name: cluster, authority: p.target.service } } }),
      }),
    };
  const custom_tags = Object.keys(t.customTags).sort().map((tag) => {
    const c = t.customTags[tag]!;
    if (c.kind === 'literal') return { tag, literal: { value: c.value } };
    const dv = c.defaultValue !== undefined ? { default_value: c.defaultValue } : {};
    return c.kind === 'environment' ? { tag, environment: { name: c.name, ...dv } } : { tag, request_header: { name: c.name, ...dv } };
  });
  return { random_sampling: { value: t.sampling }, ...(custom_tags.length ? { custom_tags } : {}), provider };
}

function accessLog(snapshot: MeshSnapshot, p: AccessLogProvider, filter: string | undefined, diags: Diagnostic[]): EnvoyObject | undefined {
  const cluster = p.kind === 'envoyFileAccessLog' ? '' : providerCluster(snapshot, p, diags);
  if (cluster === undefined) return undefined;
  return sharedBlocks.get(`log|${JSON.stringify([p, filter ?? null, cluster])}`, () => buildAccessLog(p, filter, cluster));
}

function buildAccessLog(p: AccessLogProvider, filter: string | undefined, cluster: string): EnvoyObject {
  const f = filter ? { filter: { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: typed('envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', { expression: filter }) } } } : {};
  if (p.kind === 'envoyFileAccessLog') {
    const fmt = p.format.kind === 'text' ? { log_format: { text_format_source: { inline_string: p.format.text } } }
      : p.format.kind === 'labels' ? { log_format: { json_format: p.format.labels } } : {};
    // /dev/stdout as Envoy's stream logger: it works where stdout is a socket (opening the path does not).
    if (p.path === '/dev/stdout') return { name: Filter.StdoutAccessLog, ...f, typed_config: typed(TypeName.StdoutAccessLog, fmt) };
    return { name: Filter.FileAccessLog, ...f, typed_config: typed(TypeName.FileAccessLog, { path: p.path, ...fmt }) };
  }
  const body = p.format.kind === 'text' ? p.format.text
    : '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "%REQ(:AUTHORITY)%" %UPSTREAM_CLUSTER% %UPSTREAM_HOST% %DOWNSTREAM_PEER_URI_SAN%\n';
  const attributes = p.format.kind === 'labels'
    ? { attributes: { values: Object.keys(p.format.labels).sort().map((k) => ({ key: k, value: { string_value: (p.format as { labels: Record<string, string> }).labels[k] } })) } }
    : {};
  return {
    name: Filter.OtelAccessLog, ...f,
    typed_config: typedStruct(TypeName.OtelAccessLog, {
      common_config: { log_name: p.logName ?? 'otel_envoy_accesslog', grpc_service: { envoy_grpc: { cluster_name: cluster } }, transport_api_version: 'V3' },
      body: { string_value: body }, ...attributes,
    }),
  };
}

function accessLogs(snapshot: MeshSnapshot, side: SideTelemetry, diags: Diagnostic[]): EnvoyObject[] | undefined {
  if (!side.accessLogs) return undefined;
  return side.accessLogs.providers.map((p) => accessLog(snapshot, p, side.accessLogs!.filter, diags)).filter((x): x is EnvoyObject => x !== undefined);
}

/** The service a workload serves `port` for (the first by name), for destination_service. */
function inboundService(snapshot: MeshSnapshot, w: Workload, port: number): { host: string; name: string; namespace: string } | undefined {
  for (const svc of servicesIn(snapshot, w.namespace)) {
    if (!selects(svc.selector, w.labels)) continue;
    if (meshPorts(svc).some((sp) => workloadPort(w, sp) === port)) return { host: svc.hostname, name: svc.meta.name, namespace: svc.meta.namespace };
  }
  return undefined;
}

function serviceName(w: Workload | undefined, namespace: string): string {
  const p = peerInfo(w, namespace);
  return `${p.canonicalService === 'unknown' ? p.workload : p.canonicalService}.${p.namespace}`;
}

/** Telemetry of the inbound HCM for one chain kind (reporter `destination`; its service is in the listener metadata). */
export function inboundHcmTelemetry(snapshot: MeshSnapshot, w: Workload, mtls: boolean, diags: Diagnostic[]): HcmTelemetry {
  const e = telemetryFor(snapshot, w, w.namespace);
  if (mtls) diags.push(...e.diagnostics);
  const tracing = e.server.tracing ? tracingConfig(snapshot, e.server.tracing, serviceName(w, w.namespace), mtls ? diags : []) : undefined;
  const logs = accessLogs(snapshot, e.server, mtls ? diags : []);
  return {
    httpFilters: [peerHeaderToMetadata('request'), peerHeaderMutation('response')],
    statsLogs: e.server.metrics ? httpStatsLoggers({ kind: 'destination', mtls }, e.server.metrics) : [],
    ...(logs ? { accessLogs: logs } : {}),
    ...(tracing ? { tracing } : {}),
  };
}

/** Telemetry of an outbound HCM (reporter `source`); `w` is the proxy's workload, if known. */
export function outboundHcmTelemetry(snapshot: MeshSnapshot, w: Workload | undefined, namespace: string, diags: Diagnostic[]): HcmTelemetry {
  const e = telemetryFor(snapshot, w, namespace);
  const tracing = e.client.tracing ? tracingConfig(snapshot, e.client.tracing, serviceName(w, namespace), diags) : undefined;
  const logs = accessLogs(snapshot, e.client, []);
  return {
    httpFilters: [peerHeaderToMetadata('response'), peerHeaderMutation('request')],
    statsLogs: e.client.metrics ? httpStatsLoggers({ kind: 'source' }, e.client.metrics) : [],
    ...(logs ? { accessLogs: logs } : {}),
    ...(tracing ? { tracing } : {}),
  };
}

/** An HCM filter with telemetry merged in: filters first, default stdout log replaced if configured, tracing set. */
export function withHcmTelemetry(hcm: EnvoyObject, t: HcmTelemetry): EnvoyObject {
  const cfg = hcm.typed_config as EnvoyObject;
  const filters = (cfg.http_filters as EnvoyObject[] | undefined) ?? [];
  const logs = (cfg.access_log as EnvoyObject[] | undefined) ?? [];
  const kept = t.accessLogs ? logs.filter((l) => l.name !== Filter.StdoutAccessLog) : logs;
  return {
    ...hcm,
    typed_config: {
      ...cfg,
      http_filters: [...t.httpFilters, ...filters],
      access_log: [...(t.accessLogs ?? []), ...kept, ...t.statsLogs],
      ...(t.tracing ? { tracing: t.tracing } : {}),
    },
  };
}

/** A process-unique id per shared (frozen) telemetry block, for memo keys. */
const blockIds = new WeakMap<object, number>();
let nextBlockId = 1;
function blockId(o: object | undefined): number {
  if (o === undefined) return 0;
  let id = blockIds.get(o);
  if (id === undefined) { id = nextBlockId++; blockIds.set(o, id); }
  return id;
}
const sharedHcms = new FrozenMemo<EnvoyObject>();

/**
 * An outbound HCM with telemetry, shared by value: the proxy's own labels are in the listener
 * metadata, so every proxy with the same HCM and the same telemetry blocks gets the identical
 * frozen filter, encoded once per snapshot instead of once per proxy (and compared by identity
 * when interned). Keyed by the blocks' ids and a hash of the HCM as built.
 */
function sharedOutboundHcm(hcm: EnvoyObject, t: HcmTelemetry): EnvoyObject {
  const blocks = [...t.httpFilters, ...(t.accessLogs ?? [])].map(blockId).join(',');
  const digest = createHash('sha256').update(JSON.stringify(hcm)).digest('base64url');
  return sharedHcms.get(`${blocks}|${blockId(t.statsLogs)}|${blockId(t.tracing)}|${t.accessLogs ? 'l' : ''}|${digest}`, () => withHcmTelemetry(hcm, t));
}

/** Telemetry of an inbound tcp_proxy (reporter `destination`). */
export function inboundTcpTelemetry(snapshot: MeshSnapshot, w: Workload, mtls: boolean): readonly EnvoyObject[] {
  const e = telemetryFor(snapshot, w, w.namespace);
  if (!e.server.metrics) return [];
  return tcpStatsLoggers({ kind: 'destination', mtls }, e.server.metrics);
}

/** Telemetry of an outbound tcp_proxy (reporter `source`); its cluster names the destination service. */
export function outboundTcpTelemetry(snapshot: MeshSnapshot, w: Workload | undefined, namespace: string, cluster: string): readonly EnvoyObject[] {
  const e = telemetryFor(snapshot, w, namespace);
  if (!e.client.metrics) return [];
  const host = parseOutboundClusterName(cluster)?.hostname;
  const svc = host ? servicesByHost(snapshot).get(host)?.[0] : undefined;
  const service: ServiceLabels | undefined = svc ? { host: svc.hostname, name: svc.meta.name, namespace: svc.meta.namespace } : undefined;
  return tcpStatsLoggers({ kind: 'source', ...(service ? { service } : {}) }, e.client.metrics);
}

const FLUSH_ON_CONNECT: EnvoyObject = Object.freeze({ flush_access_log_on_connected: true });

/** A tcp_proxy filter with stats loggers added; it then flushes its log on upstream connect (connections opened). */
export function withTcpTelemetry(tcp: EnvoyObject, logs: readonly EnvoyObject[]): EnvoyObject {
  if (!logs.length) return tcp;
  const cfg = tcp.typed_config as EnvoyObject;
  const existing = (cfg.access_log as EnvoyObject[] | undefined) ?? [];
  return { ...tcp, typed_config: { ...cfg, access_log: [...existing, ...logs], access_log_options: FLUSH_ON_CONNECT } };
}

const INBOUND_CHAIN = /^inbound\|(\d+)\|(mtls|plaintext|tls-passthrough)$/;

const NO_CHAINS: ReadonlyMap<string, ServiceLabels | undefined> = new Map();
const selfMetadata = new FrozenMemo<EnvoyObject>();

/** The `meshd.self` listener metadata, shared by value (every listener of a proxy, every snapshot). */
function sharedSelfMetadata(self: PeerInfo, chains: ReadonlyMap<string, ServiceLabels | undefined>): EnvoyObject {
  let key = peerHeaderValue(self);
  for (const [n, svc] of chains) key += `\u0000${n}\u0000${svc ? `${svc.host}\u0000${svc.name}\u0000${svc.namespace}` : ''}`;
  return selfMetadata.get(key, () => listenerSelfMetadata(self, chains));
}

/** The listener with `meshd.self` added to its metadata (other namespaces kept). */
function withSelfMetadata(l: EnvoyObject, md: EnvoyObject): EnvoyObject {
  const existing = (l.metadata as { filter_metadata?: EnvoyObject } | undefined)?.filter_metadata;
  if (!existing) return { ...l, metadata: md };
  return { ...l, metadata: { ...(l.metadata as EnvoyObject), filter_metadata: { ...existing, [SELF_METADATA_NS]: (md.filter_metadata as EnvoyObject)[SELF_METADATA_NS] } } };
}

/**
 * A sidecar listener with telemetry on each of its HCMs and tcp_proxies: inbound chains by
 * their name (`inbound|8080|mtls`), outbound ones as the proxy's client side. `w` is the
 * proxy's workload (undefined for a proxy that gets outbound config only). The proxy's own
 * labels, and each inbound chain's service, go into the listener's `meshd.self` metadata.
 */
export function withListenerTelemetry(snapshot: MeshSnapshot, w: Workload | undefined, namespace: string, l: EnvoyObject, diags: Diagnostic[], outbound: () => HcmTelemetry): EnvoyObject {
  const chains = (l.filter_chains as EnvoyObject[] | undefined) ?? [];
  const inbound = l.traffic_direction === 'INBOUND';
  let used = false;
  let served: Map<string, ServiceLabels | undefined> | undefined;
  const mapped = chains.map((c) => {
    const name = String(c.name ?? '');
    const m = inbound ? INBOUND_CHAIN.exec(name) : null;
    if (inbound && (!m || !w)) return c;
    const port = m ? Number(m[1]) : 0;
    const mtls = m?.[2] === 'mtls';
    let touched = false;
    const filters = ((c.filters as EnvoyObject[] | undefined) ?? []).map((f) => {
      if (f.name === Filter.HttpConnectionManager) {
        touched = true;
        return inbound ? withHcmTelemetry(f, inboundHcmTelemetry(snapshot, w!, mtls, diags)) : sharedOutboundHcm(f, outbound());
      }
      if (f.name === Filter.TcpProxy) {
        const cluster = String((f.typed_config as EnvoyObject).cluster ?? '');
        const logs = inbound ? inboundTcpTelemetry(snapshot, w!, mtls) : outboundTcpTelemetry(snapshot, w, namespace, cluster);
        if (logs.length) touched = true;
        return withTcpTelemetry(f, logs);
      }
      return f;
    });
    if (touched) {
      used = true;
      if (inbound) (served ??= new Map()).set(name, inboundService(snapshot, w!, port));
    }
    return { ...c, filters };
  });
  const out = { ...l, filter_chains: mapped };
  return used ? withSelfMetadata(out, sharedSelfMetadata(peerInfo(w, namespace), served ?? NO_CHAINS)) : out;
}

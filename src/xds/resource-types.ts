/**
 * Type URLs, filter names and the packing of `Any`, each in one place.
 */
import { messageType, normalizeEnvoyJson } from './protos.js';

export const TYPE_PREFIX = 'type.googleapis.com/';

export const ResourceType = {
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  Endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  Route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export type ResourceTypeUrl = (typeof ResourceType)[keyof typeof ResourceType];

/** Push order, make-before-break: clusters before their endpoints, listeners before routes. */
export const PUSH_ORDER: readonly ResourceTypeUrl[] = [
  ResourceType.Secret,
  ResourceType.Cluster,
  ResourceType.Endpoint,
  ResourceType.Listener,
  ResourceType.Route,
];

/** Short names, for metrics and logs. */
export const SHORT_NAME: Readonly<Record<ResourceTypeUrl, string>> = {
  [ResourceType.Cluster]: 'CDS',
  [ResourceType.Endpoint]: 'EDS',
  [ResourceType.Listener]: 'LDS',
  [ResourceType.Route]: 'RDS',
  [ResourceType.Secret]: 'SDS',
};

/** Whether a type URL is one this server serves. */
export function isResourceTypeUrl(s: string): s is ResourceTypeUrl {
  return (PUSH_ORDER as readonly string[]).includes(s);
}

/** Wildcard types: the proxy gets all of them. The others are named subscriptions. */
export function isWildcardType(t: ResourceTypeUrl): boolean {
  return t === ResourceType.Cluster || t === ResourceType.Listener;
}

/** Envoy's well-known extension names. */
export const Filter = {
  HttpConnectionManager: 'envoy.filters.network.http_connection_manager',
  TcpProxy: 'envoy.filters.network.tcp_proxy',
  NetworkRbac: 'envoy.filters.network.rbac',
  HttpRbac: 'envoy.filters.http.rbac',
  HttpJwtAuthn: 'envoy.filters.http.jwt_authn',
  Router: 'envoy.filters.http.router',
  HttpFault: 'envoy.filters.http.fault',
  HttpCors: 'envoy.filters.http.cors',
  RetryPreviousHosts: 'envoy.retry_host_predicates.previous_hosts',
  RetryPreviousPriorities: 'envoy.retry_priorities.previous_priorities',
  TlsInspector: 'envoy.filters.listener.tls_inspector',
  OriginalDst: 'envoy.filters.listener.original_dst',
  HttpInspector: 'envoy.filters.listener.http_inspector',
  TransportSocketTls: 'envoy.transport_sockets.tls',
  FileAccessLog: 'envoy.access_loggers.file',
  StdoutAccessLog: 'envoy.access_loggers.stdout',
  // Telemetry (src/xds/translate/istio-stats.ts, telemetry.ts)
  HeaderToMetadata: 'envoy.filters.http.header_to_metadata',
  HeaderMutation: 'envoy.filters.http.header_mutation',
  StatsAccessLog: 'envoy.access_loggers.stats',
  OtelAccessLog: 'envoy.access_loggers.open_telemetry',
  ZipkinTracer: 'envoy.tracers.zipkin',
  OpenTelemetryTracer: 'envoy.tracers.opentelemetry',
} as const;

/** Message type names behind the typed configs we emit. */
export const TypeName = {
  HttpConnectionManager: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  TcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  NetworkRbac: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  HttpRbac: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  HttpJwtAuthn: 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  Router: 'envoy.extensions.filters.http.router.v3.Router',
  HttpFault: 'envoy.extensions.filters.http.fault.v3.HTTPFault',
  HttpCors: 'envoy.extensions.filters.http.cors.v3.Cors',
  /** Per-route config of the CORS filter. */
  HttpCorsPolicy: 'envoy.extensions.filters.http.cors.v3.CorsPolicy',
  RetryPreviousHosts: 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
  RetryPreviousPriorities: 'envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig',
  TlsInspector: 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  OriginalDst: 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  HttpInspector: 'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  UpstreamTlsContext: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTlsContext: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  FileAccessLog: 'envoy.extensions.access_loggers.file.v3.FileAccessLog',
  StdoutAccessLog: 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
  HttpProtocolOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  HeaderToMetadata: 'envoy.extensions.filters.http.header_to_metadata.v3.Config',
  HeaderMutation: 'envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
  ZipkinConfig: 'envoy.config.trace.v3.ZipkinConfig',
  OpenTelemetryConfig: 'envoy.config.trace.v3.OpenTelemetryConfig',
  /** Envoy converts a TypedStruct's JSON to the message named by its type_url (for messages the pinned protos lack). */
  TypedStruct: 'xds.type.v3.TypedStruct',
  /** Behind TypedStruct: not in the pinned @grpc/grpc-js-xds protos. */
  StatsAccessLog: 'envoy.extensions.access_loggers.stats.v3.Config',
  OtelAccessLog: 'envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig',
} as const;

/** An `Any` of a message the pinned protos lack, as a TypedStruct Envoy converts itself. */
export function typedStruct(typeName: string, value: EnvoyObject): EnvoyObject {
  return typed(TypeName.TypedStruct, { type_url: TYPE_PREFIX + typeName, value });
}

/** A JSON-like object in Envoy's own YAML/JSON form: snake_case fields, `@type` for `Any`. */
export type EnvoyObject = { readonly [k: string]: unknown };

/** An `Any` value in Envoy's JSON form: `{"@type": url, ...fields}`. */
export function typed(typeName: string, fields: EnvoyObject): EnvoyObject {
  return { '@type': TYPE_PREFIX + typeName, ...fields };
}

/** Message name for a resource type URL. */
export function messageNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/**
 * Encodes one resource (Envoy JSON form) to protobuf bytes. Throws with the field path
 * protobufjs reports when the object does not fit the message (a programmer error).
 */
export function encodeResource(typeUrl: ResourceTypeUrl, resource: EnvoyObject): Uint8Array {
  const t = messageType(messageNameOf(typeUrl));
  const msg = t.fromObject(normalizeEnvoyJson(t, resource) as Record<string, unknown>);
  return t.encode(msg).finish();
}

/** Decodes resource bytes back to Envoy JSON form (for debug output and tests). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  const t = messageType(messageNameOf(typeUrl));
  return t.toObject(t.decode(bytes), { json: true, longs: String, enums: String, defaults: false, oneofs: false }) as Record<string, unknown>;
}

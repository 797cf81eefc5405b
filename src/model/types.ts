/**
 * The mesh model: plain, readonly, serializable data. Sources (file store, Kubernetes)
 * produce it; translation consumes it. Nothing here knows about Envoy.
 */

import type { DestinationRule, Locality, OutboundTrafficMode, RouteSet, ServiceEntry, SidecarScope } from './traffic.js';

export type Labels = Readonly<Record<string, string>>;

/** Where an object came from: a file path (file store) or `k8s`. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly annotations: Labels;
  /** RFC 3339, as Kubernetes writes it; absent in hand-written files. */
  readonly creationTimestamp?: string;
  /** Kubernetes resourceVersion or a content hash; used to detect no-op updates. */
  readonly resourceVersion?: string;
  readonly uid?: string;
  readonly source: string;
}

/** Protocol of a service port, from the port name prefix or `appProtocol`, as Istio does. */
export type PortProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'HTTPS' | 'TLS' | 'TCP' | 'UNSUPPORTED';

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  /** The workload's port; defaults to `port`. A named targetPort is resolved per workload. */
  readonly targetPort: number | string;
  readonly protocol: PortProtocol;
}

export interface Service {
  readonly meta: ObjectMeta;
  /** `<name>.<namespace>.svc.<domain suffix>` */
  readonly hostname: string;
  /** ClusterIP, when known (needed for TCP in transparent interception). */
  readonly clusterIP?: string;
  /** Absent selector: endpoints are not selected from workloads (none in this model). */
  readonly selector?: Labels;
  readonly ports: readonly ServicePort[];
}

/**
 * A workload instance: a WorkloadEntry in the file store, a Pod in Kubernetes.
 * `meshed` is false for workloads without a sidecar (they get plaintext).
 */
export interface Workload {
  readonly meta: ObjectMeta;
  /** Workload name used for proxy matching (WorkloadEntry name, or the pod's name). */
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly labels: Labels;
  readonly serviceAccount: string;
  /** Port name → port number on the workload (WorkloadEntry `ports`). */
  readonly ports: Readonly<Record<string, number>>;
  readonly meshed: boolean;
  /**
   * Where the sidecar hands inbound traffic to the app in explicit interception mode
   * (annotation `meshd.dev/app-address`, default 127.0.0.1).
   */
  readonly appAddress?: string;
  /**
   * Address outbound listeners bind to in explicit interception mode
   * (annotation `meshd.dev/outbound-address`, default 127.0.0.1).
   */
  readonly outboundAddress?: string;
  /** Kubernetes Pod phase/readiness; file-store workloads are always ready. */
  readonly ready: boolean;
  /** WorkloadEntry `locality`, or the Pod's node topology labels (locality-aware load balancing). */
  readonly locality?: Locality;
  /** WorkloadEntry `weight` (load-balancing weight among a service's endpoints). */
  readonly weight?: number;
}

export interface Namespace {
  readonly meta: ObjectMeta;
}

// ---- security.istio.io ----------------------------------------------------------------

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthentication {
  readonly meta: ObjectMeta;
  readonly apiVersion: string;
  readonly selector?: Labels;
  readonly mtls?: { readonly mode: MtlsMode };
  readonly portLevelMtls?: Readonly<Record<string, { readonly mode: MtlsMode }>>;
}

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface AuthzSource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

export interface AuthzOperation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

export interface AuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthzRule {
  readonly from?: readonly { readonly source: AuthzSource }[];
  readonly to?: readonly { readonly operation: AuthzOperation }[];
  readonly when?: readonly AuthzCondition[];
}

export interface AuthorizationPolicy {
  readonly meta: ObjectMeta;
  readonly apiVersion: string;
  readonly selector?: Labels;
  readonly targetRefs?: readonly unknown[];
  readonly action: AuthzAction;
  /** Absent `rules` (as in `spec: {}`) differs from `rules: []`: both allow nothing for ALLOW. */
  readonly rules?: readonly AuthzRule[];
  readonly provider?: { readonly name: string };
  /** `istio.io/dry-run: "true"` */
  readonly dryRun: boolean;
}

/** Where a JWT is read from: a header, with an optional value prefix (`Bearer `). */
export interface JwtHeader {
  readonly name: string;
  readonly prefix?: string;
}

/** One `jwtRules` entry of a RequestAuthentication (Istio's JWTRule). */
export interface JwtRule {
  readonly issuer: string;
  readonly audiences?: readonly string[];
  /** Inline JWKS (JSON text). */
  readonly jwks?: string;
  /** Fetched by meshd and served inline, so sidecars need no egress. */
  readonly jwksUri?: string;
  readonly fromHeaders?: readonly JwtHeader[];
  readonly fromParams?: readonly string[];
  readonly fromCookies?: readonly string[];
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders?: readonly { readonly header: string; readonly claim: string }[];
  readonly forwardOriginalToken: boolean;
}

export interface RequestAuthentication {
  readonly meta: ObjectMeta;
  readonly apiVersion: string;
  readonly selector?: Labels;
  readonly targetRefs?: readonly unknown[];
  readonly jwtRules: readonly JwtRule[];
}

// ---- mesh-wide settings ----------------------------------------------------------------

export interface MeshConfig {
  readonly trustDomain: string;
  /** Namespace whose policies apply mesh-wide (Istio's root namespace). */
  readonly rootNamespace: string;
  /** Cluster domain suffix for hostnames. */
  readonly domainSuffix: string;
  /** ext_authz providers by name, for CUSTOM AuthorizationPolicies. */
  readonly extensionProviders: readonly ExtAuthzProvider[];
  /**
   * Istio's mesh-wide `outboundTrafficPolicy.mode`: calls to hosts outside the registry pass
   * through (ALLOW_ANY, the default) or are refused (REGISTRY_ONLY). A Sidecar may override it.
   */
  readonly outboundTrafficPolicy: OutboundTrafficMode;
  /** Tracing, access-log and metrics providers by name (mesh config `extensionProviders`). */
  readonly telemetryProviders?: readonly TelemetryProvider[];
  /** Providers used where no Telemetry names one (mesh config `defaultProviders`). */
  readonly defaultProviders?: DefaultProviders;
  /** Default trace sampling percentage (mesh config `defaultConfig.tracing.sampling`; Istio's 1). */
  readonly defaultTraceSampling?: number;
  /** Extra trust anchors (PEM) added to every proxy's ROOTCA bundle (mesh config `caCertificates`). */
  readonly caCertificates?: readonly string[];
  /** Mesh config `enableAutoMtls` (default true). */
  readonly enableAutoMtls?: boolean;
}

/** Names of default providers per telemetry kind (Istio's `defaultProviders`). */
export interface DefaultProviders {
  readonly tracing?: readonly string[];
  readonly metrics?: readonly string[];
  readonly accessLogging?: readonly string[];
}

/** Where a provider sends to: a mesh service host and port. */
export interface ProviderService {
  readonly service: string;
  readonly port: number;
}

/** An access-log format: a text line (Envoy command operators) or JSON labels. */
export type LogFormat =
  | { readonly kind: 'default' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'labels'; readonly labels: Readonly<Record<string, string>> };

/** A tracing, access-log or metrics provider from the mesh config, discriminated by `kind`. */
export type TelemetryProvider =
  | { readonly kind: 'zipkin'; readonly name: string; readonly target: ProviderService; readonly maxTagLength?: number; readonly path?: string }
  | { readonly kind: 'opentelemetry'; readonly name: string; readonly target: ProviderService; readonly http?: { readonly path: string; readonly timeout?: string } }
  | { readonly kind: 'envoyFileAccessLog'; readonly name: string; readonly path: string; readonly format: LogFormat }
  | { readonly kind: 'envoyOtelAls'; readonly name: string; readonly target: ProviderService; readonly logName?: string; readonly format: LogFormat }
  | { readonly kind: 'prometheus'; readonly name: string };

// ---- telemetry.istio.io ----------------------------------------------------------------

/** Which side of a proxy a telemetry setting applies to (Istio's WorkloadMode). */
export type WorkloadMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';

/** Istio's standard metric selectors (`metrics.overrides[].match.metric`). */
export type IstioMetricName =
  | 'ALL_METRICS' | 'REQUEST_COUNT' | 'REQUEST_DURATION' | 'REQUEST_SIZE' | 'RESPONSE_SIZE'
  | 'TCP_OPENED_CONNECTIONS' | 'TCP_CLOSED_CONNECTIONS' | 'TCP_SENT_BYTES' | 'TCP_RECEIVED_BYTES'
  | 'GRPC_REQUEST_MESSAGES' | 'GRPC_RESPONSE_MESSAGES';

export type CustomTag =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'environment'; readonly name: string; readonly defaultValue?: string }
  | { readonly kind: 'header'; readonly name: string; readonly defaultValue?: string };

export interface TelemetryTracing {
  readonly mode: WorkloadMode;
  readonly providers?: readonly string[];
  readonly randomSamplingPercentage?: number;
  readonly disableSpanReporting?: boolean;
  readonly customTags?: Readonly<Record<string, CustomTag>>;
}

export interface TelemetryAccessLogging {
  readonly mode: WorkloadMode;
  readonly providers?: readonly string[];
  readonly disabled?: boolean;
  /** A CEL expression; only matching requests are logged. */
  readonly filter?: string;
}

/** A tag change: drop it, or set it from a CEL expression over Envoy attributes. */
export type TagOverride = { readonly operation: 'REMOVE' } | { readonly operation: 'UPSERT'; readonly value: string };

export interface MetricsOverride {
  readonly metric: IstioMetricName;
  readonly mode: WorkloadMode;
  readonly disabled?: boolean;
  readonly tagOverrides?: Readonly<Record<string, TagOverride>>;
}

export interface TelemetryMetrics {
  readonly providers?: readonly string[];
  readonly overrides: readonly MetricsOverride[];
}

/** A Telemetry resource: mesh-wide in the root namespace, namespace-wide, or per workload (selector). */
export interface Telemetry {
  readonly meta: ObjectMeta;
  readonly apiVersion: string;
  readonly selector?: Labels;
  readonly tracing?: readonly TelemetryTracing[];
  readonly accessLogging?: readonly TelemetryAccessLogging[];
  readonly metrics?: readonly TelemetryMetrics[];
}

/** An ext_authz provider of the mesh config (`envoyExtAuthzGrpc` / `envoyExtAuthzHttp`), for CUSTOM policies. */
export interface ExtAuthzProvider {
  readonly name: string;
  /** The service host (`host` or `namespace/host`, as Istio's `service`) of the authorizer. */
  readonly service: string;
  readonly port: number;
  /** gRPC `envoy.service.auth.v3.Authorization` (default) or plain HTTP. */
  readonly protocol?: 'grpc' | 'http';
  /** Check timeout (Istio's default 600 s when unset). */
  readonly timeoutMs?: number;
  /** Let requests through when the authorizer fails or is unreachable (Istio's `failOpen`). */
  readonly failOpen?: boolean;
  /** Status returned when the authorizer fails (Envoy's default 403). */
  readonly statusOnError?: number;
  /** Buffer the request body and send it with the check. */
  readonly includeRequestBody?: { readonly maxRequestBytes: number; readonly allowPartialMessage?: boolean; readonly packAsBytes?: boolean };
  /** HTTP only: path prefix of the check request, headers sent, headers copied back. */
  readonly pathPrefix?: string;
  readonly includeRequestHeaders?: readonly string[];
  readonly additionalHeaders?: Readonly<Record<string, string>>;
  readonly headersToUpstreamOnAllow?: readonly string[];
  readonly headersToDownstreamOnDeny?: readonly string[];
  readonly headersToDownstreamOnAllow?: readonly string[];
}

export const DEFAULT_MESH_CONFIG: MeshConfig = Object.freeze({
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  domainSuffix: 'cluster.local',
  extensionProviders: [],
  outboundTrafficPolicy: 'ALLOW_ANY',
});

/**
 * The whole mesh at one moment. Immutable; replaced as a whole after a debounced batch.
 * Arrays are sorted by namespace then name, so output built from them is deterministic.
 */
export interface MeshSnapshot {
  /** Monotonic per process; only for logs and debug, never in generated resources. */
  readonly generation: number;
  readonly config: MeshConfig;
  readonly namespaces: readonly Namespace[];
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  readonly peerAuthentications: readonly PeerAuthentication[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  /** VirtualServices and Gateway API HTTPRoutes/GRPCRoutes, in one route model (src/model/traffic.ts). */
  readonly routeSets: readonly RouteSet[];
  readonly destinationRules: readonly DestinationRule[];
  readonly serviceEntries: readonly ServiceEntry[];
  readonly sidecars: readonly SidecarScope[];
  /** Absent in snapshots built before RequestAuthentication existed (tests, simulations). */
  readonly requestAuthentications?: readonly RequestAuthentication[];
  /** JWKS fetched by meshd, by `jwksUri` (JSON text); a URI missing here has no keys yet. */
  readonly jwks?: Readonly<Record<string, string>>;
  /** telemetry.istio.io Telemetry resources (absent in snapshots built before they existed). */
  readonly telemetries?: readonly Telemetry[];
}

/** A problem with one object, as data: the file (or `k8s`), the object and the field. */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly source: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name?: string;
  /** A field path such as `spec.rules[0].when[1].key`. */
  readonly field: string;
  readonly message: string;
}

/** Formats a diagnostic the same way everywhere (file store, webhook, status, CLI). */
export function formatDiagnostic(d: Diagnostic): string {
  const obj = d.name ? `${d.kind} ${d.namespace ? d.namespace + '/' : ''}${d.name}` : d.kind;
  return `${d.severity}: ${d.source}: ${obj}: ${d.field}: ${d.message}`;
}

export type InterceptionMode = 'NONE' | 'REDIRECT';

/**
 * A connected proxy as translation sees it. `identity` is set only from an authenticated
 * credential; node metadata never sets it.
 */
export interface ProxyInfo {
  readonly id: string;
  readonly ip: string;
  readonly workloadName: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly interceptionMode: InterceptionMode;
  /** Proxyless gRPC clients (`@grpc/grpc-js-xds`) get API listeners instead of sidecar ones. */
  readonly proxyless: boolean;
  /**
   * Where the proxy gets its `default`/`ROOTCA` secrets: from meshd over ADS (default), or
   * from the node agent beside it over a Unix socket (static cluster `sds-grpc`), in which case
   * the private key never leaves the agent.
   */
  readonly secretSource?: 'ads' | 'agent';
}

/** Verified workload identity (SPIFFE `spiffe://<td>/ns/<namespace>/sa/<serviceAccount>`). */
export interface Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** The SPIFFE URI of an identity. */
export function spiffeId(id: Identity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

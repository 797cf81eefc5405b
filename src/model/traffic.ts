/**
 * The traffic model: one set of plain, readonly types that both front-ends translate to
 * (Istio's VirtualService / DestinationRule / ServiceEntry / Sidecar and the Gateway API's
 * HTTPRoute / GRPCRoute with a Service parent, "GAMMA"), and that translation turns into
 * Envoy routes, clusters and endpoints. A feature lands once: a front-end maps its fields
 * here; `src/xds/translate/` knows nothing of the front-ends.
 *
 * Rules every parser follows when it fills these types:
 * - Hosts are resolved at parse time in the object's namespace, as Istio does: a name without
 *   a dot becomes `<name>.<ns>.svc.<domainSuffix>`; a name with a dot, a wildcard (`*.x.com`)
 *   or `*` is kept as written (lowercased). ServiceEntry hosts are never expanded.
 * - Durations are integer milliseconds (`0` means "disabled", as Envoy's `0s`).
 * - Percentages are numbers in [0, 100] (fractions allowed, e.g. 0.1).
 * - `exportTo` is resolved: `.` becomes the object's namespace, `~` an empty list, absent `['*']`.
 * - Lists keep the user's order where order has meaning (routes, matches, destinations);
 *   everything else is sorted so the model is deterministic.
 */
import type { Labels, ObjectMeta, PortProtocol } from './types.js';

// ---- matching --------------------------------------------------------------------------------

/** A string matcher (Istio StringMatch, Gateway API match types). */
export type StringMatch =
  | { readonly type: 'exact'; readonly value: string }
  | { readonly type: 'prefix'; readonly value: string }
  /** RE2 syntax, as Envoy's `safe_regex`; validated at parse time. */
  | { readonly type: 'regex'; readonly value: string };

/** A header or query parameter matcher; `present` matches any value (Istio's empty StringMatch). */
export type ValueMatch = StringMatch | { readonly type: 'present' };

/** One header condition; `invert` is Istio's `withoutHeaders` (the header must not match). */
export interface HeaderMatch {
  /** Lowercase header name (`:authority`-style pseudo headers allowed as Envoy spells them). */
  readonly name: string;
  readonly match: ValueMatch;
  readonly invert: boolean;
}

export interface QueryParamMatch {
  readonly name: string;
  readonly match: ValueMatch;
}

/**
 * One HTTP match (all its conditions must hold; a rule matches when any of its matches does).
 * Conditions on the caller (`sourceLabels`, `sourceNamespace`) are decided at translation time
 * per proxy: a proxy whose labels/namespace do not satisfy them does not get the rule.
 */
export interface HttpMatch {
  readonly name?: string;
  readonly uri?: StringMatch;
  /**
   * With a `prefix` uri: match whole path segments only (Gateway API `PathPrefix`: `/foo`
   * matches `/foo` and `/foo/x`, not `/foobar`; Envoy `path_separated_prefix`). The prefix
   * never ends in `/` unless it is `/` itself (which matches everything either way).
   */
  readonly pathSeparatedPrefix?: boolean;
  readonly ignoreUriCase: boolean;
  readonly scheme?: StringMatch;
  readonly method?: StringMatch;
  readonly authority?: StringMatch;
  readonly headers: readonly HeaderMatch[];
  readonly queryParams: readonly QueryParamMatch[];
  /** The service port the request was sent to. */
  readonly port?: number;
  readonly sourceLabels?: Labels;
  readonly sourceNamespace?: string;
}

// ---- HTTP actions ----------------------------------------------------------------------------

/** Where traffic goes: a host (resolved FQDN), optionally one subset and one port. */
export interface Destination {
  readonly host: string;
  readonly subset?: string;
  /** Required when the destination host has several ports and the route's port differs. */
  readonly port?: number;
}

/** Header edits, applied in the order remove, set (overwrite), add (append). */
export interface HeaderEdits {
  /** Sorted by name. */
  readonly set: readonly (readonly [string, string])[];
  /** Sorted by name. */
  readonly add: readonly (readonly [string, string])[];
  /** Sorted. */
  readonly remove: readonly string[];
}

export interface HeaderPolicy {
  readonly request?: HeaderEdits;
  readonly response?: HeaderEdits;
}

export interface WeightedDestination {
  readonly destination: Destination;
  /**
   * Relative weight. Istio: absent weights on a single destination mean 100; weights of
   * several destinations must sum to 100 (a diagnostic otherwise). Gateway API: default 1,
   * any non-negative sum. Translation normalises; 0 means "receives nothing".
   */
  readonly weight: number;
  /** Per-destination header edits (Istio `route[].headers`, Gateway API backendRef filters). */
  readonly headers?: HeaderPolicy;
}

/** Istio HTTPRedirect / Gateway API RequestRedirect. */
export interface Redirect {
  /** Replaces the whole path, or only the matched prefix. */
  readonly path?: { readonly type: 'full' | 'prefix'; readonly value: string };
  readonly authority?: string;
  /**
   * A fixed port, the scheme's default (`derivePort: FROM_PROTOCOL_DEFAULT`), or the port the
   * request came in on (`derivePort: FROM_REQUEST_PORT`, the Gateway API default without a
   * scheme: translation writes the route's own port, as Envoy cannot derive it).
   */
  readonly port?: number | 'from-protocol-default' | 'from-request-port';
  readonly scheme?: string;
  /** 301 (default), 302, 303, 307, 308. */
  readonly code: number;
}

/** Istio HTTPRewrite / Gateway API URLRewrite. */
export interface Rewrite {
  /** `prefix`: replace the matched prefix (Istio `uri`); `full`: the whole path; `regex`: RE2 with substitution. */
  readonly path?:
    | { readonly type: 'prefix' | 'full'; readonly value: string }
    | { readonly type: 'regex'; readonly pattern: string; readonly substitution: string };
  readonly authority?: string;
}

export interface RetryPolicy {
  /** 0 disables retries. */
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  /** Envoy `retry_on` conditions and/or status codes, comma-separated, as Istio's `retryOn`. */
  readonly retryOn?: string;
  readonly retryRemoteLocalities?: boolean;
  /** Gateway API `retry.codes`. */
  readonly retriableStatusCodes?: readonly number[];
  readonly backoffBaseMs?: number;
}

export interface FaultPolicy {
  readonly delay?: { readonly fixedDelayMs: number; readonly percent: number };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: string; readonly percent: number };
}

export interface MirrorPolicy {
  readonly destination: Destination;
  /** Absent: 100. */
  readonly percent?: number;
}

export interface CorsPolicy {
  readonly allowOrigins: readonly StringMatch[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly maxAgeSeconds?: number;
  readonly allowCredentials?: boolean;
  /** Istio `unmatchedPreflights`: FORWARD (default) or IGNORE. */
  readonly unmatchedPreflights?: 'FORWARD' | 'IGNORE';
}

/** What a matched HTTP rule does with the request. */
export type HttpAction =
  | { readonly kind: 'route'; readonly destinations: readonly WeightedDestination[] }
  | { readonly kind: 'redirect'; readonly redirect: Redirect }
  | { readonly kind: 'direct-response'; readonly status: number; readonly body?: string }
  /** Istio `delegate`: the rules of another VirtualService, resolved at translation time. */
  | { readonly kind: 'delegate'; readonly name: string; readonly namespace: string };

/** One HTTP rule (Istio `http[i]`, Gateway API `rules[i]`). */
export interface HttpRule {
  readonly name?: string;
  /** Empty: matches every request. */
  readonly matches: readonly HttpMatch[];
  readonly action: HttpAction;
  readonly rewrite?: Rewrite;
  /** Whole-request timeout; 0 disables (Envoy `0s`); absent: the mesh default (disabled, as Istio). */
  readonly timeoutMs?: number;
  /** Absent: the mesh default retry policy. */
  readonly retries?: RetryPolicy;
  readonly fault?: FaultPolicy;
  readonly mirrors: readonly MirrorPolicy[];
  readonly headers?: HeaderPolicy;
  readonly cors?: CorsPolicy;
}

// ---- TCP and TLS -----------------------------------------------------------------------------

/** Conditions on an L4 connection (Istio L4MatchAttributes / TLSMatchAttributes). */
export interface L4Match {
  readonly port?: number;
  /** IPs or CIDRs. */
  readonly destinationSubnets: readonly string[];
  readonly sourceLabels?: Labels;
  readonly sourceNamespace?: string;
}

export interface TcpRule {
  /** Empty: matches every connection. */
  readonly matches: readonly L4Match[];
  readonly destinations: readonly WeightedDestination[];
}

export interface TlsMatch extends L4Match {
  /** SNI values, wildcards allowed (`*.example.com`); at least one. */
  readonly sniHosts: readonly string[];
}

export interface TlsRule {
  readonly matches: readonly TlsMatch[];
  readonly destinations: readonly WeightedDestination[];
}

// ---- the route set (VirtualService or HTTPRoute/GRPCRoute) -----------------------------------

/** Which front-end object a route set came from (for diagnostics and `meshctl route check`). */
export type RouteOrigin = 'VirtualService' | 'HTTPRoute' | 'GRPCRoute';

/**
 * Routing for a set of hosts, from one VirtualService (mesh gateway only) or one Gateway API
 * route with Service parents. Conflicts between route sets for one host are resolved by
 * translation: oldest `creationTimestamp` first, then namespace/name (Istio's rule), with a
 * diagnostic for the losers.
 */
export interface RouteSet {
  readonly meta: ObjectMeta;
  readonly origin: RouteOrigin;
  /** Resolved hosts (FQDN, `*.suffix` or `*`). For GAMMA: the parent Services' hostnames. */
  readonly hosts: readonly string[];
  /**
   * GAMMA only: the parent Service ports the route applies to (absent: every port).
   * VirtualService rules restrict ports through `HttpMatch.port` instead.
   */
  readonly ports?: readonly number[];
  /** Resolved exportTo (namespaces that see this route set; `*` for all). */
  readonly exportTo: readonly string[];
  readonly http: readonly HttpRule[];
  readonly tcp: readonly TcpRule[];
  readonly tls: readonly TlsRule[];
}

// ---- DestinationRule -------------------------------------------------------------------------

export type SimpleLb = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH';

export type HashKey =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string; readonly path?: string; readonly ttlMs?: number }
  | { readonly kind: 'source-ip' }
  | { readonly kind: 'query-param'; readonly name: string };

export interface LocalityLbSetting {
  /** `from` locality pattern (`region/zone/*`) → weights per `to` pattern (sum 100). */
  readonly distribute: readonly { readonly from: string; readonly to: readonly (readonly [string, number])[] }[];
  readonly failover: readonly { readonly from: string; readonly to: string }[];
  /** Label keys, in priority order (Istio `failoverPriority`). */
  readonly failoverPriority: readonly string[];
  /** Absent: enabled when outlier detection is set (Istio's default). */
  readonly enabled?: boolean;
}

export interface LoadBalancerSettings {
  readonly simple?: SimpleLb;
  readonly consistentHash?: {
    readonly key: HashKey;
    readonly algorithm: { readonly kind: 'ring-hash'; readonly minimumRingSize?: number } | { readonly kind: 'maglev'; readonly tableSize?: number };
  };
  readonly localityLbSetting?: LocalityLbSetting;
  readonly warmupDurationMs?: number;
}

export interface ConnectionPoolSettings {
  readonly tcp?: {
    readonly maxConnections?: number;
    readonly connectTimeoutMs?: number;
    readonly tcpKeepalive?: { readonly probes?: number; readonly timeMs?: number; readonly intervalMs?: number };
    readonly maxConnectionDurationMs?: number;
    readonly idleTimeoutMs?: number;
  };
  readonly http?: {
    readonly http1MaxPendingRequests?: number;
    readonly http2MaxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number;
    readonly idleTimeoutMs?: number;
    readonly h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
    readonly useClientProtocol?: boolean;
    readonly maxConcurrentStreams?: number;
  };
}

export interface OutlierDetection {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutiveLocalOriginFailures?: number;
  readonly splitExternalLocalOriginErrors?: boolean;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
}

/** Upstream TLS (Istio ClientTLSSettings). File paths are paths on the sidecar's filesystem. */
export interface ClientTlsSettings {
  readonly mode: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly credentialName?: string;
  /** Sorted. */
  readonly subjectAltNames: readonly string[];
  readonly sni?: string;
  readonly insecureSkipVerify?: boolean;
}

/** Settings for one port (also the shape of the top-level and per-subset policy, minus ports). */
export interface PortTrafficPolicy {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTlsSettings;
}

export interface TrafficPolicy extends PortTrafficPolicy {
  /** Sorted by port; a port's settings replace the top-level ones field by field, as Istio. */
  readonly portLevelSettings: readonly { readonly port: number; readonly policy: PortTrafficPolicy }[];
}

export interface Subset {
  readonly name: string;
  /** At least one label (a subset without labels is rejected at parse time). */
  readonly labels: Labels;
  /** Merged over the rule's top-level policy by translation. */
  readonly trafficPolicy?: TrafficPolicy;
}

export interface DestinationRule {
  readonly meta: ObjectMeta;
  /** Resolved host (FQDN or wildcard). */
  readonly host: string;
  readonly exportTo: readonly string[];
  /** Applies only to proxies whose labels match (Istio `workloadSelector.matchLabels`). */
  readonly workloadSelector?: Labels;
  readonly trafficPolicy?: TrafficPolicy;
  /** In the user's order; names unique. */
  readonly subsets: readonly Subset[];
}

// ---- ServiceEntry ----------------------------------------------------------------------------

/** `region/zone/subzone`, each part optional from the right. */
export interface Locality {
  readonly region: string;
  readonly zone?: string;
  readonly subZone?: string;
}

export interface ServiceEntryPort {
  readonly number: number;
  readonly name: string;
  readonly protocol: PortProtocol;
  readonly targetPort?: number;
}

export interface ServiceEntryEndpoint {
  /** An IP; for DNS resolution a hostname. */
  readonly address: string;
  /** Port name → port on the endpoint. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Labels;
  readonly locality?: Locality;
  readonly weight?: number;
  readonly network?: string;
  readonly serviceAccount?: string;
}

export interface ServiceEntry {
  readonly meta: ObjectMeta;
  /** As written (lowercased), never namespace-expanded; sorted. */
  readonly hosts: readonly string[];
  /** IPs or CIDRs; sorted. */
  readonly addresses: readonly string[];
  /** Sorted by number. */
  readonly ports: readonly ServiceEntryPort[];
  readonly location: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  readonly resolution: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
  readonly endpoints: readonly ServiceEntryEndpoint[];
  /** Selects WorkloadEntries (and Pods) of the same namespace as endpoints. */
  readonly workloadSelector?: Labels;
  readonly exportTo: readonly string[];
  /** Sorted. */
  readonly subjectAltNames: readonly string[];
}

// ---- Sidecar ---------------------------------------------------------------------------------

/** One `egress.hosts` entry, `namespace/host`: namespace `*`, `~` (none) or a name (`.` resolved). */
export interface EgressHost {
  readonly namespace: string;
  /** `*`, a wildcard `*.suffix`, or a host (FQDN or a short name already resolved). */
  readonly host: string;
}

export interface EgressListener {
  readonly port?: { readonly number: number; readonly protocol: PortProtocol; readonly name: string };
  readonly bind?: string;
  readonly captureMode?: 'DEFAULT' | 'IPTABLES' | 'NONE';
  readonly hosts: readonly EgressHost[];
}

export type OutboundTrafficMode = 'ALLOW_ANY' | 'REGISTRY_ONLY';

/** Istio's Sidecar: what a proxy sees. One per namespace without a selector, others by workloadSelector. */
export interface SidecarScope {
  readonly meta: ObjectMeta;
  readonly workloadSelector?: Labels;
  readonly egress: readonly EgressListener[];
  readonly outboundTrafficPolicy?: OutboundTrafficMode;
}

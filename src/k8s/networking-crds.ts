/**
 * meshd's own CRDs for the networking kinds it reads (Istio's VirtualService, DestinationRule,
 * ServiceEntry, Sidecar, WorkloadEntry; the Gateway API's HTTPRoute and GRPCRoute), written
 * to `deploy/crds-networking.yaml` (a unit test keeps the file equal to this module).
 *
 * The schemas are structural and give types only, and every object keeps unknown fields
 * (`x-kubernetes-preserve-unknown-fields`): values and field names are checked by meshd's
 * validating webhook, so a typo reaches the user as meshd's diagnostic with a "did you mean"
 * hint instead of being pruned silently or refused with the API server's terser message.
 * Served versions are those Istio and the Gateway API serve; the first is stored.
 */
import YAML from 'yaml';

type Schema = Record<string, unknown>;

const str = (): Schema => ({ type: 'string' });
const int = (): Schema => ({ type: 'integer' });
const num = (): Schema => ({ type: 'number' });
const bool = (): Schema => ({ type: 'boolean' });
const list = (items: Schema): Schema => ({ type: 'array', items });
const strings = (): Schema => list(str());
const map = (values: Schema): Schema => ({ type: 'object', additionalProperties: values });
const labels = (): Schema => map(str());
/** An object whose unknown fields are kept for the webhook to name. */
const obj = (properties: Record<string, Schema> = {}): Schema => ({ type: 'object', ...(Object.keys(properties).length ? { properties } : {}), 'x-kubernetes-preserve-unknown-fields': true });

// ---- networking.istio.io ---------------------------------------------------------------------

const stringMatch = (): Schema => obj({ exact: str(), prefix: str(), regex: str() });
const percent = (): Schema => obj({ value: num() });
const portSelector = (): Schema => obj({ number: int() });
const destination = (): Schema => obj({ host: str(), subset: str(), port: portSelector() });
const headerOps = (): Schema => obj({ set: labels(), add: labels(), remove: strings() });
const routeDestinations = (): Schema => list(obj({ destination: destination(), weight: int(), headers: obj({ request: headerOps(), response: headerOps() }) }));
const l4Match = (): Schema => obj({
  destinationSubnets: strings(), port: int(), sourceLabels: labels(), gateways: strings(), sourceNamespace: str(), sourceSubnet: str(), sniHosts: strings(),
});

const httpRoute = (): Schema => obj({
  name: str(),
  match: list(obj({
    name: str(), uri: stringMatch(), scheme: stringMatch(), method: stringMatch(), authority: stringMatch(),
    headers: map(stringMatch()), withoutHeaders: map(stringMatch()), queryParams: map(stringMatch()),
    port: int(), sourceLabels: labels(), gateways: strings(), ignoreUriCase: bool(), sourceNamespace: str(), statPrefix: str(),
  })),
  route: routeDestinations(),
  redirect: obj({ uri: str(), authority: str(), port: int(), derivePort: str(), scheme: str(), redirectCode: int() }),
  directResponse: obj({ status: int(), body: obj({ string: str(), bytes: str() }) }),
  delegate: obj({ name: str(), namespace: str() }),
  rewrite: obj({ uri: str(), authority: str(), uriRegexRewrite: obj({ match: str(), rewrite: str() }) }),
  timeout: str(),
  retries: obj({ attempts: int(), perTryTimeout: str(), retryOn: str(), retryRemoteLocalities: bool(), retryIgnorePreviousHosts: bool(), backoff: str() }),
  fault: obj({
    delay: obj({ fixedDelay: str(), exponentialDelay: str(), percentage: percent(), percent: int() }),
    abort: obj({ httpStatus: int(), grpcStatus: str(), http2Error: str(), percentage: percent() }),
  }),
  mirror: destination(), mirrorPercent: int(), mirrorPercentage: percent(),
  mirrors: list(obj({ destination: destination(), percentage: percent() })),
  corsPolicy: obj({
    allowOrigin: strings(), allowOrigins: list(stringMatch()), allowMethods: strings(), allowHeaders: strings(), exposeHeaders: strings(),
    maxAge: str(), allowCredentials: bool(), unmatchedPreflights: str(),
  }),
  headers: obj({ request: headerOps(), response: headerOps() }),
});

const virtualService = (): Schema => obj({
  hosts: strings(), gateways: strings(), exportTo: strings(),
  http: list(httpRoute()),
  tls: list(obj({ match: list(l4Match()), route: routeDestinations() })),
  tcp: list(obj({ match: list(l4Match()), route: routeDestinations() })),
});

const duration = str;
const portPolicy = (): Record<string, Schema> => ({
  loadBalancer: obj({
    simple: str(),
    consistentHash: obj({
      httpHeaderName: str(), useSourceIp: bool(), httpQueryParameterName: str(), minimumRingSize: int(),
      httpCookie: obj({ name: str(), path: str(), ttl: duration(), attributes: list(obj({ name: str(), value: str() })) }),
      ringHash: obj({ minimumRingSize: int() }), maglev: obj({ tableSize: int() }),
    }),
    localityLbSetting: obj({
      distribute: list(obj({ from: str(), to: map(int()) })), failover: list(obj({ from: str(), to: str() })),
      failoverPriority: strings(), enabled: bool(),
    }),
    warmupDurationSecs: duration(), warmup: obj({ duration: duration(), minimumPercent: num(), aggression: num() }),
    zoneAwareLbSetting: obj(),
  }),
  connectionPool: obj({
    tcp: obj({
      maxConnections: int(), connectTimeout: duration(), tcpKeepalive: obj({ probes: int(), time: duration(), interval: duration() }),
      maxConnectionDuration: duration(), idleTimeout: duration(),
    }),
    http: obj({
      http1MaxPendingRequests: int(), http2MaxRequests: int(), maxRequestsPerConnection: int(), maxRetries: int(), idleTimeout: duration(),
      h2UpgradePolicy: str(), useClientProtocol: bool(), maxConcurrentStreams: int(), http2KeepAlive: obj(),
    }),
  }),
  outlierDetection: obj({
    consecutive5xxErrors: int(), consecutiveGatewayErrors: int(), consecutiveLocalOriginFailures: int(), splitExternalLocalOriginErrors: bool(),
    interval: duration(), baseEjectionTime: duration(), maxEjectionPercent: int(), minHealthPercent: int(), consecutiveErrors: int(),
  }),
  tls: obj({
    mode: str(), clientCertificate: str(), privateKey: str(), caCertificates: str(), credentialName: str(), subjectAltNames: strings(),
    sni: str(), insecureSkipVerify: bool(), caCrl: str(),
  }),
});
const trafficPolicy = (): Schema => obj({
  ...portPolicy(), portLevelSettings: list(obj({ port: portSelector(), ...portPolicy() })), proxyProtocol: obj(), tunnel: obj(), retryBudget: obj(),
});

const destinationRule = (): Schema => obj({
  host: str(), trafficPolicy: trafficPolicy(), exportTo: strings(), workloadSelector: obj({ matchLabels: labels() }),
  subsets: list(obj({ name: str(), labels: labels(), trafficPolicy: trafficPolicy() })),
});

const workloadEntrySpec = (): Record<string, Schema> => ({
  address: str(), ports: map(int()), labels: labels(), network: str(), locality: str(), weight: int(), serviceAccount: str(),
});

const serviceEntry = (): Schema => obj({
  hosts: strings(), addresses: strings(), location: str(), resolution: str(), exportTo: strings(), subjectAltNames: strings(),
  ports: list(obj({ number: int(), name: str(), protocol: str(), targetPort: int() })),
  endpoints: list(obj(workloadEntrySpec())),
  workloadSelector: obj({ labels: labels() }),
});

const sidecarPort = (): Schema => obj({ number: int(), protocol: str(), name: str(), targetPort: int() });
const sidecar = (): Schema => obj({
  workloadSelector: obj({ labels: labels() }),
  ingress: list(obj({ port: sidecarPort(), bind: str(), captureMode: str(), defaultEndpoint: str() })),
  egress: list(obj({ port: sidecarPort(), bind: str(), captureMode: str(), hosts: strings() })),
  outboundTrafficPolicy: obj({ mode: str(), egressProxy: obj() }),
  inboundConnectionPool: obj(),
});

// ---- gateway.networking.k8s.io ---------------------------------------------------------------

const parentRef = (): Schema => obj({ group: str(), kind: str(), namespace: str(), name: str(), sectionName: str(), port: int() });
const backendObject = (): Record<string, Schema> => ({ group: str(), kind: str(), name: str(), namespace: str(), port: int() });
const headerModifier = (): Schema => obj({ set: list(obj({ name: str(), value: str() })), add: list(obj({ name: str(), value: str() })), remove: strings() });
const mirror = (): Schema => obj({ backendRef: obj(backendObject()), percent: int(), fraction: obj({ numerator: int(), denominator: int() }) });
const httpPath = (): Schema => obj({ type: str(), replaceFullPath: str(), replacePrefixMatch: str() });
const httpFilters = (): Schema => list(obj({
  type: str(), requestHeaderModifier: headerModifier(), responseHeaderModifier: headerModifier(), requestMirror: mirror(),
  requestRedirect: obj({ scheme: str(), hostname: str(), path: httpPath(), port: int(), statusCode: int() }),
  urlRewrite: obj({ hostname: str(), path: httpPath() }),
  cors: obj({ allowOrigins: strings(), allowCredentials: bool(), allowMethods: strings(), allowHeaders: strings(), exposeHeaders: strings(), maxAge: int() }),
  extensionRef: obj({ group: str(), kind: str(), name: str() }), externalAuth: obj(),
}));
const grpcFilters = (): Schema => list(obj({
  type: str(), requestHeaderModifier: headerModifier(), responseHeaderModifier: headerModifier(), requestMirror: mirror(),
  extensionRef: obj({ group: str(), kind: str(), name: str() }),
}));
const nameValueMatch = (): Schema => list(obj({ type: str(), name: str(), value: str() }));

const httpRouteSpec = (): Schema => obj({
  parentRefs: list(parentRef()), hostnames: strings(), useDefaultGateways: str(),
  rules: list(obj({
    name: str(),
    matches: list(obj({ path: obj({ type: str(), value: str() }), headers: nameValueMatch(), queryParams: nameValueMatch(), method: str() })),
    filters: httpFilters(),
    backendRefs: list(obj({ ...backendObject(), weight: int(), filters: httpFilters() })),
    timeouts: obj({ request: str(), backendRequest: str() }),
    retry: obj({ codes: list(int()), attempts: int(), backoff: str() }),
    sessionPersistence: obj(),
  })),
});

const grpcRouteSpec = (): Schema => obj({
  parentRefs: list(parentRef()), hostnames: strings(),
  rules: list(obj({
    name: str(),
    matches: list(obj({ method: obj({ type: str(), service: str(), method: str() }), headers: nameValueMatch() })),
    filters: grpcFilters(),
    backendRefs: list(obj({ ...backendObject(), weight: int(), filters: grpcFilters() })),
    sessionPersistence: obj(),
  })),
});

// ---- the CRDs --------------------------------------------------------------------------------

interface CrdSpec {
  readonly group: string;
  readonly kind: string;
  readonly plural: string;
  readonly shortNames?: readonly string[];
  readonly categories: readonly string[];
  /** Served versions; the first is stored. */
  readonly versions: readonly string[];
  readonly spec: Schema;
  readonly columns: readonly { name: string; type: string; jsonPath: string; description?: string }[];
  readonly annotations?: Readonly<Record<string, string>>;
}

const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const ACCEPTED = { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].status', description: 'Whether meshd accepted the object' };
const ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];
const ISTIO_CATEGORIES = ['istio-io', 'networking-istio-io'];
// The Gateway API group is a protected *.k8s.io group: the API server requires this annotation.
const GATEWAY_API_ANNOTATIONS = { 'api-approved.kubernetes.io': 'unapproved, meshd\'s minimal stand-in for the Gateway API\'s own CRDs (which also work with meshd)' };

/** The CRDs, in the order of deploy/crds-networking.yaml. */
export const NETWORKING_CRDS: readonly CrdSpec[] = [
  {
    group: 'networking.istio.io', kind: 'VirtualService', plural: 'virtualservices', shortNames: ['vs'], categories: ISTIO_CATEGORIES, versions: ISTIO_VERSIONS,
    spec: virtualService(),
    columns: [
      { name: 'Gateways', type: 'string', jsonPath: '.spec.gateways', description: 'The gateways the routes apply to ("mesh": sidecars)' },
      { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The destination hosts traffic is routed for' }, ACCEPTED, AGE,
    ],
  },
  {
    group: 'networking.istio.io', kind: 'DestinationRule', plural: 'destinationrules', shortNames: ['dr'], categories: ISTIO_CATEGORIES, versions: ISTIO_VERSIONS,
    spec: destinationRule(),
    columns: [{ name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'The service the rule applies to' }, ACCEPTED, AGE],
  },
  {
    group: 'networking.istio.io', kind: 'ServiceEntry', plural: 'serviceentries', shortNames: ['se'], categories: ISTIO_CATEGORIES, versions: ISTIO_VERSIONS,
    spec: serviceEntry(),
    columns: [
      { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts' }, { name: 'Location', type: 'string', jsonPath: '.spec.location' },
      { name: 'Resolution', type: 'string', jsonPath: '.spec.resolution' }, ACCEPTED, AGE,
    ],
  },
  {
    group: 'networking.istio.io', kind: 'Sidecar', plural: 'sidecars', categories: ISTIO_CATEGORIES, versions: ISTIO_VERSIONS,
    spec: sidecar(), columns: [ACCEPTED, AGE],
  },
  {
    group: 'networking.istio.io', kind: 'WorkloadEntry', plural: 'workloadentries', shortNames: ['we'], categories: ISTIO_CATEGORIES, versions: ISTIO_VERSIONS,
    spec: obj(workloadEntrySpec()), columns: [{ name: 'Address', type: 'string', jsonPath: '.spec.address' }, ACCEPTED, AGE],
  },
  {
    group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', plural: 'httproutes', categories: ['gateway-api'], versions: ['v1', 'v1beta1'],
    spec: httpRouteSpec(), columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }, AGE], annotations: GATEWAY_API_ANNOTATIONS,
  },
  {
    group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', plural: 'grpcroutes', categories: ['gateway-api'], versions: ['v1'],
    spec: grpcRouteSpec(), columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }, AGE], annotations: GATEWAY_API_ANNOTATIONS,
  },
];

/** One CustomResourceDefinition object; every version shares one schema (no conversion needed). */
export function crdObject(c: CrdSpec): Record<string, unknown> {
  const schema = { openAPIV3Schema: { type: 'object', properties: { spec: c.spec, status: obj() } } };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.${c.group}`, labels: { 'app.kubernetes.io/part-of': 'meshd' }, ...(c.annotations ? { annotations: c.annotations } : {}) },
    spec: {
      group: c.group,
      scope: 'Namespaced',
      names: {
        kind: c.kind, listKind: `${c.kind}List`, plural: c.plural, singular: c.kind.toLowerCase(),
        ...(c.shortNames ? { shortNames: c.shortNames } : {}), categories: c.categories,
      },
      versions: c.versions.map((name, i) => ({
        name, served: true, storage: i === 0, subresources: { status: {} }, schema, additionalPrinterColumns: c.columns,
      })),
    },
  };
}

/** The header of deploy/crds-networking.yaml. */
export const NETWORKING_CRDS_HEADER = `# meshd's CRDs for the networking kinds it reads: networking.istio.io VirtualService,
# DestinationRule, ServiceEntry, Sidecar, WorkloadEntry (v1 stored; v1beta1 and v1alpha3 served)
# and the Gateway API's HTTPRoute (v1 stored, v1beta1 served) and GRPCRoute (v1), for mesh routes
# (GAMMA: parentRefs naming a Service). Structural schemas with types only; unknown fields are
# kept so that meshd's validating webhook names them. For the Gateway API these are a minimal
# stand-in: the upstream CRDs work with meshd too (install them instead, not on top).
# Generated from src/k8s/networking-crds.ts: edit there, then \`npm run golden:update\`.
`;

/** The text of deploy/crds-networking.yaml: the header, then one document per CRD (versions share their schema by YAML alias). */
export function renderNetworkingCrds(): string {
  const docs = NETWORKING_CRDS.map((c) => new YAML.Document(crdObject(c), { aliasDuplicateObjects: true, anchorPrefix: 'shared' }).toString({ lineWidth: 0 }));
  return NETWORKING_CRDS_HEADER + docs.join('---\n');
}

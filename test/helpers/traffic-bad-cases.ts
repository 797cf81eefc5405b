/**
 * The bad-input table for the traffic kinds: a good object, the edit that breaks it and the
 * exact diagnostic (after `<source>: `). The file store test (test/unit/config/
 * traffic-bad-input.test.ts) and the webhook test on the real API server (test/k8s/
 * traffic.test.ts) both run it, so `kubectl apply` and the file store say the same thing.
 */
export interface TrafficBadCase {
  readonly name: string;
  /** The good object (YAML); `edit` turns it into the bad one. */
  readonly good: string;
  readonly edit: (o: any) => void;
  /** The expected diagnostic after `<file>: `. */
  readonly expect: string;
}

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /api}, headers: {x-user: {exact: a}}}]
    timeout: 2s
    retries: {attempts: 2, perTryTimeout: 1s}
    fault: {abort: {httpStatus: 503, percentage: {value: 10}}}
    route:
    - {destination: {host: reviews, subset: v1, port: {number: 9080}}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, tls: {mode: ISTIO_MUTUAL}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: egress}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  location: MESH_EXTERNAL
  resolution: DNS
`;
const SE_STATIC = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: egress}
spec:
  hosts: [legacy.example.com]
  addresses: [192.0.2.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 192.0.2.10}]
`;
const SIDECAR = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress: [{hosts: ["./*", "istio-system/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    timeouts: {request: 5s}
    backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 10}]
`;

/** Every bad-input case (each names its object and field). */
export const TRAFFIC_BAD_CASES: readonly TrafficBadCase[] = [
  { name: 'unknown field', good: VS, edit: (o) => { o.spec.http[0].retry = o.spec.http[0].retries; }, expect: 'VirtualService shop/reviews: spec.http[0].retry: unknown field (did you mean "retries"?)' },
  { name: 'unknown top-level spec field', good: VS, edit: (o) => { o.spec.host = 'x'; }, expect: 'VirtualService shop/reviews: spec.host: unknown field (did you mean "hosts"?)' },
  { name: 'regex with a lookahead', good: VS, edit: (o) => { o.spec.http[0].match[0].uri = { regex: '/api(?!/internal)' }; }, expect: 'VirtualService shop/reviews: spec.http[0].match[0].uri.regex: "/api(?!/internal)" is not a valid RE2 regex (invalid or unsupported Perl syntax: `(?!`); Envoy uses RE2: no lookarounds or backreferences' },
  { name: 'regex with a backreference', good: VS, edit: (o) => { o.spec.http[0].match[0].headers['x-user'] = { regex: '(a)\\1' }; }, expect: 'VirtualService shop/reviews: spec.http[0].match[0].headers.x-user.regex: "(a)\\\\1" is not a valid RE2 regex (invalid escape sequence: `\\1`); Envoy uses RE2: no lookarounds or backreferences' },
  { name: 'weight over 100', good: VS, edit: (o) => { o.spec.http[0].route[1].weight = 150; }, expect: 'VirtualService shop/reviews: spec.http[0].route[1].weight: must be an integer 0-100' },
  { name: 'weights not summing to 100', good: VS, edit: (o) => { o.spec.http[0].route[1].weight = 20; }, expect: 'VirtualService shop/reviews: spec.http[0].route: weights of several destinations must sum to 100 (they sum to 110)' },
  { name: 'duration that does not parse', good: VS, edit: (o) => { o.spec.http[0].timeout = '10 seconds'; }, expect: 'VirtualService shop/reviews: spec.http[0].timeout: "10 seconds" is not a duration (write e.g. "10s", "0.5s", "500ms", "1m", "1h")' },
  { name: 'duration below 1ms', good: VS, edit: (o) => { o.spec.http[0].retries.perTryTimeout = '0s'; }, expect: 'VirtualService shop/reviews: spec.http[0].retries.perTryTimeout: "0s": must be at least 1ms' },
  { name: 'percentage over 100', good: VS, edit: (o) => { o.spec.http[0].fault.abort.percentage.value = 150; }, expect: 'VirtualService shop/reviews: spec.http[0].fault.abort.percentage.value: must be a number 0-100' },
  { name: 'port out of range', good: VS, edit: (o) => { o.spec.http[0].route[0].destination.port.number = 70000; }, expect: 'VirtualService shop/reviews: spec.http[0].route[0].destination.port.number: must be an integer 1-65535' },
  { name: 'host that is not a DNS name', good: VS, edit: (o) => { o.spec.hosts = ['reviews_v1']; }, expect: 'VirtualService shop/reviews: spec.hosts[0]: "reviews_v1" is not a valid DNS name (label "reviews_v1")' },
  { name: 'partial wildcard host', good: VS, edit: (o) => { o.spec.hosts = ['foo*.example.com']; }, expect: 'VirtualService shop/reviews: spec.hosts[0]: "foo*.example.com": a wildcard is only allowed as a leading "*." (e.g. "*.example.com")' },
  { name: 'wildcard * host for mesh', good: VS, edit: (o) => { o.spec.hosts = ['*']; }, expect: 'VirtualService shop/reviews: spec.hosts[0]: "*" is not allowed for mesh traffic (name the hosts, or "*.<domain>")' },
  { name: 'route and redirect together', good: VS, edit: (o) => { o.spec.http[0].redirect = { uri: '/x' }; }, expect: 'VirtualService shop/reviews: spec.http[0]: set only one of route, redirect' },
  { name: 'delegate VirtualService delegating again', good: VS, edit: (o) => { o.spec.hosts = []; o.spec.http = [{ delegate: { name: 'other' } }]; }, expect: 'VirtualService shop/reviews: spec.http[0].delegate: a delegate VirtualService (one without hosts) cannot delegate again' },
  { name: 'subset without labels', good: DR, edit: (o) => { delete o.spec.subsets[1].labels; }, expect: 'DestinationRule shop/reviews: spec.subsets[1].labels: a subset must select at least one label' },
  { name: 'duplicate subset names', good: DR, edit: (o) => { o.spec.subsets[1].name = 'v1'; }, expect: 'DestinationRule shop/reviews: spec.subsets[1].name: duplicate subset name "v1"' },
  { name: 'unknown lb simple value', good: DR, edit: (o) => { o.spec.trafficPolicy.loadBalancer.simple = 'FASTEST'; }, expect: 'DestinationRule shop/reviews: spec.trafficPolicy.loadBalancer.simple: invalid value "FASTEST" (allowed: UNSPECIFIED, ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM, PASSTHROUGH)' },
  { name: 'unknown tls mode', good: DR, edit: (o) => { o.spec.trafficPolicy.tls.mode = 'STRICT'; }, expect: 'DestinationRule shop/reviews: spec.trafficPolicy.tls.mode: invalid value "STRICT" (allowed: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL)' },
  { name: 'unknown resolution', good: SE, edit: (o) => { o.spec.resolution = 'MAGIC'; }, expect: 'ServiceEntry egress/api: spec.resolution: invalid value "MAGIC" (allowed: NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS)' },
  { name: 'unknown location', good: SE, edit: (o) => { o.spec.location = 'OUTSIDE'; }, expect: 'ServiceEntry egress/api: spec.location: invalid value "OUTSIDE" (allowed: MESH_EXTERNAL, MESH_INTERNAL)' },
  { name: 'resolution NONE with endpoints', good: SE, edit: (o) => { o.spec.resolution = 'NONE'; o.spec.endpoints = [{ address: '203.0.113.1' }]; }, expect: 'ServiceEntry egress/api: spec.endpoints: must not be set with resolution NONE (the original destination is used)' },
  { name: 'DNS resolution of a wildcard host without endpoints', good: SE, edit: (o) => { o.spec.hosts = ['*.example.com']; }, expect: 'ServiceEntry egress/api: spec.hosts: "*.example.com": a wildcard host cannot be resolved with resolution DNS when no endpoints are given' },
  { name: 'DNS_ROUND_ROBIN with two endpoints', good: SE, edit: (o) => { o.spec.resolution = 'DNS_ROUND_ROBIN'; o.spec.endpoints = [{ address: 'a.example.net' }, { address: 'b.example.net' }]; }, expect: 'ServiceEntry egress/api: spec.endpoints: resolution DNS_ROUND_ROBIN allows at most one endpoint' },
  { name: 'STATIC without endpoints or selector', good: SE_STATIC, edit: (o) => { delete o.spec.endpoints; }, expect: 'ServiceEntry egress/legacy: spec: resolution STATIC needs endpoints or a workloadSelector' },
  { name: 'STATIC endpoint that is not an IP', good: SE_STATIC, edit: (o) => { o.spec.endpoints[0].address = 'legacy-1.example.com'; }, expect: 'ServiceEntry egress/legacy: spec.endpoints[0].address: "legacy-1.example.com" must be an IP address for resolution STATIC' },
  { name: 'ServiceEntry port out of range', good: SE, edit: (o) => { o.spec.ports[0].number = 0; }, expect: 'ServiceEntry egress/api: spec.ports[0].number: must be an integer 1-65535' },
  { name: 'egress host not ns/host', good: SIDECAR, edit: (o) => { o.spec.egress[0].hosts[0] = 'reviews.shop.svc.cluster.local'; }, expect: 'Sidecar shop/default: spec.egress[0].hosts[0]: "reviews.shop.svc.cluster.local" must have the form <namespace>/<host> (e.g. "./*", "istio-system/*", "*/reviews.prod.svc.cluster.local")' },
  { name: 'unknown outbound mode', good: SIDECAR, edit: (o) => { o.spec.outboundTrafficPolicy.mode = 'DENY_ALL'; }, expect: 'Sidecar shop/default: spec.outboundTrafficPolicy.mode: invalid value "DENY_ALL" (allowed: REGISTRY_ONLY, ALLOW_ANY)' },
  { name: 'GAMMA parent of another kind', good: ROUTE, edit: (o) => { o.spec.parentRefs[0] = { group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'reviews' }; }, expect: 'HTTPRoute shop/reviews: spec.parentRefs[0].kind: multicluster.x-k8s.io/ServiceImport is not a parent meshd supports (use group "" and kind Service for mesh routes)' },
  { name: 'Gateway API duration', good: ROUTE, edit: (o) => { o.spec.rules[0].timeouts.request = '1.5s'; }, expect: 'HTTPRoute shop/reviews: spec.rules[0].timeouts.request: "1.5s" is not a Gateway API duration (e.g. "10s", "500ms", "1h30m"; integers only)' },
  { name: 'Gateway API regex', good: ROUTE, edit: (o) => { o.spec.rules[0].matches[0].path = { type: 'RegularExpression', value: '/(?<=a)b' }; }, expect: 'HTTPRoute shop/reviews: spec.rules[0].matches[0].path.value: "/(?<=a)b" is not a valid RE2 regex (invalid named capture: `(?<=a)b`); Envoy uses RE2: no lookarounds or backreferences' },
  { name: 'HTTPRoute unknown field', good: ROUTE, edit: (o) => { o.spec.rules[0].backendRef = o.spec.rules[0].backendRefs; }, expect: 'HTTPRoute shop/reviews: spec.rules[0].backendRef: unknown field (did you mean "backendRefs"?)' },
  { name: 'known kind under an unknown apiVersion', good: VS, edit: (o) => { o.apiVersion = 'networking.istio.io/v2'; }, expect: 'VirtualService shop/reviews: apiVersion: networking.istio.io/v2 is not an apiVersion this mesh reads for VirtualService (use networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3)' },
];

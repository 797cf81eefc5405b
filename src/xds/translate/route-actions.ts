/**
 * What a matched HTTP rule does → the action fields of an Envoy `Route`: weighted clusters,
 * redirect or direct response, rewrite, timeout, retries, mirrors, header edits, and the
 * per-route configs of the fault and CORS filters. Pure; problems are diagnostics.
 */
import type { Diagnostic } from '../../model/types.js';
import type { CorsPolicy, Destination, FaultPolicy, HeaderEdits, HeaderPolicy, HttpRule, Redirect, RetryPolicy, Rewrite, RouteSet, WeightedDestination } from '../../model/traffic.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { BLACKHOLE_CLUSTER, outboundClusterName, outboundSubsetClusterName } from '../names.js';
import type { HostIndex } from './route-hosts.js';
import { diag } from './common.js';
import { stringMatcher } from './route-match.js';

/** Everything an action needs besides the rule: the port it is served on and the hosts. */
export interface ActionContext {
  readonly port: number;
  readonly hosts: HostIndex;
  /** The route set, for diagnostics. */
  readonly set: RouteSet;
  /** Field path of the rule (`spec.http[2]`). */
  readonly field: string;
  readonly diagnostics: Diagnostic[];
  /** Hash policy for a destination host/port (DestinationRule consistentHash), if any. */
  readonly hashPolicy?: (host: string, port: number, subset?: string) => readonly EnvoyObject[] | undefined;
}

/** Milliseconds → Envoy duration (`1.5s`). */
export function duration(ms: number): string {
  if (ms === 0) return '0s'; // every route without a timeout
  return `${ms / 1000}s`;
}

/**
 * The retry policy when a rule names none. Istio's default (2 attempts on connect-failure,
 * refused-stream, unavailable, cancelled, retriable-status-codes; other hosts preferred,
 * host selection tried 5 times) plus meshd's `reset-before-request`: the request never
 * reached the app, so a retry is safe for every method, and it hides the upstream connection
 * draining that a listener update (a policy change) causes.
 */
export const DEFAULT_RETRY_POLICY: EnvoyObject = {
  retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes,reset-before-request',
  num_retries: 2,
  retry_host_predicate: [{ name: Filter.RetryPreviousHosts, typed_config: typed(TypeName.RetryPreviousHosts, {}) }],
  // int64: Envoy's JSON spells it as a string.
  host_selection_retry_max_attempts: '5',
};

const retryMemo = new WeakMap<RetryPolicy, EnvoyObject>();

/** Envoy retry policy for a model one; undefined when retries are disabled (attempts 0). Memoized per model object; must not be mutated. */
export function retryPolicy(r: RetryPolicy | undefined): EnvoyObject | undefined {
  if (!r) return DEFAULT_RETRY_POLICY;
  if (r.attempts <= 0) return undefined;
  let p = retryMemo.get(r);
  if (!p) { p = buildRetryPolicy(r); retryMemo.set(r, p); }
  return p;
}

function buildRetryPolicy(r: RetryPolicy): EnvoyObject {
  const conditions: string[] = [];
  const codes = new Set<number>(r.retriableStatusCodes ?? []);
  for (const part of (r.retryOn ?? DEFAULT_RETRY_POLICY.retry_on as string).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (/^\d{3}$/.test(part)) codes.add(Number(part));
    else if (!conditions.includes(part)) conditions.push(part);
  }
  if (codes.size && !conditions.includes('retriable-status-codes')) conditions.push('retriable-status-codes');
  return {
    retry_on: conditions.join(','),
    num_retries: r.attempts,
    ...(r.perTryTimeoutMs !== undefined ? { per_try_timeout: duration(r.perTryTimeoutMs) } : {}),
    ...(codes.size ? { retriable_status_codes: [...codes].sort((a, b) => a - b) } : {}),
    retry_host_predicate: DEFAULT_RETRY_POLICY.retry_host_predicate,
    host_selection_retry_max_attempts: '5',
    ...(r.retryRemoteLocalities ? { retry_priority: { name: Filter.RetryPreviousPriorities, typed_config: typed(TypeName.RetryPreviousPriorities, { update_frequency: 2 }) } } : {}),
    ...(r.backoffBaseMs !== undefined ? { retry_back_off: { base_interval: duration(r.backoffBaseMs) } } : {}),
  };
}

/** Percent (0–100, fractions allowed) → Envoy FractionalPercent per million. */
export function fraction(percent: number): EnvoyObject {
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

/**
 * The cluster for a destination, or undefined (with a diagnostic) when the host or port is
 * not in the registry. The port defaults to the host's only port, else the route's port.
 */
export function destinationCluster(d: Destination, ctx: ActionContext, field: string): string | undefined {
  const host = ctx.hosts.get(d.host);
  if (!host) {
    const where = `${ctx.field}.${field}`;
    ctx.diagnostics.push(diag(ctx.set.origin, ctx.set.meta.namespace, ctx.set.meta.name, where, `destination host ${d.host} is not in the registry (no Service or ServiceEntry); requests get 503`));
    return undefined;
  }
  const port = d.port ?? (host.ports.length === 1 ? host.ports[0]! : ctx.port);
  if (!host.ports.includes(port)) {
    const where = `${ctx.field}.${field}`;
    ctx.diagnostics.push(diag(ctx.set.origin, ctx.set.meta.namespace, ctx.set.meta.name, where, `destination ${d.host} has no port ${port}${d.port === undefined ? ' (the route\'s port; set destination.port)' : ''}; requests get 503`));
    return undefined;
  }
  return d.subset ? outboundSubsetClusterName(port, d.subset, d.host) : outboundClusterName(port, d.host);
}

function headerValues(e: HeaderEdits | undefined): EnvoyObject {
  if (!e) return {};
  const add = [
    ...e.set.map(([key, value]) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...e.add.map(([key, value]) => ({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
  return { add, remove: [...e.remove] };
}

/** Header edits as the `request_headers_to_add`/`…_remove`/`response_…` fields of a route or weighted cluster. */
export function headerFields(h: HeaderPolicy | undefined): EnvoyObject {
  if (!h) return {};
  const req = headerValues(h.request) as { add?: EnvoyObject[]; remove?: string[] };
  const res = headerValues(h.response) as { add?: EnvoyObject[]; remove?: string[] };
  return {
    ...(req.add?.length ? { request_headers_to_add: req.add } : {}),
    ...(req.remove?.length ? { request_headers_to_remove: req.remove } : {}),
    ...(res.add?.length ? { response_headers_to_add: res.add } : {}),
    ...(res.remove?.length ? { response_headers_to_remove: res.remove } : {}),
  };
}

const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** The fault filter's per-route config. */
export function faultConfig(f: FaultPolicy): EnvoyObject {
  const grpc = f.abort?.grpcStatus !== undefined ? GRPC_CODES.indexOf(f.abort.grpcStatus.toUpperCase()) : -1;
  return typed(TypeName.HttpFault, {
    ...(f.delay ? { delay: { fixed_delay: duration(f.delay.fixedDelayMs), percentage: fraction(f.delay.percent) } } : {}),
    ...(f.abort ? { abort: { ...(grpc >= 0 ? { grpc_status: grpc } : { http_status: f.abort.httpStatus ?? 503 }), percentage: fraction(f.abort.percent) } } : {}),
  });
}

/** The CORS filter's per-route config. */
export function corsConfig(c: CorsPolicy): EnvoyObject {
  return typed(TypeName.HttpCorsPolicy, {
    allow_origin_string_match: c.allowOrigins.map((o) => stringMatcher(o)),
    ...(c.allowMethods.length ? { allow_methods: c.allowMethods.join(',') } : {}),
    ...(c.allowHeaders.length ? { allow_headers: c.allowHeaders.join(',') } : {}),
    ...(c.exposeHeaders.length ? { expose_headers: c.exposeHeaders.join(',') } : {}),
    ...(c.maxAgeSeconds !== undefined ? { max_age: String(c.maxAgeSeconds) } : {}),
    ...(c.allowCredentials !== undefined ? { allow_credentials: c.allowCredentials } : {}),
    forward_not_matching_preflights: c.unmatchedPreflights !== 'IGNORE',
  });
}

const REDIRECT_CODES: Readonly<Record<number, string>> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

function redirectAction(r: Redirect, ctx: ActionContext): EnvoyObject {
  const port = r.port === 'from-request-port' ? ctx.port
    : r.port === 'from-protocol-default' ? (r.scheme === 'https' ? 443 : 80)
      : r.port;
  return {
    ...(r.path?.type === 'full' ? { path_redirect: r.path.value } : r.path?.type === 'prefix' ? { prefix_rewrite: r.path.value } : {}),
    ...(r.authority ? { host_redirect: r.authority } : {}),
    ...(port !== undefined ? { port_redirect: port } : {}),
    ...(r.scheme ? { scheme_redirect: r.scheme } : {}),
    ...(r.code !== 301 ? { response_code: REDIRECT_CODES[r.code] ?? 'MOVED_PERMANENTLY' } : {}),
  };
}

function rewriteFields(w: Rewrite | undefined): EnvoyObject {
  if (!w) return {};
  const p = w.path;
  return {
    ...(p?.type === 'prefix' ? { prefix_rewrite: p.value } : {}),
    ...(p?.type === 'full' ? { regex_rewrite: { pattern: { regex: '^/.*$' }, substitution: p.value } } : {}),
    ...(p?.type === 'regex' ? { regex_rewrite: { pattern: { regex: p.pattern }, substitution: p.substitution } } : {}),
    ...(w.authority ? { host_rewrite_literal: w.authority } : {}),
  };
}

/** `route[i].destination`, the field of a rule's i-th destination (the common ones built once: every route asks). */
const DESTINATION_FIELDS = Array.from({ length: 16 }, (_, i) => `route[${i}].destination`);
export function destinationField(i: number): string {
  return DESTINATION_FIELDS[i] ?? `route[${i}].destination`;
}

/** A route that answers 503 itself (a destination that does not exist), as Istio. */
export const UNAVAILABLE: EnvoyObject = { direct_response: { status: 503 } };

/**
 * The action fields of an Envoy route for `rule` (everything but `name` and `match`). A
 * destination that does not resolve keeps its share of the weight on BlackHoleCluster (503),
 * so the other destinations' shares stay as written; with none left the route answers 503.
 */
export function routeAction(rule: HttpRule, ctx: ActionContext): EnvoyObject {
  // Built by assignment rather than spreads: this runs for every route of every proxy scope.
  const out: Record<string, unknown> = {};
  const a = rule.action;
  if (a.kind === 'redirect') out.redirect = redirectAction(a.redirect, ctx);
  else if (a.kind === 'direct-response') out.direct_response = a.body !== undefined ? { status: a.status, body: { inline_string: a.body } } : { status: a.status };
  else if (a.kind === 'delegate') out.direct_response = UNAVAILABLE.direct_response;
  else {
    const clusters = a.destinations.map((wd, i) => destinationCluster(wd.destination, ctx, destinationField(i)));
    if (clusters.every((c) => c === undefined)) out.direct_response = UNAVAILABLE.direct_response;
    else out.route = forwardAction(rule, a.destinations, clusters, ctx);
  }
  if (rule.headers) Object.assign(out, headerFields(rule.headers));
  if (rule.fault || rule.cors) {
    const perFilter: Record<string, EnvoyObject> = {};
    if (rule.fault) perFilter[Filter.HttpFault] = faultConfig(rule.fault);
    if (rule.cors) perFilter[Filter.HttpCors] = corsConfig(rule.cors);
    out.typed_per_filter_config = perFilter;
  }
  return out;
}

/** The port of an `outbound|<port>|<subset>|<host>` cluster name (without splitting the name). */
function clusterPort(cluster: string): number {
  const a = cluster.indexOf('|') + 1;
  const b = cluster.indexOf('|', a);
  return Number(b < 0 ? cluster.slice(a) : cluster.slice(a, b));
}

/** The `route` action of a rule that forwards: clusters (or weighted clusters), rewrite, timeout, retries, mirrors, hash policy. */
function forwardAction(rule: HttpRule, dests: readonly WeightedDestination[], clusters: readonly (string | undefined)[], ctx: ActionContext): EnvoyObject {
  const r: Record<string, unknown> = {};
  const single = dests.length === 1 && !dests[0]!.headers;
  if (single) r.cluster = clusters[0];
  else r.weighted_clusters = { clusters: dests.map((wd, i) => (wd.headers ? { name: clusters[i] ?? BLACKHOLE_CLUSTER, weight: wd.weight, ...headerFields(wd.headers) } : { name: clusters[i] ?? BLACKHOLE_CLUSTER, weight: wd.weight })) };
  if (rule.rewrite) Object.assign(r, rewriteFields(rule.rewrite));
  r.timeout = duration(rule.timeoutMs ?? 0);
  // Consistent hashing applies to a single destination (as Istio: with several, the split decides).
  const d0 = dests[0]!.destination;
  const port = single && clusters[0] ? clusterPort(clusters[0]) : undefined;
  const hashes = port !== undefined && ctx.hashPolicy ? ctx.hashPolicy(d0.host, port, d0.subset) : undefined;
  let retries = retryPolicy(rule.retries);
  if (retries && hashes?.length) {
    // Retries stay on the hashed host (no previous-hosts predicate), as Istio.
    const { retry_host_predicate: _drop, ...rest } = retries;
    void _drop;
    retries = rest;
  }
  if (retries) r.retry_policy = retries;
  if (rule.mirrors.length) {
    const mirrors: EnvoyObject[] = [];
    rule.mirrors.forEach((m, i) => {
      const cluster = destinationCluster(m.destination, ctx, rule.mirrors.length === 1 ? 'mirror' : `mirrors[${i}]`);
      if (cluster) mirrors.push(m.percent !== undefined && m.percent < 100 ? { cluster, runtime_fraction: { default_value: fraction(m.percent) } } : { cluster });
    });
    if (mirrors.length) r.request_mirror_policies = mirrors;
  }
  if (hashes?.length) r.hash_policy = hashes;
  return r;
}

/**
 * `meshctl route check`'s core: where would one request go, read from the Envoy route
 * configurations a proxy gets. Pure: the request and the resources in, a `RouteCheckResult`
 * out. Matching follows Envoy (virtual host by domain: exact, then the longest `*.suffix`,
 * then the longest `prefix.*`, then `*`; then the first route whose match holds).
 */
import type { EnvoyObject } from '../xds/resource-types.js';
import { outboundRouteName } from '../xds/names.js';
import { matchRoute, selectVirtualHost, type RequestFacts } from './route-match.js';

export type { RequestFacts } from './route-match.js';

/** The request to check, as the user gave it. */
export interface RouteRequest {
  /** `namespace/workload`: whose proxy sends it. */
  readonly from: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly method: string;
  /** Lowercase names, in the order given. */
  readonly headers: readonly (readonly [string, string])[];
}

/** The front-end object a route came from, when the route carries it. */
export interface RouteOriginRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** One upstream the route sends to. */
export interface RouteDestination {
  readonly cluster: string;
  readonly host?: string;
  readonly port?: number;
  readonly subset?: string;
  readonly weight: number;
  /** Share of requests, 0–100, rounded to 0.01. */
  readonly percent: number;
  /** Whether the proxy gets this cluster (false: Envoy answers 503, no cluster). Absent: clusters unknown. */
  readonly sent?: boolean;
}

export interface RouteMirror {
  readonly cluster: string;
  readonly host?: string;
  readonly subset?: string;
  readonly percent: number;
}

export interface RouteFault {
  readonly delay?: { readonly fixedDelay: string; readonly percent: number };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly percent: number };
}

/** The answer: where the request goes and with which policies, or why it goes nowhere. */
export interface RouteCheckResult {
  readonly request: RouteRequest & { readonly authority: string };
  readonly routeConfig: string;
  readonly outcome: 'route' | 'redirect' | 'direct-response' | 'no-route-config' | 'no-virtual-host' | 'no-route';
  /** For no-*: 404; for direct-response its status; for redirect its code. */
  readonly status?: number;
  readonly virtualHost?: string;
  readonly route?: { readonly index: number; readonly name?: string; readonly match: string };
  readonly origin?: RouteOriginRef;
  readonly destinations: readonly RouteDestination[];
  readonly timeout?: string;
  /** Null: retries disabled; absent: Envoy's default (none). */
  readonly retries?: { readonly attempts: number; readonly retryOn: string; readonly perTryTimeout?: string } | null;
  readonly fault?: RouteFault;
  readonly mirrors: readonly RouteMirror[];
  readonly rewrite?: { readonly prefix?: string; readonly regex?: string; readonly authority?: string };
  readonly redirect?: Readonly<Record<string, unknown>>;
  /** One line for the user. */
  readonly summary: string;
}

type Obj = Record<string, unknown>;
const rec = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? v as Obj : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(rec) : []);

/** `outbound|9080|v2|reviews.shop.svc.cluster.local` → its parts; other names → nothing. */
export function parseClusterName(name: string): { port: number; subset?: string; host: string } | undefined {
  const m = /^outbound\|(\d+)\|([^|]*)\|(.+)$/.exec(name);
  return m ? { port: Number(m[1]), ...(m[2] ? { subset: m[2] } : {}), host: m[3]! } : undefined;
}

/** An Envoy FractionalPercent (or a runtime fraction's default) as 0–100; absent: 100. */
export function fractionPercent(v: unknown): number {
  const f = rec(rec(v).default_value ?? v);
  if (f.numerator === undefined) return v === undefined ? 100 : 0;
  const den = ({ HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as Record<string, number>)[String(f.denominator ?? 'HUNDRED')] ?? 100;
  return Math.round((Number(f.numerator) / den) * 100 * 10_000) / 10_000;
}

/**
 * The object a route came from: `metadata.filter_metadata.istio.config`
 * (`/apis/networking.istio.io/v1/namespaces/NS/virtual-service/NAME`, as Istio writes it) or
 * any filter_metadata entry with `kind`, `namespace` and `name`.
 */
export function routeOrigin(route: Obj): RouteOriginRef | undefined {
  const fm = rec(rec(route.metadata).filter_metadata);
  for (const key of Object.keys(fm).sort()) {
    const v = rec(fm[key]);
    const cfg = typeof v.config === 'string' ? /\/apis\/([^/]+)\/[^/]+\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(v.config) : null;
    if (cfg) {
      const kinds: Record<string, string> = { 'virtual-service': 'VirtualService', httproute: 'HTTPRoute', grpcroute: 'GRPCRoute', 'http-route': 'HTTPRoute', 'grpc-route': 'GRPCRoute' };
      return { kind: kinds[cfg[3]!] ?? cfg[3]!, namespace: cfg[2]!, name: cfg[4]! };
    }
    if (typeof v.kind === 'string' && typeof v.namespace === 'string' && typeof v.name === 'string') return { kind: v.kind, namespace: v.namespace, name: v.name };
  }
  return undefined;
}

function destinationOf(cluster: string, weight: number, total: number, clusters?: ReadonlySet<string>): RouteDestination {
  const p = parseClusterName(cluster);
  return {
    cluster, ...(p ? { host: p.host, port: p.port, ...(p.subset ? { subset: p.subset } : {}) } : {}),
    weight, percent: total > 0 ? Math.round((weight / total) * 10_000) / 100 : 0,
    ...(clusters ? { sent: clusters.has(cluster) } : {}),
  };
}

function faultOf(route: Obj, vhost: Obj): RouteFault | undefined {
  const pick = (o: Obj): Obj | undefined => {
    const t = rec(o.typed_per_filter_config);
    const k = Object.keys(t).find((x) => x.includes('fault'));
    return k ? rec(t[k]) : undefined;
  };
  const f = pick(route) ?? pick(vhost);
  if (!f) return undefined;
  const d = rec(f.delay);
  const a = rec(f.abort);
  const out: { delay?: RouteFault['delay']; abort?: RouteFault['abort'] } = {};
  if (d.fixed_delay !== undefined) out.delay = { fixedDelay: String(d.fixed_delay), percent: fractionPercent(d.percentage) };
  if (a.http_status !== undefined || a.grpc_status !== undefined) {
    out.abort = { ...(a.http_status !== undefined ? { httpStatus: Number(a.http_status) } : {}), ...(a.grpc_status !== undefined ? { grpcStatus: Number(a.grpc_status) } : {}), percent: fractionPercent(a.percentage) };
  }
  return out.delay || out.abort ? out : undefined;
}

/** The `:authority` a client such as curl sends: `host:port`, or just `host` for port 80. */
export function authorityOf(host: string, port: number): string {
  return host.includes(':') || port === 80 ? host.toLowerCase() : `${host.toLowerCase()}:${port}`;
}

/** Where the request goes through `routes` (the proxy's RouteConfigurations); `clusters`: the cluster names it gets, when known. */
export function checkRoute(routes: readonly EnvoyObject[], req: RouteRequest, clusters?: ReadonlySet<string>): RouteCheckResult {
  const authority = authorityOf(req.host, req.port);
  const request = { ...req, authority };
  const name = outboundRouteName(req.port);
  const none = (outcome: RouteCheckResult['outcome'], summary: string, extra: Partial<RouteCheckResult> = {}): RouteCheckResult =>
    ({ request, routeConfig: name, outcome, status: 404, destinations: [], mirrors: [], summary, ...extra });
  const rc = routes.find((r) => r.name === name);
  if (!rc) return none('no-route-config', `no route: no HTTP route configuration for port ${req.port} (no HTTP service on that port is visible to ${req.from}; TCP ports are not routed by HTTP rules)`);
  const facts: RequestFacts = { authority, path: req.path, method: req.method.toUpperCase(), headers: req.headers };
  const vh = selectVirtualHost(list(rc.virtual_hosts), authority);
  if (!vh) return none('no-virtual-host', `no route: 404 (no virtual host for ${authority} in route configuration ${name})`);
  const vhName = String(vh.name ?? '');
  const m = matchRoute(list(vh.routes), facts);
  if (!m) return none('no-route', `no route: 404 (virtual host ${vhName} has no route matching ${facts.method} ${req.path})`, { virtualHost: vhName });
  const r = m.route;
  const origin = routeOrigin(r) ?? routeOrigin(vh);
  const base = {
    request, routeConfig: name, virtualHost: vhName,
    route: { index: m.index, ...(typeof r.name === 'string' && r.name ? { name: r.name } : {}), match: m.describe },
    ...(origin ? { origin } : {}),
  };
  const from = origin ? `${origin.kind} ${origin.namespace}/${origin.name}` : 'no VirtualService (meshd\'s default route)';
  if (r.direct_response) {
    const status = Number(rec(r.direct_response).status);
    return { ...base, outcome: 'direct-response', status, destinations: [], mirrors: [], summary: `direct response ${status} (${from})` };
  }
  if (r.redirect) {
    const red = rec(r.redirect);
    const code = ({ MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 } as Record<string, number>)[String(red.response_code ?? 'MOVED_PERMANENTLY')] ?? 301;
    return { ...base, outcome: 'redirect', status: code, redirect: red, destinations: [], mirrors: [], summary: `redirect ${code} (${from})` };
  }
  const action = rec(r.route);
  const wc = list(rec(action.weighted_clusters).clusters);
  const total = wc.reduce((n, c) => n + Number(c.weight ?? 0), 0);
  const destinations = typeof action.cluster === 'string' ? [destinationOf(action.cluster, 100, 100, clusters)]
    : wc.map((c) => destinationOf(String(c.name), Number(c.weight ?? 0), total, clusters));
  const rp = action.retry_policy !== undefined ? rec(action.retry_policy) : vh.retry_policy !== undefined ? rec(vh.retry_policy) : undefined;
  const retries = rp === undefined ? undefined : Number(rp.num_retries ?? 1) > 0
    ? { attempts: Number(rp.num_retries ?? 1), retryOn: String(rp.retry_on ?? ''), ...(rp.per_try_timeout !== undefined ? { perTryTimeout: String(rp.per_try_timeout) } : {}) }
    : null;
  const mirrors = list(action.request_mirror_policies).map((mp) => {
    const p = parseClusterName(String(mp.cluster));
    return { cluster: String(mp.cluster), ...(p ? { host: p.host, ...(p.subset ? { subset: p.subset } : {}) } : {}), percent: fractionPercent(mp.runtime_fraction) };
  });
  const rx = rec(action.regex_rewrite);
  const rewrite = {
    ...(typeof action.prefix_rewrite === 'string' ? { prefix: action.prefix_rewrite } : {}),
    ...(rx.pattern ? { regex: `${String(rec(rx.pattern).regex)} → ${String(rx.substitution)}` } : {}),
    ...(typeof action.host_rewrite_literal === 'string' ? { authority: action.host_rewrite_literal } : {}),
  };
  const fault = faultOf(r, vh);
  const missing = destinations.filter((d) => d.sent === false && d.weight > 0);
  const where = destinations.map((d) => `${d.cluster}${destinations.length > 1 ? ` (${d.percent}%)` : ''}`).join(', ');
  return {
    ...base, outcome: 'route', destinations,
    ...(action.timeout !== undefined ? { timeout: String(action.timeout) } : {}),
    ...(retries !== undefined ? { retries } : {}),
    ...(fault ? { fault } : {}),
    mirrors,
    ...(Object.keys(rewrite).length ? { rewrite } : {}),
    summary: `${from} → ${where}${missing.length ? `; the proxy has no cluster ${missing.map((d) => d.cluster).join(', ')}: those requests get 503 (NC)` : ''}`,
  };
}

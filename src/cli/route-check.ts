/**
 * `meshctl route check`'s core: where would one request go, read from the Envoy route
 * configurations a proxy gets. Pure: the request and the resources in, a `RouteCheckResult`
 * out. Matching is translation's own evaluator (`evaluateRoute` in src/xds/translate/route-eval.ts,
 * Envoy's order: virtual host by domain, then the first route whose match holds); this module
 * adds what the user needs to read: the origin, subsets, whether the proxy has each cluster.
 */
import type { EnvoyObject } from '../xds/resource-types.js';
import { outboundRouteName } from '../xds/names.js';
import { evaluateRoute } from '../xds/translate/route-eval.js';
import { describeMatch } from './route-describe.js';

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
  /** Index of the rule (`spec.http[rule]` / `spec.rules[rule]`), when translation records it. */
  readonly rule?: number;
  /** Index of the match within the rule. */
  readonly match?: number;
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

/** `outbound|9080|v2|reviews.shop.svc.cluster.local` → its parts (xlate's parser). */
export { parseClusterName } from '../xds/translate/route-eval.js';
import { parseClusterName } from '../xds/translate/route-eval.js';

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

/** Where the request goes through `routes` (the proxy's RouteConfigurations), by xlate's `evaluateRoute`; `clusters`: the cluster names it gets, when known. */
export function checkRoute(routes: readonly EnvoyObject[], req: RouteRequest, clusters?: ReadonlySet<string>): RouteCheckResult {
  const authority = authorityOf(req.host, req.port);
  const request = { ...req, authority };
  const name = outboundRouteName(req.port);
  const none = (outcome: RouteCheckResult['outcome'], summary: string, extra: Partial<RouteCheckResult> = {}): RouteCheckResult =>
    ({ request, routeConfig: name, outcome, status: 404, destinations: [], mirrors: [], summary, ...extra });
  const rc = routes.find((r) => r.name === name);
  if (!rc) return none('no-route-config', `no route: no HTTP route configuration for port ${req.port} (no HTTP service on that port is visible to ${req.from}; TCP ports are not routed by HTTP rules)`);
  const headers: Record<string, string> = {};
  for (const [k, v] of req.headers) headers[k] = headers[k] === undefined ? v : `${headers[k]},${v}`;
  const method = req.method.toUpperCase();
  const d = evaluateRoute(rc, { host: authority, port: req.port, path: req.path, method, headers });
  if (d.kind === 'no-vhost') return none('no-virtual-host', `no route: 404 (no virtual host for ${authority} in route configuration ${name})`);
  if (d.kind === 'no-route') return none('no-route', `no route: 404 (virtual host ${d.virtualHost} has no route matching ${method} ${req.path})`, { virtualHost: d.virtualHost });
  const vh = list(rc.virtual_hosts).find((v) => String(v.name ?? '') === d.virtualHost) ?? {};
  const r = list(vh.routes)[d.routeIndex] ?? {};
  const origin = d.origin ? { kind: d.origin.kind, namespace: d.origin.namespace, name: d.origin.name, rule: d.origin.rule, ...(d.origin.match !== undefined ? { match: d.origin.match } : {}) } : routeOrigin(r) ?? routeOrigin(vh);
  const base = {
    request, routeConfig: name, virtualHost: d.virtualHost,
    route: { index: d.routeIndex, ...(d.route ? { name: d.route } : {}), match: describeMatch(rec(r.match)) },
    ...(origin ? { origin } : {}),
  };
  const from = origin ? `${origin.kind} ${origin.namespace}/${origin.name}${origin.rule !== undefined ? ` ${origin.kind === 'VirtualService' ? 'spec.http' : 'spec.rules'}[${origin.rule}]` : ''}` : 'no VirtualService (meshd\'s default route)';
  const fault = d.fault && (d.fault.delay || d.fault.abort) ? d.fault : faultOf(r, vh);
  if (d.kind === 'direct-response') {
    return { ...base, outcome: 'direct-response', status: d.status ?? 0, destinations: [], mirrors: [], ...(fault ? { fault } : {}), summary: `direct response ${d.status ?? 0} (${from})` };
  }
  if (d.kind === 'redirect') {
    const red = rec(d.redirect);
    const code = ({ MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 } as Record<string, number>)[String(red.response_code ?? 'MOVED_PERMANENTLY')] ?? 301;
    return { ...base, outcome: 'redirect', status: code, redirect: red, destinations: [], mirrors: [], summary: `redirect ${code} (${from})` };
  }
  const action = rec(r.route);
  const destinations: RouteDestination[] = d.clusters.map((c) => ({
    cluster: c.cluster, ...(c.host !== undefined ? { host: c.host } : {}), ...(c.port !== undefined ? { port: c.port } : {}), ...(c.subset !== undefined ? { subset: c.subset } : {}),
    weight: typeof action.cluster === 'string' ? 100 : c.weight, percent: Math.round(c.percent * 100) / 100,
    ...(clusters ? { sent: clusters.has(c.cluster) } : {}),
  }));
  const rp = d.retries ?? (vh.retry_policy !== undefined ? { attempts: Number(rec(vh.retry_policy).num_retries ?? 1), retryOn: String(rec(vh.retry_policy).retry_on ?? '') } : undefined);
  const retries = rp === undefined ? undefined : rp.attempts > 0
    ? { attempts: rp.attempts, retryOn: rp.retryOn, ...('perTryTimeout' in rp && rp.perTryTimeout !== undefined ? { perTryTimeout: rp.perTryTimeout } : {}) }
    : null;
  const mirrors = d.mirrors.map((m) => {
    const p = parseClusterName(m.cluster);
    return { cluster: m.cluster, ...(p ? { host: p.host, ...(p.subset ? { subset: p.subset } : {}) } : {}), percent: Math.round(m.percent * 10_000) / 10_000 };
  });
  const rx = rec(action.regex_rewrite);
  const rewrite = {
    ...(typeof action.prefix_rewrite === 'string' ? { prefix: action.prefix_rewrite } : {}),
    ...(rx.pattern ? { regex: `${String(rec(rx.pattern).regex)} → ${String(rx.substitution)}` } : {}),
    ...(typeof action.host_rewrite_literal === 'string' ? { authority: action.host_rewrite_literal } : {}),
  };
  const missing = destinations.filter((x) => x.sent === false && x.weight > 0);
  const where = destinations.map((x) => `${x.cluster}${destinations.length > 1 ? ` (${x.percent}%)` : ''}`).join(', ');
  return {
    ...base, outcome: 'route', destinations,
    ...(d.timeout !== undefined ? { timeout: d.timeout } : {}),
    ...(retries !== undefined ? { retries } : {}),
    ...(fault ? { fault } : {}),
    mirrors,
    ...(Object.keys(rewrite).length ? { rewrite } : {}),
    summary: `${from} → ${where}${missing.length ? `; the proxy has no cluster ${missing.map((x) => x.cluster).join(', ')}: those requests get 503 (NC)` : ''}`,
  };
}

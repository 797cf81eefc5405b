/**
 * "Where would this request go?": evaluates a generated RouteConfiguration (Envoy JSON, as
 * translate() emits it) for one request, the way Envoy's router picks a virtual host and a
 * route. Used by the simulation tests and by `meshctl route check`.
 *
 * Stable API: `evaluateRoute(config, request) → RouteDecision`, `selectVirtualHost`,
 * `parseClusterName`. Semantics covered: vhost domains (exact, `*.suffix`, `prefix*`, `*`;
 * with and without `:port`), path (`path`, `prefix`, `path_separated_prefix`, `safe_regex`
 * as a full match, `case_sensitive`), headers (string match, `present_match`,
 * `invert_match`, pseudo headers `:method`, `:authority`, `:scheme`, `:path`), query
 * parameters. Regexes are evaluated with JavaScript's engine (RE2 syntax is a subset for
 * what meshd accepts). Never throws on odd config: what it cannot read does not match.
 */
import type { EnvoyObject } from '../resource-types.js';
import { ROUTE_ORIGIN_KEY } from './http-routes.js';

/** One request as a caller sends it. Header names are matched case-insensitively. */
export interface RouteRequest {
  /** The Host / :authority, with or without `:port`. */
  readonly host: string;
  /** The port the request was sent to (appended to `host` for domain matching when missing). */
  readonly port?: number;
  /** Path with optional `?query`; default `/`. */
  readonly path?: string;
  /** Default GET. */
  readonly method?: string;
  /** Default `http`. */
  readonly scheme?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A cluster a request may be sent to, with its share in percent (weights normalised). */
export interface WeightedTarget {
  readonly cluster: string;
  readonly weight: number;
  /** Share of the traffic, 0–100. */
  readonly percent: number;
  /** From the cluster name `outbound|port|subset|host` (undefined for other clusters). */
  readonly host?: string;
  readonly port?: number;
  readonly subset?: string;
}

/** The retry policy of the chosen route, as Envoy will apply it. */
export interface RetryDecision {
  readonly attempts: number;
  readonly retryOn: string;
  readonly perTryTimeout?: string;
  readonly retriableStatusCodes: readonly number[];
}

/** The fault the route injects, if any. */
export interface FaultDecision {
  readonly delay?: { readonly fixedDelay: string; readonly percent: number };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly percent: number };
}

/** Where the route set that produced the route came from (route metadata set by translation). */
export interface RouteOriginInfo {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** Index of the rule in `spec.http`. */
  readonly rule: number;
  /** Index of the match in the rule, when the rule has matches. */
  readonly match?: number;
}

/** What happens to a request. `kind: 'no-vhost'` / `'no-route'` are Envoy's 404 (NR). */
export type RouteDecision =
  | { readonly kind: 'no-vhost' }
  | { readonly kind: 'no-route'; readonly virtualHost: string }
  | {
    readonly kind: 'route' | 'redirect' | 'direct-response';
    readonly virtualHost: string;
    /** The Envoy route's name and index in the virtual host. */
    readonly route: string;
    readonly routeIndex: number;
    readonly origin?: RouteOriginInfo;
    /** kind 'route': the clusters and their shares (sum 100). */
    readonly clusters: readonly WeightedTarget[];
    /** Envoy duration; `0s` means no timeout. */
    readonly timeout?: string;
    readonly retries?: RetryDecision;
    readonly fault?: FaultDecision;
    readonly mirrors: readonly { readonly cluster: string; readonly percent: number }[];
    /** kind 'direct-response': the status (503 for a destination that does not exist). */
    readonly status?: number;
    /** kind 'redirect': Envoy's redirect action as emitted. */
    readonly redirect?: EnvoyObject;
  };

const obj = (v: unknown): EnvoyObject | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as EnvoyObject) : undefined);
const arr = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Parses `outbound|<port>|<subset>|<host>`; undefined for other names. */
export function parseClusterName(name: string): { port: number; subset?: string; host: string } | undefined {
  const m = /^outbound\|(\d+)\|([^|]*)\|(.+)$/.exec(name);
  if (!m) return undefined;
  return { port: Number(m[1]), host: m[3]!, ...(m[2] ? { subset: m[2] } : {}) };
}

function domainMatches(domain: string, host: string): number {
  // Envoy's order: exact, then suffix wildcards (longest first), then prefix wildcards, then '*'.
  if (domain === host) return 4_000_000;
  if (domain === '*') return 1;
  if (domain.startsWith('*') && host.endsWith(domain.slice(1)) && host.length > domain.length - 1) return 3_000_000 + domain.length;
  if (domain.endsWith('*') && host.startsWith(domain.slice(0, -1)) && host.length > domain.length - 1) return 2_000_000 + domain.length;
  return 0;
}

/** The virtual host Envoy picks for `host` (lowercased; `:port` appended when `port` is given and host has none). */
export function selectVirtualHost(config: EnvoyObject, host: string, port?: number): EnvoyObject | undefined {
  const h = host.toLowerCase();
  const candidates = port !== undefined && !/:\d+$/.test(h) ? [h, `${h}:${port}`] : [h];
  let best: EnvoyObject | undefined;
  let score = 0;
  for (const vh of arr(config['virtual_hosts'])) {
    const v = obj(vh);
    if (!v) continue;
    for (const d of arr(v['domains'])) {
      const dom = str(d)?.toLowerCase();
      if (dom === undefined) continue;
      for (const c of candidates) {
        const s = domainMatches(dom, c);
        if (s > score) { score = s; best = v; }
      }
    }
  }
  return best;
}

function regexFull(re: string, s: string, flags = ''): boolean {
  try { return new RegExp(`^(?:${re})$`, flags).test(s); } catch { return false; }
}

/** Envoy StringMatcher semantics. */
export function stringMatches(m: EnvoyObject, value: string): boolean {
  const ic = m['ignore_case'] === true;
  const v = ic ? value.toLowerCase() : value;
  const norm = (s: unknown): string | undefined => (typeof s === 'string' ? (ic ? s.toLowerCase() : s) : undefined);
  if (m['exact'] !== undefined) return v === norm(m['exact']);
  if (m['prefix'] !== undefined) return v.startsWith(norm(m['prefix'])!);
  if (m['suffix'] !== undefined) return v.endsWith(norm(m['suffix'])!);
  if (m['contains'] !== undefined) return v.includes(norm(m['contains'])!);
  const re = str(obj(m['safe_regex'])?.['regex']);
  if (re !== undefined) return regexFull(re, value);
  return false;
}

interface Req { path: string; query: URLSearchParams; headers: Map<string, string> }

function pathMatches(match: EnvoyObject, path: string): boolean {
  const cs = match['case_sensitive'] !== false;
  const p = cs ? path : path.toLowerCase();
  const n = (s: string): string => (cs ? s : s.toLowerCase());
  if (typeof match['prefix'] === 'string') return p.startsWith(n(match['prefix']));
  if (typeof match['path'] === 'string') return p === n(match['path']);
  if (typeof match['path_separated_prefix'] === 'string') {
    const pre = n(match['path_separated_prefix']);
    return p === pre || p.startsWith(pre + '/');
  }
  const re = str(obj(match['safe_regex'])?.['regex']);
  if (re !== undefined) return regexFull(re, path, cs ? '' : 'i');
  return false;
}

function headerMatches(h: EnvoyObject, req: Req): boolean {
  const name = String(h['name'] ?? '').toLowerCase();
  const value = req.headers.get(name);
  let ok: boolean;
  if (h['present_match'] !== undefined) ok = (value !== undefined) === (h['present_match'] === true);
  else if (value === undefined) ok = false;
  else if (obj(h['string_match'])) ok = stringMatches(obj(h['string_match'])!, value);
  else if (h['exact_match'] !== undefined) ok = value === h['exact_match'];
  else ok = true;
  return h['invert_match'] === true ? !ok : ok;
}

function queryMatches(q: EnvoyObject, req: Req): boolean {
  const name = String(q['name'] ?? '');
  const value = req.query.get(name);
  if (q['present_match'] === true) return value !== null;
  if (value === null) return false;
  const sm = obj(q['string_match']);
  return sm ? stringMatches(sm, value) : true;
}

// Whether an Envoy RouteMatch holds for the request.
function routeMatches(match: EnvoyObject, req: Req): boolean {
  return pathMatches(match, req.path)
    && arr(match['headers']).every((h) => obj(h) !== undefined && headerMatches(obj(h)!, req))
    && arr(match['query_parameters']).every((q) => obj(q) !== undefined && queryMatches(obj(q)!, req));
}

function percentOf(f: unknown): number {
  const o = obj(f);
  if (!o) return 100;
  const num = Number(o['numerator'] ?? 0);
  const den = o['denominator'] === 'MILLION' || o['denominator'] === 2 ? 1_000_000 : o['denominator'] === 'TEN_THOUSAND' || o['denominator'] === 1 ? 10_000 : 100;
  return (num / den) * 100;
}

function targets(action: EnvoyObject): WeightedTarget[] {
  const single = str(action['cluster']);
  const list = single !== undefined
    ? [{ cluster: single, weight: 1 }]
    : arr(obj(action['weighted_clusters'])?.['clusters']).map((c) => ({ cluster: String(obj(c)?.['name'] ?? ''), weight: Number(obj(c)?.['weight'] ?? 0) }));
  const total = list.reduce((s, c) => s + c.weight, 0);
  return list.map((c) => {
    const parsed = parseClusterName(c.cluster);
    return { ...c, percent: total > 0 ? (c.weight * 100) / total : 0, ...(parsed ? { host: parsed.host, port: parsed.port, ...(parsed.subset ? { subset: parsed.subset } : {}) } : {}) };
  });
}

function retries(action: EnvoyObject): RetryDecision | undefined {
  const r = obj(action['retry_policy']);
  if (!r) return undefined;
  return {
    attempts: Number(r['num_retries'] ?? 1),
    retryOn: String(r['retry_on'] ?? ''),
    ...(str(r['per_try_timeout']) ? { perTryTimeout: str(r['per_try_timeout'])! } : {}),
    retriableStatusCodes: arr(r['retriable_status_codes']).map(Number),
  };
}

function fault(route: EnvoyObject): FaultDecision | undefined {
  const f = obj(obj(route['typed_per_filter_config'])?.['envoy.filters.http.fault']);
  if (!f) return undefined;
  const d = obj(f['delay']);
  const a = obj(f['abort']);
  return {
    ...(d ? { delay: { fixedDelay: String(d['fixed_delay'] ?? '0s'), percent: percentOf(d['percentage']) } } : {}),
    ...(a ? { abort: { ...(a['http_status'] !== undefined ? { httpStatus: Number(a['http_status']) } : {}), ...(a['grpc_status'] !== undefined ? { grpcStatus: Number(a['grpc_status']) } : {}), percent: percentOf(a['percentage']) } } : {}),
  };
}

function origin(route: EnvoyObject): RouteOriginInfo | undefined {
  const o = obj(obj(obj(route['metadata'])?.['filter_metadata'])?.[ROUTE_ORIGIN_KEY]);
  if (!o) return undefined;
  return { kind: String(o['kind']), namespace: String(o['namespace']), name: String(o['name']), rule: Number(o['rule']), ...(o['match'] !== undefined ? { match: Number(o['match']) } : {}) };
}

/** Evaluates one request against a RouteConfiguration: the vhost, the first matching route and what it does. */
export function evaluateRoute(config: EnvoyObject, request: RouteRequest): RouteDecision {
  const vh = selectVirtualHost(config, request.host, request.port);
  if (!vh) return { kind: 'no-vhost' };
  const vname = String(vh['name'] ?? '');
  const full = request.path ?? '/';
  const q = full.indexOf('?');
  const headers = new Map<string, string>(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const path = q < 0 ? full : full.slice(0, q);
  headers.set(':method', request.method ?? 'GET');
  headers.set(':authority', request.host);
  headers.set(':scheme', request.scheme ?? 'http');
  headers.set(':path', full);
  const req: Req = { path, query: new URLSearchParams(q < 0 ? '' : full.slice(q + 1)), headers };
  const routes = arr(vh['routes']);
  for (let i = 0; i < routes.length; i++) {
    const r = obj(routes[i]);
    const m = obj(r?.['match']);
    if (!r || !m || !routeMatches(m, req)) continue;
    const base = { virtualHost: vname, route: String(r['name'] ?? ''), routeIndex: i, ...(origin(r) ? { origin: origin(r)! } : {}), ...(fault(r) ? { fault: fault(r)! } : {}) };
    const action = obj(r['route']);
    if (action) {
      const rt = retries(action);
      return {
        kind: 'route', ...base, clusters: targets(action),
        timeout: str(action['timeout']) ?? '15s',
        ...(rt ? { retries: rt } : {}),
        mirrors: arr(action['request_mirror_policies']).map((mp) => ({ cluster: String(obj(mp)?.['cluster'] ?? ''), percent: percentOf(obj(obj(mp)?.['runtime_fraction'])?.['default_value']) })),
      };
    }
    if (obj(r['redirect'])) return { kind: 'redirect', ...base, clusters: [], mirrors: [], redirect: obj(r['redirect'])! };
    const dr = obj(r['direct_response']);
    return { kind: 'direct-response', ...base, clusters: [], mirrors: [], status: Number(dr?.['status'] ?? 0) };
  }
  return { kind: 'no-route', virtualHost: vname };
}

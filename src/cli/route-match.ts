/**
 * Envoy's HTTP route selection over the JSON form of a RouteConfiguration, for
 * `meshctl route check`: the virtual host by `:authority`, then the first route whose
 * `match` holds (path without the query string, headers, query parameters). Regexes are
 * RE2 in Envoy and JavaScript here; for the patterns meshd accepts they agree.
 */

type Obj = Record<string, unknown>;
const rec = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? v as Obj : {});

/** The request as route matching sees it. */
export interface RequestFacts {
  /** Lowercase, with `:port` unless the client left it out. */
  readonly authority: string;
  /** With the query string, as sent. */
  readonly path: string;
  readonly method: string;
  /** Lowercase names. */
  readonly headers: readonly (readonly [string, string])[];
}

/** How well one domain pattern matches a host: higher wins; -1 no match. Envoy: exact, `*.suffix` (longest), `prefix.*` (longest), `*`. */
export function domainScore(pattern: string, host: string): number {
  const p = pattern.toLowerCase();
  if (p === host) return 4_000_000;
  if (p === '*') return 0;
  if (p.startsWith('*') && host.length > p.length - 1 && host.endsWith(p.slice(1))) return 3_000_000 + p.length;
  if (p.endsWith('*') && host.length > p.length - 1 && host.startsWith(p.slice(0, -1))) return 2_000_000 + p.length;
  return -1;
}

/** The virtual host that takes `authority`; the first listed wins a tie, as Envoy rejects duplicates. */
export function selectVirtualHost(vhosts: readonly Obj[], authority: string): Obj | undefined {
  let best: Obj | undefined;
  let bestScore = -1;
  for (const vh of vhosts) {
    const domains = Array.isArray(vh.domains) ? vh.domains.map(String) : [];
    for (const d of domains) {
      const s = domainScore(d, authority.toLowerCase());
      if (s > bestScore) { best = vh; bestScore = s; }
    }
  }
  return best;
}

function regex(v: unknown, ignoreCase = false): RegExp | undefined {
  const re = rec(v).regex;
  if (typeof re !== 'string') return undefined;
  try { return new RegExp(`^(?:${re})$`, ignoreCase ? 'i' : ''); } catch { return undefined; }
}

/** An Envoy StringMatcher against a value. */
export function stringMatches(m: Obj, value: string): boolean {
  const ic = m.ignore_case === true;
  const v = ic ? value.toLowerCase() : value;
  const s = (k: string): string | undefined => (typeof m[k] === 'string' ? (ic ? (m[k] as string).toLowerCase() : m[k] as string) : undefined);
  if (s('exact') !== undefined) return v === s('exact');
  if (s('prefix') !== undefined) return v.startsWith(s('prefix')!);
  if (s('suffix') !== undefined) return v.endsWith(s('suffix')!);
  if (s('contains') !== undefined) return v.includes(s('contains')!);
  if (m.safe_regex !== undefined) return regex(m.safe_regex, ic)?.test(value) ?? false;
  return false;
}

function headerValue(req: RequestFacts, name: string): string | undefined {
  const n = name.toLowerCase();
  if (n === ':authority' || n === 'host') return req.authority;
  if (n === ':path') return req.path;
  if (n === ':method') return req.method;
  if (n === ':scheme') return 'http';
  const vals = req.headers.filter(([k]) => k === n).map(([, v]) => v);
  return vals.length ? vals.join(',') : undefined;
}

function headerMatches(h: Obj, req: RequestFacts): boolean {
  const raw = headerValue(req, String(h.name ?? ''));
  const value = raw ?? (h.treat_missing_header_as_empty === true ? '' : undefined);
  let ok: boolean;
  if (h.present_match !== undefined) ok = (raw !== undefined) === (h.present_match !== false);
  else if (value === undefined) ok = false;
  else if (h.string_match !== undefined) ok = stringMatches(rec(h.string_match), value);
  else if (h.exact_match !== undefined) ok = value === String(h.exact_match);
  else if (h.prefix_match !== undefined) ok = value.startsWith(String(h.prefix_match));
  else if (h.suffix_match !== undefined) ok = value.endsWith(String(h.suffix_match));
  else if (h.contains_match !== undefined) ok = value.includes(String(h.contains_match));
  else if (h.safe_regex_match !== undefined) ok = regex(h.safe_regex_match)?.test(value) ?? false;
  else ok = raw !== undefined; // no matcher: the header must be present
  return h.invert_match === true ? !ok : ok;
}

function queryMatches(q: Obj, query: URLSearchParams): boolean {
  const v = query.get(String(q.name ?? ''));
  if (q.present_match === true) return v !== null;
  if (v === null) return false;
  return q.string_match !== undefined ? stringMatches(rec(q.string_match), v) : true;
}

/** One line for a route's match, as `meshctl route check` prints it. */
export function describeMatch(m: Obj): string {
  const parts: string[] = [];
  const ci = m.case_sensitive === false ? ' (any case)' : '';
  if (typeof m.path === 'string') parts.push(`path ${m.path}${ci}`);
  else if (typeof m.prefix === 'string') parts.push(`prefix ${m.prefix}${ci}`);
  else if (typeof m.path_separated_prefix === 'string') parts.push(`path prefix ${m.path_separated_prefix}${ci}`);
  else if (m.safe_regex !== undefined) parts.push(`regex ${String(rec(m.safe_regex).regex)}`);
  for (const h of Array.isArray(m.headers) ? m.headers.map(rec) : []) parts.push(`header ${String(h.name)}${h.invert_match === true ? ' not' : ''} ${JSON.stringify(h.string_match ?? h.exact_match ?? h.safe_regex_match ?? h.present_match ?? 'present')}`);
  for (const q of Array.isArray(m.query_parameters) ? m.query_parameters.map(rec) : []) parts.push(`query ${String(q.name)} ${JSON.stringify(q.string_match ?? 'present')}`);
  return parts.join(', ') || 'any';
}

/** Whether a route's `match` holds for the request. */
export function routeMatches(m: Obj, req: RequestFacts): boolean {
  const q = req.path.indexOf('?');
  const path = q < 0 ? req.path : req.path.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : req.path.slice(q + 1));
  const cs = m.case_sensitive !== false;
  const p = cs ? path : path.toLowerCase();
  const low = (s: unknown): string => (cs ? String(s) : String(s).toLowerCase());
  let pathOk: boolean;
  if (typeof m.path === 'string') pathOk = p === low(m.path);
  else if (typeof m.prefix === 'string') pathOk = p.startsWith(low(m.prefix));
  else if (typeof m.path_separated_prefix === 'string') { const x = low(m.path_separated_prefix); pathOk = p === x || p.startsWith(`${x}/`); }
  else if (m.safe_regex !== undefined) pathOk = regex(m.safe_regex)?.test(path) ?? false;
  else pathOk = false; // connect_matcher and the like: not a plain HTTP request
  if (!pathOk) return false;
  if (!(Array.isArray(m.headers) ? m.headers.map(rec) : []).every((h) => headerMatches(h, req))) return false;
  return (Array.isArray(m.query_parameters) ? m.query_parameters.map(rec) : []).every((x) => queryMatches(x, query));
}

/** The first route whose match holds, its index and its match in words. */
export function matchRoute(routes: readonly Obj[], req: RequestFacts): { route: Obj; index: number; describe: string } | undefined {
  for (let i = 0; i < routes.length; i++) {
    const m = rec(routes[i]!.match);
    if (routeMatches(m, req)) return { route: routes[i]!, index: i, describe: describeMatch(m) };
  }
  return undefined;
}

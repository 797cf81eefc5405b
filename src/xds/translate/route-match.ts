/**
 * HTTP match conditions of the traffic model → Envoy `RouteMatch`. Conditions on the caller
 * (`sourceLabels`, `sourceNamespace`) and on the port are not Envoy matchers: they decide,
 * per route configuration and proxy, whether a match is emitted at all.
 */
import type { Labels } from '../../model/types.js';
import type { HttpMatch, StringMatch, ValueMatch } from '../../model/traffic.js';
import type { EnvoyObject } from '../resource-types.js';
import { freeze } from './common.js';

/** Who is asking and on which port: what decides the non-Envoy conditions of a match. */
export interface MatchContext {
  readonly port: number;
  readonly namespace: string;
  readonly labels: Labels;
}

/** Whether every key/value of `selector` is in `labels` (an empty selector holds for everyone). */
export function labelsMatch(selector: Labels, labels: Labels): boolean {
  return Object.keys(selector).every((k) => labels[k] === selector[k]);
}

/** Whether a match applies to this port and caller (its Envoy-side conditions aside). */
export function matchApplies(m: HttpMatch, ctx: MatchContext): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.namespace) return false;
  if (m.sourceLabels !== undefined && !labelsMatch(m.sourceLabels, ctx.labels)) return false;
  return true;
}

/** Envoy `StringMatcher` for a model string match. */
export function stringMatcher(m: StringMatch, ignoreCase = false): EnvoyObject {
  switch (m.type) {
    case 'exact': return ignoreCase ? { exact: m.value, ignore_case: true } : { exact: m.value };
    case 'prefix': return ignoreCase ? { prefix: m.value, ignore_case: true } : { prefix: m.value };
    case 'regex': return { safe_regex: { regex: m.value } };
  }
}

function valueMatcher(name: string, m: ValueMatch, invert: boolean): EnvoyObject {
  const r: Record<string, unknown> = m.type === 'present' ? { name, present_match: true } : { name, string_match: stringMatcher(m) };
  if (invert) r.invert_match = true;
  return r;
}

/** The path part of a RouteMatch: exact → `path`, prefix → `prefix` / `path_separated_prefix`, regex → `safe_regex`. */
function pathMatch(m: HttpMatch): EnvoyObject {
  const uri = m.uri;
  if (!uri) return { prefix: '/' }; // a fresh object: routeMatch adds to it
  switch (uri.type) {
    case 'exact': return { path: uri.value };
    case 'regex': return { safe_regex: { regex: uri.value } };
    case 'prefix':
      // Envoy refuses a path_separated_prefix ending in '/'; '/' matches everything either way.
      if (m.pathSeparatedPrefix && uri.value !== '/' && !uri.value.endsWith('/')) return { path_separated_prefix: uri.value };
      return { prefix: uri.value };
  }
}

/** The every-request match (shared, frozen: most rules end in one). */
const MATCH_ALL: EnvoyObject = Object.freeze({ prefix: '/' });

/** Envoy `RouteMatch` for one model match (an absent match: every request). Built by assignment: this runs for every route. */
export function routeMatch(m: HttpMatch | undefined): EnvoyObject {
  if (!m) return MATCH_ALL;
  // Memoized per model match (model objects are frozen and keep their identity while their
  // object is unchanged), deep-frozen: every proxy scope that routes the host repeats it.
  let r = matchMemo.get(m);
  if (!r) { r = freeze(buildRouteMatch(m)); matchMemo.set(m, r); }
  return r;
}

const matchMemo = new WeakMap<HttpMatch, EnvoyObject>();

function buildRouteMatch(m: HttpMatch): EnvoyObject {
  const headers: EnvoyObject[] = [];
  if (m.method) headers.push(valueMatcher(':method', m.method, false));
  if (m.authority) headers.push(valueMatcher(':authority', m.authority, false));
  if (m.scheme) headers.push(valueMatcher(':scheme', m.scheme, false));
  for (const h of m.headers) headers.push(valueMatcher(h.name, h.match, h.invert));
  const r = pathMatch(m) as Record<string, unknown>;
  if (m.ignoreUriCase) r.case_sensitive = false;
  if (headers.length) r.headers = headers;
  if (m.queryParams.length) r.query_parameters = m.queryParams.map((q) => (q.match.type === 'present' ? { name: q.name, present_match: true } : { name: q.name, string_match: stringMatcher(q.match) }));
  return r;
}

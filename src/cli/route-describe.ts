/**
 * A route's Envoy `match` in words, for `meshctl route check` (evaluation itself is
 * translation's `evaluateRoute`, src/xds/translate/route-eval.ts).
 */

type Obj = Record<string, unknown>;
const rec = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? v as Obj : {});

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

/**
 * `gateway.networking.k8s.io` GRPCRoute with Service parents (GAMMA) → RouteSet. A gRPC
 * method match is a path match on `/<service>/<method>`; filters are header modifiers and
 * mirrors; weights and parents work as for HTTPRoute.
 */
import type { HeaderPolicy, HttpMatch, HttpRule, MirrorPolicy, RouteSet, StringMatch } from '../../model/traffic.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import type { ParseOptions } from '../service.js';
import { type Checker, join } from '../fields.js';
import { backendRefs, headerModifier, mirrorFilter, parseGammaRoute } from './gateway-api.js';
import { gatewayValueMatches } from './http-route.js';
import { oneOf, type Raw, record, records, str, strictKeys, unsupported } from './read.js';
import { regexProblem } from './string-match.js';

const SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

function methodMatch(c: Checker, m: Raw, at: string): StringMatch | undefined {
  strictKeys(c, m, ['type', 'service', 'method'], at);
  const type = oneOf(c, m, 'type', at, ['Exact', 'RegularExpression']) ?? 'Exact';
  const service = str(c, m, 'service', at);
  const method = str(c, m, 'method', at);
  if (service === undefined && method === undefined) { c.error(at, 'must set service, method or both'); return undefined; }
  if (type === 'Exact') {
    if (service !== undefined && !SERVICE.test(service)) c.error(join(at, 'service'), `${JSON.stringify(service)} is not a gRPC service name`);
    if (method !== undefined && !METHOD.test(method)) c.error(join(at, 'method'), `${JSON.stringify(method)} is not a gRPC method name`);
    if (method === undefined) return { type: 'prefix', value: `/${service}/` };
    if (service === undefined) return { type: 'regex', value: `/[^/]+/${method}` };
    return { type: 'exact', value: `/${service}/${method}` };
  }
  const re = `/${service ?? '[^/]+'}/${method ?? '.+'}`;
  for (const [k, v] of [['service', service], ['method', method]] as const) {
    const p = v === undefined ? undefined : regexProblem(v);
    if (p) { c.error(join(at, k), p); return undefined; }
  }
  const p = regexProblem(re);
  if (p) { c.error(at, p); return undefined; }
  return { type: 'regex', value: re };
}

function filters(c: Checker, o: Raw, at: string, ns: string, suffix: string, backend: boolean): { headers?: HeaderPolicy; mirrors: MirrorPolicy[] } {
  const out: { headers?: HeaderPolicy; mirrors: MirrorPolicy[] } = { mirrors: [] };
  const fields: Readonly<Record<string, string>> = { RequestHeaderModifier: 'requestHeaderModifier', ResponseHeaderModifier: 'responseHeaderModifier', RequestMirror: 'requestMirror', ExtensionRef: 'extensionRef' };
  for (const { item, path } of records(c, o, 'filters', at)) {
    strictKeys(c, item, ['type', ...Object.values(fields)], path);
    const type = oneOf(c, item, 'type', path, Object.keys(fields));
    if (item.type === undefined) c.error(join(path, 'type'), 'is required');
    if (!type) continue;
    const field = fields[type]!;
    const body = record(c, item, field, path, true);
    if (!body) continue;
    const bp = join(path, field);
    if (type === 'ExtensionRef' || (backend && type === 'RequestMirror')) { c.warn(bp, `the ${type} filter${backend ? ' on a backendRef' : ''} is not supported by meshd; ignored`); continue; }
    if (type === 'RequestHeaderModifier') out.headers = { ...out.headers, request: headerModifier(c, body, bp) };
    else if (type === 'ResponseHeaderModifier') out.headers = { ...out.headers, response: headerModifier(c, body, bp) };
    else { const m = mirrorFilter(c, body, bp, ns, suffix); if (m) out.mirrors.push(m); }
  }
  return out;
}

/** The rules of a GRPCRoute, one model rule per match. */
function rules(c: Checker, spec: Raw, ns: string, suffix: string, routeName: string): HttpRule[] {
  const http: HttpRule[] = [];
  records(c, spec, 'rules', 'spec').forEach(({ item, path }, i) => {
    strictKeys(c, item, ['name', 'matches', 'filters', 'backendRefs', 'sessionPersistence'], path);
    const name = str(c, item, 'name', path) ?? `${ns}.${routeName}.${i}`;
    const ms: HttpMatch[] = [];
    for (const { item: m, path: mp } of records(c, item, 'matches', path)) {
      strictKeys(c, m, ['method', 'headers'], mp);
      const mm = record(c, m, 'method', mp);
      const uri = mm ? methodMatch(c, mm, join(mp, 'method')) : undefined;
      const headers = gatewayValueMatches(c, m, 'headers', mp).map((h) => ({ name: h.name, match: h.match, invert: false }));
      ms.push({ ...(uri ? { uri } : {}), ignoreUriCase: false, headers, queryParams: [] });
    }
    const f = filters(c, item, path, ns, suffix, false);
    const b = backendRefs(c, item, path, ns, suffix, (br, bp) => filters(c, br, bp, ns, suffix, true).headers);
    unsupported(c, item, ['sessionPersistence'], path);
    const action: HttpRule['action'] = b.total === 0 ? { kind: 'direct-response', status: 500 } : { kind: 'route', destinations: b.destinations };
    const base = { action, mirrors: f.mirrors, ...(f.headers ? { headers: f.headers } : {}) };
    for (const m of ms.length > 0 ? ms.map((x) => [x]) : [[]]) http.push({ name, matches: m, ...base });
  });
  return http;
}

/** Validates a GRPCRoute; `null` when it has no Service parent (nothing for the mesh). */
export function parseGrpcRoute(raw: unknown, ctx: ParseContext, opts: ParseOptions): ParseResult<RouteSet | null> {
  return parseGammaRoute(raw, ctx, opts, 'GRPCRoute', rules);
}

/**
 * `gateway.networking.k8s.io` HTTPRoute with Service parents (GAMMA) → RouteSet. Each rule
 * becomes one model rule per match (Gateway API precedence is per match), ordered by that
 * precedence. A rule whose backends all weigh 0 (or that has none and no redirect) answers
 * 500, as the Gateway API requires.
 */
import type { CorsPolicy, HeaderPolicy, HttpMatch, HttpRule, MirrorPolicy, Redirect, Rewrite, RouteSet, StringMatch } from '../../model/traffic.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import type { ParseOptions } from '../service.js';
import { type Checker, join } from '../fields.js';
import { backendRefs, headerModifier, mirrorFilter, parseGammaRoute, timeoutsAndRetry } from './gateway-api.js';
import { headerMatchNameProblem, regexProblem } from './string-match.js';
import { bool, int, oneOf, type Raw, record, records, str, strictKeys, strings, unsupported } from './read.js';

const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

function pathProblem(v: string): string | undefined {
  if (!v.startsWith('/')) return 'must be an absolute path (start with "/")';
  for (const bad of ['//', '/./', '/../', '%2f', '%2F', '#']) if (v.includes(bad)) return `must not contain ${JSON.stringify(bad)}`;
  if (v.endsWith('/..') || v.endsWith('/.')) return 'must not end with "/." or "/.."';
  if (!PATH_CHARS.test(v)) return 'contains characters not allowed in a path';
  return undefined;
}

/** A header or query parameter match list (Exact by default, or RegularExpression); later duplicates ignored. */
export function gatewayValueMatches(c: Checker, m: Raw, key: 'headers' | 'queryParams', at: string): { name: string; match: StringMatch }[] {
  const out: { name: string; match: StringMatch }[] = [];
  for (const { item, path } of records(c, m, key, at)) {
    strictKeys(c, item, ['type', 'name', 'value'], path);
    const type = oneOf(c, item, 'type', path, ['Exact', 'RegularExpression']) ?? 'Exact';
    const rawName = str(c, item, 'name', path, true);
    const value = c.string(item, 'value', path);
    if (value === undefined) c.error(join(path, 'value'), 'is required');
    if (rawName === undefined || value === undefined) continue;
    const name = key === 'headers' ? rawName.toLowerCase() : rawName;
    if (key === 'headers') { const p = headerMatchNameProblem(rawName); if (p) { c.error(join(path, 'name'), p); continue; } }
    if (type === 'RegularExpression') { const p = regexProblem(value); if (p) { c.error(join(path, 'value'), p); continue; } }
    if (out.some((x) => x.name === name)) { c.warn(join(path, 'name'), `duplicate ${JSON.stringify(rawName)}; ignored (the first entry wins)`); continue; }
    out.push({ name, match: { type: type === 'Exact' ? 'exact' : 'regex', value } });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function match(c: Checker, m: Raw, at: string): HttpMatch | undefined {
  strictKeys(c, m, ['path', 'headers', 'queryParams', 'method'], at);
  const p = record(c, m, 'path', at);
  let uri: StringMatch | undefined;
  let separated = false;
  if (p) {
    const pp = join(at, 'path');
    strictKeys(c, p, ['type', 'value'], pp);
    const type = oneOf(c, p, 'type', pp, ['Exact', 'PathPrefix', 'RegularExpression']) ?? 'PathPrefix';
    const value = str(c, p, 'value', pp) ?? '/';
    const problem = type === 'RegularExpression' ? regexProblem(value) : pathProblem(value);
    if (problem) c.error(join(pp, 'value'), problem);
    else if (type === 'Exact') uri = { type: 'exact', value };
    else if (type === 'RegularExpression') uri = { type: 'regex', value };
    // "A trailing / is ignored": `/foo/` and `/foo` both match `/foo` and `/foo/x`.
    else { uri = { type: 'prefix', value: value === '/' ? '/' : value.replace(/\/+$/, '') }; separated = value !== '/'; }
  } else {
    uri = { type: 'prefix', value: '/' };
  }
  const method = oneOf(c, m, 'method', at, METHODS);
  const headers = gatewayValueMatches(c, m, 'headers', at).map((h) => ({ name: h.name, match: h.match, invert: false }));
  const queryParams = gatewayValueMatches(c, m, 'queryParams', at);
  return {
    ...(uri ? { uri } : {}), ...(separated ? { pathSeparatedPrefix: true } : {}), ignoreUriCase: false,
    ...(method ? { method: { type: 'exact' as const, value: method } } : {}), headers, queryParams,
  };
}

function pathModifier(c: Checker, o: Raw, at: string): { type: 'full' | 'prefix'; value: string } | undefined {
  const p = record(c, o, 'path', at);
  if (!p) return undefined;
  const pp = join(at, 'path');
  strictKeys(c, p, ['type', 'replaceFullPath', 'replacePrefixMatch'], pp);
  const type = oneOf(c, p, 'type', pp, ['ReplaceFullPath', 'ReplacePrefixMatch']);
  if (p.type === undefined) c.error(join(pp, 'type'), 'is required');
  const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (type && p[other] !== undefined) c.error(join(pp, other), `must not be set with type ${type}`);
  const value = c.string(p, key, pp);
  if (type && value === undefined) c.error(join(pp, key), `is required with type ${type}`);
  if (!type || value === undefined) return undefined;
  return { type: type === 'ReplaceFullPath' ? 'full' : 'prefix', value };
}

function corsFilter(c: Checker, f: Raw, at: string): CorsPolicy {
  strictKeys(c, f, ['allowOrigins', 'allowCredentials', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge'], at);
  const origins = (strings(c, f, 'allowOrigins', at) ?? []).map((o): StringMatch => {
    if (o === '*') return { type: 'regex', value: '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s?#]+$' };
    if (!o.includes('*')) return { type: 'exact', value: o };
    if (o.indexOf('*') === o.length - 1) return { type: 'prefix', value: o.slice(0, -1) };
    return { type: 'regex', value: `^${o.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$` };
  });
  const methods = strings(c, f, 'allowMethods', at) ?? [];
  methods.forEach((m, i) => { if (m !== '*' && !(METHODS as readonly string[]).includes(m)) c.error(`${join(at, 'allowMethods')}[${i}]`, `${JSON.stringify(m)} is not an HTTP method`); });
  const maxAge = int(c, f, 'maxAge', at, 1);
  const cred = bool(c, f, 'allowCredentials', at);
  return {
    allowOrigins: origins, allowMethods: methods, allowHeaders: strings(c, f, 'allowHeaders', at) ?? [], exposeHeaders: strings(c, f, 'exposeHeaders', at) ?? [],
    ...(maxAge !== undefined ? { maxAgeSeconds: maxAge } : {}), ...(cred ? { allowCredentials: true } : {}), unmatchedPreflights: 'IGNORE',
  };
}

/** The filters of a rule (or of a backendRef when `backend`), each type checked against its field. */
interface Filters { headers?: HeaderPolicy; redirect?: Redirect; rewrite?: Rewrite; mirrors: MirrorPolicy[]; cors?: CorsPolicy }

const FILTER_FIELD: Readonly<Record<string, string>> = {
  RequestHeaderModifier: 'requestHeaderModifier', ResponseHeaderModifier: 'responseHeaderModifier', RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite', RequestMirror: 'requestMirror', CORS: 'cors', ExtensionRef: 'extensionRef', ExternalAuth: 'externalAuth',
};

function filters(c: Checker, o: Raw, at: string, ns: string, suffix: string, backend: boolean): Filters {
  const out: Filters = { mirrors: [] };
  const seen = new Set<string>();
  for (const { item, path } of records(c, o, 'filters', at)) {
    strictKeys(c, item, ['type', ...Object.values(FILTER_FIELD)], path);
    const type = oneOf(c, item, 'type', path, Object.keys(FILTER_FIELD));
    if (item.type === undefined) c.error(join(path, 'type'), 'is required');
    if (!type) continue;
    const field = FILTER_FIELD[type]!;
    for (const f of Object.values(FILTER_FIELD)) if (f !== field && item[f] !== undefined) c.error(join(path, f), `must not be set for a ${type} filter`);
    if (type !== 'RequestMirror' && type !== 'ExtensionRef' && seen.has(type)) c.error(join(path, 'type'), `${type} may appear only once`);
    seen.add(type);
    const body = record(c, item, field, path, true);
    if (!body) continue;
    const bp = join(path, field);
    if (type === 'ExtensionRef' || type === 'ExternalAuth' || (backend && !type.endsWith('HeaderModifier'))) {
      c.warn(bp, `the ${type} filter${backend ? ' on a backendRef' : ''} is not supported by meshd; ignored`);
      continue;
    }
    if (type === 'RequestHeaderModifier') out.headers = { ...out.headers, request: headerModifier(c, body, bp) };
    else if (type === 'ResponseHeaderModifier') out.headers = { ...out.headers, response: headerModifier(c, body, bp) };
    else if (type === 'RequestMirror') { const m = mirrorFilter(c, body, bp, ns, suffix); if (m) out.mirrors.push(m); }
    else if (type === 'CORS') out.cors = corsFilter(c, body, bp);
    else if (type === 'RequestRedirect') {
      strictKeys(c, body, ['scheme', 'hostname', 'path', 'port', 'statusCode'], bp);
      const scheme = oneOf(c, body, 'scheme', bp, ['http', 'https']);
      const hostname = str(c, body, 'hostname', bp);
      const path = pathModifier(c, body, bp);
      const port = c.port(body.port, join(bp, 'port'));
      const code = body.statusCode === undefined ? 302 : int(c, body, 'statusCode', bp, 301, 308);
      if (code !== undefined && ![301, 302, 303, 307, 308].includes(code)) c.error(join(bp, 'statusCode'), 'must be 301, 302, 303, 307 or 308');
      out.redirect = {
        ...(path ? { path } : {}), ...(hostname !== undefined ? { authority: hostname } : {}),
        port: port ?? (scheme !== undefined ? 'from-protocol-default' : 'from-request-port'),
        ...(scheme !== undefined ? { scheme } : {}), code: code ?? 302,
      };
    } else if (type === 'URLRewrite') {
      strictKeys(c, body, ['hostname', 'path'], bp);
      const hostname = str(c, body, 'hostname', bp);
      const path = pathModifier(c, body, bp);
      const p = path?.type === 'prefix' ? { type: 'prefix' as const, value: path.value.replace(/\/+$/, '') || '/' } : path;
      out.rewrite = { ...(p ? { path: p } : {}), ...(hostname !== undefined ? { authority: hostname } : {}) };
    }
  }
  if (seen.has('RequestRedirect') && seen.has('URLRewrite')) c.error(join(at, 'filters'), 'set only one of RequestRedirect and URLRewrite');
  return out;
}

/** The rules of an HTTPRoute, one model rule per match. */
function rules(c: Checker, spec: Raw, ns: string, suffix: string, routeName: string): HttpRule[] {
  const out: HttpRule[] = [];
  const list = records(c, spec, 'rules', 'spec');
  if (list.length === 0 && spec.rules !== undefined) c.error('spec.rules', 'must list at least one rule');
  list.forEach(({ item, path }, i) => {
    strictKeys(c, item, ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry', 'sessionPersistence'], path);
    const name = str(c, item, 'name', path) ?? `${ns}.${routeName}.${i}`;
    const ms = records(c, item, 'matches', path).map(({ item: m, path: mp }) => match(c, m, mp)).filter((m): m is HttpMatch => m !== undefined);
    const f = filters(c, item, path, ns, suffix, false);
    const b = backendRefs(c, item, path, ns, suffix, (br, bp) => filters(c, br, bp, ns, suffix, true).headers);
    const tr = timeoutsAndRetry(c, item, path);
    unsupported(c, item, ['sessionPersistence'], path);
    if (f.redirect && b.destinations.length > 0) c.error(join(path, 'filters'), 'RequestRedirect cannot be combined with backendRefs');
    if (f.redirect?.path?.type === 'prefix' || f.rewrite?.path?.type === 'prefix') {
      if (ms.some((m) => m.uri?.type !== 'prefix')) c.error(join(path, 'filters'), 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match');
    }
    const action: HttpRule['action'] = f.redirect ? { kind: 'redirect', redirect: f.redirect }
      : b.total === 0 ? { kind: 'direct-response', status: 500 } : { kind: 'route', destinations: b.destinations };
    const base = {
      action, ...(f.rewrite ? { rewrite: f.rewrite } : {}), ...tr, mirrors: f.mirrors,
      ...(f.headers ? { headers: f.headers } : {}), ...(f.cors ? { cors: f.cors } : {}),
    };
    const withMatches = ms.length > 0 ? ms.map((m) => [m]) : [[]];
    for (const m of withMatches) out.push({ name, matches: m, ...base });
  });
  return out;
}

/** Validates an HTTPRoute; `null` when it has no Service parent (nothing for the mesh). */
export function parseHttpRoute(raw: unknown, ctx: ParseContext, opts: ParseOptions): ParseResult<RouteSet | null> {
  return parseGammaRoute(raw, ctx, opts, 'HTTPRoute', rules);
}

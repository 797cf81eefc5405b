/**
 * The parts of an Istio HTTP route that are not matching: destinations and weights, header
 * edits, redirect, rewrite, retries, fault, mirrors, CORS, direct responses.
 */
import type {
  CorsPolicy, Destination, FaultPolicy, HeaderEdits, HeaderPolicy, Redirect, RetryPolicy, Rewrite, StringMatch, WeightedDestination,
} from '../../model/traffic.js';
import { type Checker, isDnsLabel, join } from '../fields.js';
import { istioDuration } from './durations.js';
import { hostProblem, resolveHost } from './hosts.js';
import { bool, int, oneOf, percentage, type Raw, record, records, str, strictKeys, strings, unsupported } from './read.js';
import { checkRegex, headerEditNameProblem, headerValueProblem, stringMatchOf } from './string-match.js';

/** What parsing a route needs about the object it is in. */
export interface RouteScope {
  readonly namespace: string;
  readonly domainSuffix: string;
}

/** An Istio Destination (`host`, `subset`, `port.number`), its host resolved in the object's namespace. */
export function destination(c: Checker, d: Raw, at: string, scope: RouteScope): Destination | undefined {
  strictKeys(c, d, ['host', 'subset', 'port'], at);
  const host = str(c, d, 'host', at, true);
  if (host !== undefined) {
    const p = host === '*' ? 'a destination host cannot be "*"' : hostProblem(host, { allowStar: false, allowIp: true });
    if (p) c.error(join(at, 'host'), p);
  }
  const subset = str(c, d, 'subset', at);
  if (subset !== undefined && !isDnsLabel(subset)) c.error(join(at, 'subset'), `${JSON.stringify(subset)} is not a valid subset name (a DNS-1123 label)`);
  let port: number | undefined;
  const ps = record(c, d, 'port', at);
  if (ps) {
    strictKeys(c, ps, ['number'], join(at, 'port'));
    port = c.port(ps.number, join(join(at, 'port'), 'number'));
    if (ps.number === undefined) c.error(join(join(at, 'port'), 'number'), 'is required');
  }
  if (host === undefined) return undefined;
  return { host: resolveHost(host, scope.namespace, scope.domainSuffix), ...(subset !== undefined ? { subset } : {}), ...(port !== undefined ? { port } : {}) };
}

function edits(c: Checker, o: Raw, at: string, isRequest: boolean): HeaderEdits & { authority?: string } {
  strictKeys(c, o, ['set', 'add', 'remove'], at);
  let authority: string | undefined;
  const pairs = (key: 'set' | 'add'): [string, string][] => {
    const m = c.stringMap(o, key, at);
    const out: [string, string][] = [];
    for (const [k, v] of Object.entries(m)) {
      const field = join(join(at, key), k);
      const lower = k.toLowerCase();
      if (isRequest && (lower === ':authority' || lower === 'host')) {
        if (authority !== undefined) c.error(field, 'the authority is set twice');
        authority = v;
        continue;
      }
      const p = headerEditNameProblem(k) ?? headerValueProblem(v);
      if (p) { c.error(field, p); continue; }
      out.push([lower, v]);
    }
    return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  };
  const set = pairs('set');
  const add = pairs('add');
  const remove = (strings(c, o, 'remove', at) ?? []).map((n, i) => {
    const p = headerEditNameProblem(n);
    if (p) c.error(`${join(at, 'remove')}[${i}]`, p);
    return n.toLowerCase();
  });
  return { set, add, remove: [...new Set(remove)].sort(), ...(authority !== undefined ? { authority } : {}) };
}

/**
 * Istio `headers` (`request`/`response` × `set`/`add`/`remove`). Setting `:authority` or
 * `host` on the request is an authority rewrite (returned apart, as Envoy cannot edit them).
 */
export function headerPolicy(c: Checker, obj: Raw, at: string): { policy?: HeaderPolicy; authority?: string } {
  const h = record(c, obj, 'headers', at);
  if (!h) return {};
  const hp = join(at, 'headers');
  strictKeys(c, h, ['request', 'response'], hp);
  const req = record(c, h, 'request', hp);
  const res = record(c, h, 'response', hp);
  const request = req ? edits(c, req, join(hp, 'request'), true) : undefined;
  const response = res ? edits(c, res, join(hp, 'response'), false) : undefined;
  const authority = request?.authority;
  const strip = (e: HeaderEdits & { authority?: string }): HeaderEdits => ({ set: e.set, add: e.add, remove: e.remove });
  const empty = (e: HeaderEdits | undefined): boolean => !e || (e.set.length === 0 && e.add.length === 0 && e.remove.length === 0);
  const reqE = request ? strip(request) : undefined;
  const policy: HeaderPolicy = { ...(!empty(reqE) ? { request: reqE } : {}), ...(!empty(response) ? { response } : {}) };
  return { ...(policy.request || policy.response ? { policy } : {}), ...(authority !== undefined ? { authority } : {}) };
}

/**
 * Weighted destinations of an Istio route (`http[].route`, `tcp[].route`, `tls[].route`).
 * One destination gets all traffic (weight 100); several must carry weights that sum to 100.
 */
export function weightedDestinations(c: Checker, obj: Raw, at: string, scope: RouteScope, withHeaders: boolean): WeightedDestination[] {
  const out: WeightedDestination[] = [];
  const list = records(c, obj, 'route', at);
  let sum = 0;
  for (const { item, path } of list) {
    strictKeys(c, item, withHeaders ? ['destination', 'weight', 'headers'] : ['destination', 'weight'], path);
    const d = record(c, item, 'destination', path, true);
    const dest = d ? destination(c, d, join(path, 'destination'), scope) : undefined;
    const weight = int(c, item, 'weight', path, 0, 100);
    sum += weight ?? 0;
    const h = withHeaders ? headerPolicy(c, item, path) : {};
    if (h.authority !== undefined) c.warn(join(join(path, 'headers'), 'request'), 'setting the authority per destination is not supported by meshd; ignored (use the rule\'s rewrite.authority)');
    if (dest) out.push({ destination: dest, weight: list.length === 1 ? 100 : weight ?? 0, ...(h.policy ? { headers: h.policy } : {}) });
  }
  if (list.length > 1 && sum !== 100) c.error(join(at, 'route'), `weights of several destinations must sum to 100 (they sum to ${sum})`);
  return out;
}

/** Istio HTTPRedirect. */
export function redirect(c: Checker, r: Raw, at: string, prefixOnly: boolean): Redirect | undefined {
  strictKeys(c, r, ['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode', 'prefixRewrite'], at);
  const uri = str(c, r, 'uri', at);
  const prefixRewrite = str(c, r, 'prefixRewrite', at);
  const authority = str(c, r, 'authority', at);
  const scheme = oneOf(c, r, 'scheme', at, ['http', 'https']);
  const port = int(c, r, 'port', at, 1, 65535);
  const derive = oneOf(c, r, 'derivePort', at, ['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']);
  const code = int(c, r, 'redirectCode', at, 300, 399);
  if (uri !== undefined && prefixRewrite !== undefined) c.error(at, 'set only one of uri and prefixRewrite');
  if (port !== undefined && derive !== undefined) c.error(at, 'set only one of port and derivePort');
  if (prefixRewrite !== undefined && !prefixOnly) c.error(join(at, 'prefixRewrite'), 'requires every uri match of the rule to be a prefix match');
  if (uri === undefined && prefixRewrite === undefined && authority === undefined && scheme === undefined && port === undefined && derive === undefined) {
    c.error(at, 'must set at least one of uri, prefixRewrite, authority, scheme, port, derivePort');
  }
  if (code !== undefined && ![301, 302, 303, 307, 308].includes(code)) c.error(join(at, 'redirectCode'), 'must be 301, 302, 303, 307 or 308');
  const p: Redirect['port'] | undefined = port ?? (derive === 'FROM_PROTOCOL_DEFAULT' ? 'from-protocol-default' : derive === 'FROM_REQUEST_PORT' ? 'from-request-port' : undefined);
  return {
    ...(uri !== undefined ? { path: { type: 'full' as const, value: uri } } : prefixRewrite !== undefined ? { path: { type: 'prefix' as const, value: prefixRewrite } } : {}),
    ...(authority !== undefined ? { authority } : {}),
    ...(p !== undefined ? { port: p } : {}),
    ...(scheme !== undefined ? { scheme } : {}),
    code: code ?? 301,
  };
}

/** Istio HTTPRewrite (`uri` replaces the matched prefix; `uriRegexRewrite` is RE2 with substitution). */
export function rewrite(c: Checker, r: Raw, at: string): Rewrite | undefined {
  strictKeys(c, r, ['uri', 'authority', 'uriRegexRewrite'], at);
  const uri = str(c, r, 'uri', at);
  const authority = str(c, r, 'authority', at);
  const rr = record(c, r, 'uriRegexRewrite', at);
  let regex: { pattern: string; substitution: string } | undefined;
  if (rr) {
    const rp = join(at, 'uriRegexRewrite');
    strictKeys(c, rr, ['match', 'rewrite'], rp);
    const match = str(c, rr, 'match', rp, true);
    const sub = c.string(rr, 'rewrite', rp);
    if (sub === undefined) c.error(join(rp, 'rewrite'), 'is required');
    if (match !== undefined && checkRegex(c, match, join(rp, 'match')) && sub !== undefined) regex = { pattern: match, substitution: sub };
  }
  if (uri !== undefined && rr) c.error(at, 'set only one of uri and uriRegexRewrite');
  if (uri === undefined && !rr && authority === undefined) c.error(at, 'must set at least one of uri, uriRegexRewrite, authority');
  const path: Rewrite['path'] | undefined = uri !== undefined ? { type: 'prefix', value: uri } : regex ? { type: 'regex', ...regex } : undefined;
  return { ...(path ? { path } : {}), ...(authority !== undefined ? { authority } : {}) };
}

const RETRY_ON = new Set(['5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

/** Istio HTTPRetry; `attempts: 0` disables retries and then allows no other field. */
export function retries(c: Checker, r: Raw, at: string): RetryPolicy | undefined {
  strictKeys(c, r, ['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff'], at);
  const attempts = int(c, r, 'attempts', at, 0) ?? 0;
  const perTry = istioDuration(c, r, 'perTryTimeout', at);
  const retryOn = str(c, r, 'retryOn', at);
  const remote = bool(c, r, 'retryRemoteLocalities', at);
  const backoff = istioDuration(c, r, 'backoff', at);
  unsupported(c, r, ['retryIgnorePreviousHosts'], at);
  if (retryOn !== undefined) {
    for (const p of retryOn.split(',')) {
      const t = p.trim();
      if (!RETRY_ON.has(t) && !(/^\d{3}$/.test(t) && Number(t) >= 100 && Number(t) <= 599)) c.error(join(at, 'retryOn'), `${JSON.stringify(t)} is not a retry condition (${[...RETRY_ON].join(', ')}, or an HTTP status code)`);
    }
  }
  if (attempts === 0 && (perTry !== undefined || retryOn !== undefined || remote !== undefined)) c.error(at, 'attempts is 0 (retries disabled), so perTryTimeout, retryOn and retryRemoteLocalities must not be set');
  return {
    attempts,
    ...(perTry !== undefined ? { perTryTimeoutMs: perTry } : {}),
    ...(retryOn !== undefined ? { retryOn: retryOn.split(',').map((s) => s.trim()).join(',') } : {}),
    ...(remote !== undefined ? { retryRemoteLocalities: remote } : {}),
    ...(backoff !== undefined ? { backoffBaseMs: backoff } : {}),
  };
}

/** gRPC status names Envoy's fault filter can abort with. */
export const GRPC_STATUS = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'] as const;

/** Istio HTTPFaultInjection: delay (fixed; absent percentage: none delayed) and abort (absent percentage: all). */
export function fault(c: Checker, f: Raw, at: string): FaultPolicy | undefined {
  strictKeys(c, f, ['delay', 'abort'], at);
  const d = record(c, f, 'delay', at);
  const a = record(c, f, 'abort', at);
  if (!d && !a) c.error(at, 'must set delay, abort or both');
  let delay: FaultPolicy['delay'];
  if (d) {
    const dp = join(at, 'delay');
    strictKeys(c, d, ['fixedDelay', 'exponentialDelay', 'percentage', 'percent'], dp);
    if (d.exponentialDelay !== undefined) c.error(join(dp, 'exponentialDelay'), 'is not supported (Istio does not implement it either); use fixedDelay');
    const fixed = istioDuration(c, d, 'fixedDelay', dp);
    if (d.fixedDelay === undefined && d.exponentialDelay === undefined) c.error(join(dp, 'fixedDelay'), 'is required');
    const pct = percentage(c, d, 'percentage', dp) ?? int(c, d, 'percent', dp, 0, 100);
    if (d.percentage !== undefined && d.percent !== undefined) c.error(dp, 'set only one of percentage and percent');
    if (d.percent !== undefined) c.warn(join(dp, 'percent'), 'deprecated: use percentage.value');
    if (fixed !== undefined) delay = { fixedDelayMs: fixed, percent: pct ?? 0 };
  }
  let abort: FaultPolicy['abort'];
  if (a) {
    const ap = join(at, 'abort');
    strictKeys(c, a, ['httpStatus', 'grpcStatus', 'http2Error', 'percentage'], ap);
    const http = int(c, a, 'httpStatus', ap, 200, 599);
    const grpc = oneOf(c, a, 'grpcStatus', ap, GRPC_STATUS);
    if (a.http2Error !== undefined) c.error(join(ap, 'http2Error'), 'is not supported (Istio does not implement it either); use httpStatus or grpcStatus');
    const kinds = ['httpStatus', 'grpcStatus', 'http2Error'].filter((k) => a[k] !== undefined);
    if (kinds.length === 0) c.error(ap, 'must set httpStatus or grpcStatus');
    if (kinds.length > 1) c.error(ap, `set only one of ${kinds.join(', ')}`);
    const pct = percentage(c, a, 'percentage', ap);
    if (http !== undefined || grpc !== undefined) abort = { ...(http !== undefined ? { httpStatus: http } : {}), ...(grpc !== undefined ? { grpcStatus: grpc } : {}), percent: pct ?? 100 };
  }
  return { ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
}

const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE'];

/** Istio CorsPolicy (`allowOrigin`, deprecated, becomes exact matches). */
export function cors(c: Checker, p: Raw, at: string): CorsPolicy | undefined {
  strictKeys(c, p, ['allowOrigin', 'allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge', 'allowCredentials', 'unmatchedPreflights'], at);
  const origins: StringMatch[] = [];
  for (const { item, path } of records(c, p, 'allowOrigins', at)) {
    const m = stringMatchOf(c, item, path);
    if (m === 'empty') c.error(path, 'must set one of exact, prefix, regex');
    else if (m) origins.push(m);
  }
  const legacy = strings(c, p, 'allowOrigin', at);
  if (legacy) {
    c.warn(join(at, 'allowOrigin'), 'deprecated: use allowOrigins');
    if (p.allowOrigins === undefined) origins.push(...legacy.map((value) => ({ type: 'exact' as const, value })));
  }
  const methods = strings(c, p, 'allowMethods', at) ?? [];
  methods.forEach((m, i) => { if (!CORS_METHODS.includes(m)) c.error(`${join(at, 'allowMethods')}[${i}]`, `${JSON.stringify(m)} is not an HTTP method (${CORS_METHODS.join(', ')})`); });
  const headerList = (key: string): string[] => (strings(c, p, key, at) ?? []).map((h, i) => {
    if (h !== '*' && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h)) c.error(`${join(at, key)}[${i}]`, `${JSON.stringify(h)} is not a valid header name`);
    return h;
  });
  const allowHeaders = headerList('allowHeaders');
  const exposeHeaders = headerList('exposeHeaders');
  const maxAge = istioDuration(c, p, 'maxAge', at);
  if (maxAge !== undefined && maxAge % 1000 !== 0) c.error(join(at, 'maxAge'), 'must be a whole number of seconds');
  const cred = bool(c, p, 'allowCredentials', at);
  const unmatched = oneOf(c, p, 'unmatchedPreflights', at, ['UNSPECIFIED', 'FORWARD', 'IGNORE']);
  return {
    allowOrigins: origins, allowMethods: methods, allowHeaders, exposeHeaders,
    ...(maxAge !== undefined ? { maxAgeSeconds: Math.floor(maxAge / 1000) } : {}),
    ...(cred !== undefined ? { allowCredentials: cred } : {}),
    ...(unmatched !== undefined && unmatched !== 'UNSPECIFIED' ? { unmatchedPreflights: unmatched } : {}),
  };
}

/** Istio HTTPDirectResponse: a status 200-599 and an optional body (`string`, or base64 `bytes`). */
export function directResponse(c: Checker, d: Raw, at: string): { status: number; body?: string } | undefined {
  strictKeys(c, d, ['status', 'body'], at);
  const status = int(c, d, 'status', at, 200, 599);
  if (d.status === undefined) c.error(join(at, 'status'), 'is required');
  const b = record(c, d, 'body', at);
  let body: string | undefined;
  if (b) {
    const bp = join(at, 'body');
    strictKeys(c, b, ['string', 'bytes'], bp);
    if (b.string !== undefined && b.bytes !== undefined) c.error(bp, 'set only one of string and bytes');
    body = c.string(b, 'string', bp);
    const bytes = c.string(b, 'bytes', bp);
    if (bytes !== undefined) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(bytes)) c.error(join(bp, 'bytes'), 'must be base64');
      else body = Buffer.from(bytes, 'base64').toString('utf8');
    }
    if (body !== undefined && body.length > 1024 * 1024) c.error(bp, 'must be smaller than 1 MB');
  }
  return status === undefined ? undefined : { status, ...(body !== undefined ? { body } : {}) };
}

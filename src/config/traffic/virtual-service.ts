/**
 * `networking.istio.io` VirtualService → RouteSet, for mesh traffic (`gateways` empty or
 * containing `mesh`). One bound only to other gateways is valid but not applied to sidecars
 * (meshd runs no gateways): the result is `null` with a warning saying so.
 */
import type { HttpAction, HttpMatch, HttpRule, L4Match, MirrorPolicy, RouteSet, TcpRule, TlsMatch, TlsRule, WeightedDestination } from '../../model/traffic.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import type { ParseOptions } from '../service.js';
import { type Checker, isDnsLabel, join } from '../fields.js';
import { istioDuration } from './durations.js';
import { hostProblem, hostsOverlap, resolveHost } from './hosts.js';
import { appliesToMesh, httpMatch, l4Match, tlsMatch } from './istio-match.js';
import { cors, destination, directResponse, fault, headerPolicy, redirect, retries, rewrite, type RouteScope, weightedDestinations } from './istio-http.js';
import { finish, openObject, reject } from './object.js';
import { exportTo, int, percentage, type Raw, record, records, str, strictKeys, strings } from './read.js';

const HTTP_KEYS = ['name', 'match', 'route', 'redirect', 'directResponse', 'delegate', 'rewrite', 'timeout', 'retries', 'fault',
  'mirror', 'mirrorPercent', 'mirror_percent', 'mirrorPercentage', 'mirrors', 'corsPolicy', 'headers'];

function gatewayNames(c: Checker, list: readonly string[], at: string): void {
  list.forEach((g, i) => {
    if (g === 'mesh') return;
    const parts = g.split('/');
    const ok = parts.length === 2 ? isDnsLabel(parts[0]!) && isDnsLabel(parts[1]!) : parts.length === 1 && g.split('.').every(isDnsLabel);
    if (!ok) c.error(`${at}[${i}]`, `${JSON.stringify(g)} is not a gateway name ("mesh", "<namespace>/<name>" or "<name>")`);
  });
}

/** The matches of a rule; `null` when every match was for gateways only (the rule is dropped). */
function matches<T>(c: Checker, rule: Raw, at: string, parse: (m: Raw, p: string) => T | null | undefined): T[] | null {
  const list = records(c, rule, 'match', at);
  const out: T[] = [];
  let dropped = 0;
  for (const { item, path } of list) {
    const m = parse(item, path);
    if (m === null) dropped++;
    else if (m !== undefined) out.push(m);
  }
  return list.length > 0 && dropped === list.length ? null : out;
}

function mirrors(c: Checker, h: Raw, at: string, scope: RouteScope): MirrorPolicy[] {
  const out: MirrorPolicy[] = [];
  const single = record(c, h, 'mirror', at);
  if (single) {
    const d = destination(c, single, join(at, 'mirror'), scope);
    const pct = percentage(c, h, 'mirrorPercentage', at) ?? int(c, h, 'mirrorPercent', at, 0, 100) ?? int(c, h, 'mirror_percent', at, 0, 100);
    for (const k of ['mirrorPercent', 'mirror_percent']) if (h[k] !== undefined) c.warn(join(at, k), 'deprecated: use mirrorPercentage');
    if (d) out.push({ destination: d, ...(pct !== undefined ? { percent: pct } : {}) });
  } else {
    for (const k of ['mirrorPercentage', 'mirrorPercent', 'mirror_percent']) if (h[k] !== undefined) c.error(join(at, k), 'requires mirror');
  }
  const list = records(c, h, 'mirrors', at);
  if (single && list.length > 0) c.error(at, 'set only one of mirror and mirrors');
  for (const { item, path } of list) {
    strictKeys(c, item, ['destination', 'percentage'], path);
    const dr = record(c, item, 'destination', path, true);
    const d = dr ? destination(c, dr, join(path, 'destination'), scope) : undefined;
    const pct = percentage(c, item, 'percentage', path);
    if (d) out.push({ destination: d, ...(pct !== undefined ? { percent: pct } : {}) });
  }
  return out;
}

function httpRule(c: Checker, h: Raw, at: string, scope: RouteScope, vsForMesh: boolean, isDelegate: boolean): HttpRule | null | undefined {
  strictKeys(c, h, HTTP_KEYS, at);
  const name = str(c, h, 'name', at);
  const ms = matches<HttpMatch>(c, h, at, (m, p) => httpMatch(c, m, p, vsForMesh));
  const kinds = ['route', 'redirect', 'directResponse', 'delegate'].filter((k) => h[k] !== undefined && h[k] !== null && !(Array.isArray(h[k]) && (h[k] as unknown[]).length === 0));
  if (kinds.length === 0) c.error(at, 'must set one of route, redirect, directResponse, delegate');
  if (kinds.length > 1) c.error(at, `set only one of ${kinds.join(', ')}`);
  let action: HttpAction | undefined;
  const uriMatches = (ms ?? []).filter((m) => m.uri !== undefined);
  const r = record(c, h, 'redirect', at);
  const dr = record(c, h, 'directResponse', at);
  const dl = record(c, h, 'delegate', at);
  const route = weightedDestinations(c, h, at, scope, true);
  if (r) {
    const red = redirect(c, r, join(at, 'redirect'), uriMatches.every((m) => m.uri!.type === 'prefix'));
    if (red) action = { kind: 'redirect', redirect: red };
    for (const k of ['fault', 'rewrite']) if (h[k] !== undefined) c.error(join(at, k), 'cannot be combined with redirect');
  } else if (dr) {
    const d = directResponse(c, dr, join(at, 'directResponse'));
    if (d) action = { kind: 'direct-response', ...d };
    for (const k of ['fault', 'rewrite']) if (h[k] !== undefined) c.error(join(at, k), 'cannot be combined with directResponse');
  } else if (dl) {
    const dp = join(at, 'delegate');
    strictKeys(c, dl, ['name', 'namespace'], dp);
    const n = str(c, dl, 'name', dp, true);
    const ns = str(c, dl, 'namespace', dp) ?? scope.namespace;
    if (isDelegate) c.error(dp, 'a delegate VirtualService (one without hosts) cannot delegate again');
    if (!isDnsLabel(ns)) c.error(join(dp, 'namespace'), `${JSON.stringify(ns)} is not a namespace name`);
    if (n !== undefined) action = { kind: 'delegate', name: n, namespace: ns };
  } else if (route.length > 0) {
    action = { kind: 'route', destinations: route };
  }
  const rw = record(c, h, 'rewrite', at);
  let rwv = rw ? rewrite(c, rw, join(at, 'rewrite')) : undefined;
  const timeout = istioDuration(c, h, 'timeout', at);
  const rt = record(c, h, 'retries', at);
  const rtv = rt ? retries(c, rt, join(at, 'retries')) : undefined;
  const f = record(c, h, 'fault', at);
  const fv = f ? fault(c, f, join(at, 'fault')) : undefined;
  const mv = mirrors(c, h, at, scope);
  const hp = headerPolicy(c, h, at);
  if (hp.authority !== undefined) {
    if (rwv?.authority !== undefined) c.error(join(join(at, 'headers'), 'request'), 'the authority is set both here and in rewrite.authority');
    rwv = { ...(rwv ?? {}), authority: hp.authority };
  }
  const cp = record(c, h, 'corsPolicy', at);
  const cv = cp ? cors(c, cp, join(at, 'corsPolicy')) : undefined;
  if (ms === null || !action) return ms === null ? null : undefined;
  return {
    ...(name !== undefined ? { name } : {}),
    matches: ms, action,
    ...(rwv && (rwv.path || rwv.authority !== undefined) ? { rewrite: rwv } : {}),
    ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
    ...(rtv ? { retries: rtv } : {}),
    ...(fv && (fv.delay || fv.abort) ? { fault: fv } : {}),
    mirrors: mv,
    ...(hp.policy ? { headers: hp.policy } : {}),
    ...(cv ? { cors: cv } : {}),
  };
}

function l4Rules<M, R>(c: Checker, spec: Raw, key: 'tcp' | 'tls', scope: RouteScope,
  parse: (m: unknown, p: string) => M | null | undefined, build: (ms: M[], d: WeightedDestination[]) => R): R[] {
  const out: R[] = [];
  for (const { item, path } of records(c, spec, key, 'spec')) {
    strictKeys(c, item, ['match', 'route'], path);
    const list = records(c, item, 'match', path);
    if (key === 'tls' && list.length === 0) c.error(join(path, 'match'), 'must list at least one match (with sniHosts)');
    const ms: M[] = [];
    let dropped = 0;
    for (const { item: m, path: mp } of list) {
      const v = parse(m, mp);
      if (v === null) dropped++;
      else if (v !== undefined) ms.push(v);
    }
    const d = weightedDestinations(c, item, path, scope, false);
    if (d.length === 0 && (item.route === undefined || (Array.isArray(item.route) && item.route.length === 0))) c.error(join(path, 'route'), 'is required');
    if (list.length > 0 && dropped === list.length) continue;
    out.push(build(ms, d));
  }
  return out;
}

/** Validates a VirtualService and maps it to the route model; `null` when it is for gateways only. */
export function parseVirtualService(raw: unknown, ctx: ParseContext, opts: ParseOptions): ParseResult<RouteSet | null> {
  const { c, meta, spec } = openObject(raw, ctx, 'VirtualService');
  if (!spec) return reject(c);
  strictKeys(c, spec, ['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo'], 'spec');
  const ns = meta?.namespace ?? ctx.defaultNamespace;
  const scope: RouteScope = { namespace: ns, domainSuffix: opts.domainSuffix };
  const gateways = strings(c, spec, 'gateways', 'spec') ?? [];
  gatewayNames(c, gateways, 'spec.gateways');
  const forMesh = appliesToMesh(gateways, true);
  if (forMesh) {
    gateways.forEach((g, i) => {
      if (g !== 'mesh') c.warn(`spec.gateways[${i}]`, `gateway ${JSON.stringify(g)} is not supported (meshd runs no gateways): this VirtualService applies to sidecars ("mesh") only`);
    });
  }
  const rawHosts = strings(c, spec, 'hosts', 'spec') ?? [];
  const isDelegate = rawHosts.length === 0;
  if (isDelegate) {
    if (gateways.length > 0) c.error('spec.gateways', 'a delegate VirtualService (one without hosts) must not set gateways');
    for (const k of ['tcp', 'tls']) if (Array.isArray(spec[k]) && (spec[k] as unknown[]).length > 0) c.error(join('spec', k), `a delegate VirtualService (one without hosts) must not have ${k} routes`);
  }
  const hosts: string[] = [];
  rawHosts.forEach((h, i) => {
    const field = `spec.hosts[${i}]`;
    const p = h === '*' && forMesh ? '"*" is not allowed for mesh traffic (name the hosts, or "*.<domain>")' : hostProblem(h, { allowStar: true, allowIp: true });
    if (p) { c.error(field, p); return; }
    const r = resolveHost(h, ns, opts.domainSuffix);
    const dup = hosts.find((x) => hostsOverlap(x, r));
    if (dup !== undefined) { c.error(field, `${JSON.stringify(h)} duplicates ${JSON.stringify(dup)} in this VirtualService`); return; }
    hosts.push(r);
  });
  const sniScope = [...new Set([...rawHosts.map((h) => h.toLowerCase()), ...hosts])];
  const http: HttpRule[] = [];
  for (const { item, path } of records(c, spec, 'http', 'spec')) {
    const r = httpRule(c, item, path, scope, forMesh, isDelegate);
    if (r) http.push(r);
  }
  const tcp = l4Rules<L4Match, TcpRule>(c, spec, 'tcp', scope,
    (m, p) => l4Match(c, m as Raw, p, forMesh), (ms, d) => ({ matches: ms, destinations: d }));
  const tls = l4Rules<TlsMatch, TlsRule>(c, spec, 'tls', scope,
    (m, p) => tlsMatch(c, m, p, forMesh, sniScope), (ms, d) => ({ matches: ms, destinations: d }));
  const counts = ['http', 'tcp', 'tls'].map((k) => (Array.isArray(spec[k]) ? (spec[k] as unknown[]).length : 0));
  if (counts.every((n) => n === 0)) c.error('spec', 'must have http, tcp or tls routes');
  const exp = exportTo(c, spec, ns, false);
  if (c.hasErrors || !meta) return reject(c);
  if (!forMesh) {
    c.warn('spec.gateways', `bound only to gateways (${gateways.join(', ')}), not "mesh": meshd runs no gateways, so this VirtualService is not applied to sidecars`);
    return { ok: true, value: null, warnings: c.warnings };
  }
  const value: RouteSet = { meta, origin: 'VirtualService', hosts: [...hosts].sort(), exportTo: exp, http, tcp, tls };
  return finish(c, value);
}

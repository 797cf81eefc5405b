/**
 * What HTTPRoute and GRPCRoute share for the mesh (GAMMA): parentRefs naming Services, weighted
 * backendRefs, header modifiers, mirrors, timeouts and retries, and the precedence order of rules.
 *
 * A route in its parent Service's namespace is a producer route, exported to every namespace;
 * a route in another namespace is a consumer route, seen only by clients in its own namespace.
 */
import type { Destination, HeaderEdits, HttpRule, MirrorPolicy, RetryPolicy, RouteSet, WeightedDestination } from '../../model/traffic.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import type { ParseOptions } from '../service.js';
import { type Checker, isDnsLabel, isRecord, join } from '../fields.js';
import { finish, openObject, reject } from './object.js';
import { gatewayDuration } from './durations.js';
import { int, type Raw, record, records, str, strictKeys, strings, unsupported } from './read.js';
import { headerEditNameProblem, headerValueProblem } from './string-match.js';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** What the route's parents give the route set: hosts, ports and visibility. */
export interface Parents {
  readonly hosts: string[];
  readonly ports?: number[];
  readonly exportTo: string[];
}

/** Reads parentRefs: Service parents are kept, Gateway parents reported unsupported, others rejected. */
export function parentRefs(c: Checker, spec: Raw, ns: string, domainSuffix: string): Parents | undefined {
  const list = records(c, spec, 'parentRefs', 'spec');
  const hosts = new Set<string>();
  const ports = new Set<number>();
  let allPorts = false;
  const namespaces = new Set<string>();
  for (const { item, path } of list) {
    strictKeys(c, item, ['group', 'kind', 'namespace', 'name', 'sectionName', 'port'], path);
    const group = str(c, item, 'group', path) ?? (item.group === '' ? '' : GATEWAY_GROUP);
    const kind = str(c, item, 'kind', path) ?? 'Gateway';
    const name = str(c, item, 'name', path, true);
    const pns = str(c, item, 'namespace', path) ?? ns;
    const port = c.port(item.port, join(path, 'port'));
    if (!isDnsLabel(pns)) c.error(join(path, 'namespace'), `${JSON.stringify(pns)} is not a namespace name`);
    if (kind === 'Gateway' && group === GATEWAY_GROUP) {
      c.warn(path, `Gateway parent ${pns}/${name ?? ''} is not supported by meshd (it runs no gateways); ignored`);
      continue;
    }
    if (kind !== 'Service' || (group !== '' && group !== 'core')) {
      c.error(join(path, 'kind'), `${group ? `${group}/` : ''}${kind} is not a parent meshd supports (use group "" and kind Service for mesh routes)`);
      continue;
    }
    if (name !== undefined && !isDnsLabel(name)) c.error(join(path, 'name'), `${JSON.stringify(name)} is not a Service name`);
    unsupported(c, item, ['sectionName'], path, 'use port to select a Service port');
    if (name === undefined) continue;
    hosts.add(`${name}.${pns}.svc.${domainSuffix}`);
    namespaces.add(pns);
    if (port === undefined) allPorts = true;
    else ports.add(port);
  }
  if (list.length === 0) c.warn('spec.parentRefs', 'no parentRefs: the route is attached to nothing and not applied');
  if (hosts.size === 0) return undefined;
  const producer = [...namespaces].every((n) => n === ns);
  if (!producer && namespaces.has(ns)) c.warn('spec.parentRefs', `parents in namespace ${ns} and in other namespaces: the whole route is treated as a consumer route, seen only from namespace ${ns}`);
  return {
    hosts: [...hosts].sort(),
    ...(allPorts ? {} : { ports: [...ports].sort((a, b) => a - b) }),
    exportTo: producer ? ['*'] : [ns],
  };
}

/** Parent kinds that belong to gateway controllers (Gateway API Gateways and listener sets). */
const GATEWAY_PARENT_KINDS = ['Gateway', 'ListenerSet', 'XListenerSet'];

/** Whether a raw parentRef names a mesh parent (a Service, or any kind that is not a gateway's). */
export function isMeshParent(p: unknown): boolean {
  return isRecord(p) && typeof p.kind === 'string' && !GATEWAY_PARENT_KINDS.includes(p.kind);
}

/**
 * Whether a raw Gateway API route names a mesh parent (so meshd owns it and validates it); a
 * route attached only to Gateways belongs to a gateway controller.
 */
export function hasMeshParent(raw: unknown): boolean {
  const spec = isRecord(raw) && isRecord(raw.spec) ? raw.spec : undefined;
  return (spec && Array.isArray(spec.parentRefs) ? spec.parentRefs : []).some(isMeshParent);
}

/** A `{name, value}` list (header modifier set/add); later duplicates are ignored, as the Gateway API says. */
function namedValues(c: Checker, o: Raw, key: string, at: string): [string, string][] {
  const out: [string, string][] = [];
  for (const { item, path } of records(c, o, key, at)) {
    strictKeys(c, item, ['name', 'value'], path);
    const name = str(c, item, 'name', path, true);
    const value = c.string(item, 'value', path);
    if (value === undefined) c.error(join(path, 'value'), 'is required');
    if (name === undefined || value === undefined) continue;
    const p = headerEditNameProblem(name) ?? headerValueProblem(value);
    if (p) { c.error(path, p); continue; }
    const lower = name.toLowerCase();
    if (out.some(([n]) => n === lower)) { c.warn(join(path, 'name'), `duplicate header ${JSON.stringify(name)}; ignored (the first entry wins)`); continue; }
    out.push([lower, value]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A Gateway API HTTPHeaderFilter (set, add, remove). */
export function headerModifier(c: Checker, f: Raw, at: string): HeaderEdits {
  strictKeys(c, f, ['set', 'add', 'remove'], at);
  const remove = (strings(c, f, 'remove', at) ?? []).map((n, i) => {
    const p = headerEditNameProblem(n);
    if (p) c.error(`${join(at, 'remove')}[${i}]`, p);
    return n.toLowerCase();
  });
  return { set: namedValues(c, f, 'set', at), add: namedValues(c, f, 'add', at), remove: [...new Set(remove)].sort() };
}

/** A backendRef's destination: a Service (port required) or an Istio `Hostname` (e.g. a ServiceEntry host). */
export function backendDestination(c: Checker, b: Raw, at: string, ns: string, domainSuffix: string): Destination | undefined {
  const group = str(c, b, 'group', at) ?? '';
  const kind = str(c, b, 'kind', at) ?? 'Service';
  const name = str(c, b, 'name', at, true);
  const bns = str(c, b, 'namespace', at);
  const port = c.port(b.port, join(at, 'port'));
  if (b.port === undefined) c.error(join(at, 'port'), 'is required');
  if (bns !== undefined && !isDnsLabel(bns)) c.error(join(at, 'namespace'), `${JSON.stringify(bns)} is not a namespace name`);
  if (bns !== undefined && bns !== ns) c.warn(join(at, 'namespace'), 'ReferenceGrants are not read by meshd: a backend in another namespace is allowed without one');
  if (name === undefined || port === undefined) return undefined;
  if (kind === 'Service' && (group === '' || group === 'core')) {
    if (!isDnsLabel(name)) { c.error(join(at, 'name'), `${JSON.stringify(name)} is not a Service name`); return undefined; }
    return { host: `${name}.${bns ?? ns}.svc.${domainSuffix}`, port };
  }
  if (kind === 'Hostname' && group === 'networking.istio.io') return { host: name.toLowerCase(), port };
  c.error(join(at, 'kind'), `${group ? `${group}/` : ''}${kind} is not a backend meshd supports (Service, or networking.istio.io Hostname)`);
  return undefined;
}

/** A RequestMirror filter: a backendRef and a percent or a fraction. */
export function mirrorFilter(c: Checker, f: Raw, at: string, ns: string, domainSuffix: string): MirrorPolicy | undefined {
  strictKeys(c, f, ['backendRef', 'percent', 'fraction'], at);
  const b = record(c, f, 'backendRef', at, true);
  if (b) strictKeys(c, b, ['group', 'kind', 'name', 'namespace', 'port'], join(at, 'backendRef'));
  const d = b ? backendDestination(c, b, join(at, 'backendRef'), ns, domainSuffix) : undefined;
  const pct = int(c, f, 'percent', at, 0, 100);
  const fr = record(c, f, 'fraction', at);
  let percent = pct;
  if (fr) {
    const fp = join(at, 'fraction');
    strictKeys(c, fr, ['numerator', 'denominator'], fp);
    const n = int(c, fr, 'numerator', fp, 0);
    const den = int(c, fr, 'denominator', fp, 1) ?? 100;
    if (fr.numerator === undefined) c.error(join(fp, 'numerator'), 'is required');
    if (n !== undefined && n > den) c.error(fp, 'numerator must not exceed denominator');
    else if (n !== undefined) percent = (100 * n) / den;
  }
  if (pct !== undefined && fr) c.error(at, 'set only one of percent and fraction');
  return d ? { destination: d, ...(percent !== undefined ? { percent } : {}) } : undefined;
}

/** Timeouts (`request` → the rule's timeout; `backendRequest` → per try when retrying, else the timeout) and `retry`. */
export function timeoutsAndRetry(c: Checker, rule: Raw, at: string): { timeoutMs?: number; retries?: RetryPolicy } {
  let retries: RetryPolicy | undefined;
  const r = record(c, rule, 'retry', at);
  if (r) {
    const rp = join(at, 'retry');
    strictKeys(c, r, ['attempts', 'backoff', 'codes'], rp);
    const attempts = int(c, r, 'attempts', rp, 0) ?? 2;
    const backoff = gatewayDuration(c, r, 'backoff', rp);
    const list = c.array(r, 'codes', rp) ?? [];
    const codes: number[] = [];
    list.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 400 || x > 599) c.error(`${join(rp, 'codes')}[${i}]`, 'must be an HTTP status code 400-599');
      else codes.push(x);
    });
    // The Gateway API asks to retry connection errors whenever a retry stanza is present.
    const on = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', ...(codes.length ? ['retriable-status-codes'] : [])];
    retries = attempts === 0 ? { attempts: 0 } : {
      attempts, retryOn: on.join(','), ...(codes.length ? { retriableStatusCodes: [...new Set(codes)].sort((a, b) => a - b) } : {}),
      ...(backoff !== undefined && backoff > 0 ? { backoffBaseMs: backoff } : {}),
    };
  }
  const t = record(c, rule, 'timeouts', at);
  let timeoutMs: number | undefined;
  if (t) {
    const tp = join(at, 'timeouts');
    strictKeys(c, t, ['request', 'backendRequest'], tp);
    const request = gatewayDuration(c, t, 'request', tp);
    const backend = gatewayDuration(c, t, 'backendRequest', tp);
    if (request !== undefined && backend !== undefined && request !== 0 && backend > request) c.error(join(tp, 'backendRequest'), 'must not be longer than the request timeout');
    timeoutMs = request;
    if (backend !== undefined && backend !== 0) {
      if (retries && retries.attempts > 0) retries = { ...retries, perTryTimeoutMs: backend };
      else if (request === undefined) timeoutMs = backend;
    }
  }
  return { ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(retries ? { retries } : {}) };
}

/** Weighted backendRefs (weight default 1, 0-1000000); per-backend filters are parsed by `filters`. */
export function backendRefs(c: Checker, rule: Raw, at: string, ns: string, domainSuffix: string,
  filters: (f: Raw, path: string) => WeightedDestination['headers'] | undefined): { destinations: WeightedDestination[]; total: number } {
  const destinations: WeightedDestination[] = [];
  let total = 0;
  for (const { item, path } of records(c, rule, 'backendRefs', at)) {
    strictKeys(c, item, ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters'], path);
    const weight = int(c, item, 'weight', path, 0, 1000000) ?? 1;
    const d = backendDestination(c, item, path, ns, domainSuffix);
    const headers = filters(item, path);
    total += weight;
    if (d) destinations.push({ destination: d, weight, ...(headers ? { headers } : {}) });
  }
  return { destinations, total };
}

type Match = HttpRule['matches'][number];

function rank(m: Match | undefined): [number, number, number, number, number] {
  if (!m) return [-2, 0, 0, 0, 0];
  const u = m.uri;
  const r = !u ? -1 : u.type === 'exact' ? 3 : u.type === 'prefix' ? 2 : 1;
  return [r, u ? u.value.length : 0, m.method ? 1 : 0, m.headers.length, m.queryParams.length];
}

/**
 * Orders one route's rules (one match each) by Gateway API precedence: exact path, then the
 * longest prefix, a method, more header matches, more query matches; rules without matches
 * last; ties keep the route's order. Translation merges several routes for one host by the
 * same key, oldest route first on ties.
 */
export function sortByPrecedence(rules: HttpRule[]): HttpRule[] {
  const keyed = rules.map((r, i) => ({ r, i, k: rank(r.matches[0]) }));
  keyed.sort((a, b) => {
    for (let j = 0; j < 5; j++) if (a.k[j] !== b.k[j]) return b.k[j]! - a.k[j]!;
    return a.i - b.i;
  });
  return keyed.map((x) => x.r);
}

/** Reads a route's rules into model rules (one per match). */
export type RulesParser = (c: Checker, spec: Raw, ns: string, domainSuffix: string, routeName: string) => HttpRule[];

/**
 * Validates a GAMMA route of `kind` (spec: parentRefs, hostnames, rules) into a RouteSet whose
 * rules are in precedence order; `null` when no parent is a Service (nothing for the mesh). A
 * route attached only to Gateways is not validated beyond its parentRefs.
 */
export function parseGammaRoute(raw: unknown, ctx: ParseContext, opts: ParseOptions, kind: 'HTTPRoute' | 'GRPCRoute', rules: RulesParser): ParseResult<RouteSet | null> {
  const { c, meta, spec } = openObject(raw, ctx, kind);
  if (!spec) return reject(c);
  const ns = meta?.namespace ?? ctx.defaultNamespace;
  if (!hasMeshParent(raw)) {
    // Attached only to Gateways (or to nothing): a gateway controller's route, whose rules
    // meshd does not judge (its webhook does not refuse it either).
    parentRefs(c, spec, ns, opts.domainSuffix);
    if (c.hasErrors || !meta) return reject(c);
    return { ok: true, value: null, warnings: c.warnings };
  }
  strictKeys(c, spec, ['parentRefs', 'hostnames', 'rules', 'useDefaultGateways'], 'spec');
  const parents = parentRefs(c, spec, ns, opts.domainSuffix);
  if (parents) unsupported(c, spec, ['hostnames'], 'spec', 'a mesh route applies to its parent Services\' own hostnames');
  unsupported(c, spec, ['useDefaultGateways'], 'spec');
  const http = rules(c, spec, ns, opts.domainSuffix, meta?.name ?? '');
  if (c.hasErrors || !meta) return reject(c);
  if (!parents) return { ok: true, value: null, warnings: c.warnings };
  const value: RouteSet = {
    meta, origin: kind, hosts: parents.hosts, ...(parents.ports ? { ports: parents.ports } : {}), exportTo: parents.exportTo,
    http: sortByPrecedence(http), tcp: [], tls: [],
  };
  return finish(c, value);
}

/**
 * Istio match conditions: HTTPMatchRequest, L4MatchAttributes and TLSMatchAttributes. A match
 * whose `gateways` leaves out `mesh` is for gateways only and is dropped for sidecars.
 */
import { isIP } from 'node:net';
import type { HeaderMatch, HttpMatch, L4Match, QueryParamMatch, TlsMatch } from '../../model/traffic.js';
import type { Labels } from '../../model/types.js';
import { type Checker, isDnsLabel, isRecord, join } from '../fields.js';
import { hostProblem, hostSubsetOf } from './hosts.js';
import { bool, labels, type Raw, str, strictKeys, strings, unsupported } from './read.js';
import { headerMatchNameProblem, istioStringMatch, valueMatchOf } from './string-match.js';

/** Whether a `gateways` list (absent or empty: the VirtualService's) includes the sidecars. */
export function appliesToMesh(gateways: readonly string[] | undefined, fallback: boolean): boolean {
  if (!gateways || gateways.length === 0) return fallback;
  return gateways.includes('mesh');
}

/**
 * Names the gateways of a match's `gateways` list that meshd does not serve (it runs none): a
 * warning, so a match bound to gateways is never dropped in silence.
 */
export function gatewayMatchWarning(c: Checker, gateways: readonly string[] | undefined, at: string, vsForMesh: boolean): void {
  const others = (gateways ?? []).filter((g) => g !== 'mesh');
  if (others.length === 0 || !vsForMesh) return; // a VirtualService not for mesh is dropped whole, with its own warning
  c.warn(join(at, 'gateways'), appliesToMesh(gateways, vsForMesh)
    ? `gateway${others.length > 1 ? 's' : ''} ${others.join(', ')} not supported (meshd runs no gateways): this match applies to sidecars ("mesh") only`
    : `for gateway${others.length > 1 ? 's' : ''} ${others.join(', ')} only, not "mesh": meshd runs no gateways, so this match is dropped`);
}

function sourceConditions(c: Checker, m: Raw, at: string): { sourceLabels?: Labels; sourceNamespace?: string } {
  const sl = labels(c, m, 'sourceLabels', at);
  const sn = str(c, m, 'sourceNamespace', at);
  if (sn !== undefined && !isDnsLabel(sn)) c.error(join(at, 'sourceNamespace'), `${JSON.stringify(sn)} is not a namespace name`);
  return { ...(sl && Object.keys(sl).length > 0 ? { sourceLabels: sl } : {}), ...(sn !== undefined ? { sourceNamespace: sn } : {}) };
}

function headerMap(c: Checker, m: Raw, key: 'headers' | 'withoutHeaders', at: string): HeaderMatch[] {
  const h = c.record(m, key, at);
  if (!h) return [];
  const out: HeaderMatch[] = [];
  for (const name of Object.keys(h).sort()) {
    const field = join(join(at, key), name);
    const p = headerMatchNameProblem(name);
    if (p) { c.error(field, p); continue; }
    const match = valueMatchOf(c, h[name], field, key === 'withoutHeaders');
    if (match) out.push({ name: name.toLowerCase(), match, invert: key === 'withoutHeaders' });
  }
  return out;
}

function queryParams(c: Checker, m: Raw, at: string): QueryParamMatch[] {
  const q = c.record(m, 'queryParams', at);
  if (!q) return [];
  const out: QueryParamMatch[] = [];
  for (const name of Object.keys(q).sort()) {
    const match = valueMatchOf(c, q[name], join(join(at, 'queryParams'), name), false);
    if (match) out.push({ name, match });
  }
  return out;
}

/**
 * An HTTPMatchRequest, or `null` when its `gateways` exclude the mesh (the match is for
 * gateways only). Header names are lowercased; an empty StringMatch on a header means present.
 */
export function httpMatch(c: Checker, m: Raw, at: string, vsForMesh: boolean): HttpMatch | null | undefined {
  strictKeys(c, m, ['name', 'uri', 'scheme', 'method', 'authority', 'headers', 'port', 'sourceLabels', 'gateways', 'queryParams',
    'ignoreUriCase', 'withoutHeaders', 'sourceNamespace', 'statPrefix'], at);
  const gateways = strings(c, m, 'gateways', at);
  const name = str(c, m, 'name', at);
  const uri = istioStringMatch(c, m, 'uri', at, { allowEmptyPrefix: true });
  const scheme = istioStringMatch(c, m, 'scheme', at);
  const method = istioStringMatch(c, m, 'method', at);
  const authority = istioStringMatch(c, m, 'authority', at);
  const headers = [...headerMap(c, m, 'headers', at), ...headerMap(c, m, 'withoutHeaders', at)];
  const qp = queryParams(c, m, at);
  const port = m.port === 0 ? undefined : c.port(m.port, join(at, 'port'));
  const ignoreUriCase = bool(c, m, 'ignoreUriCase', at) ?? false;
  const source = sourceConditions(c, m, at);
  unsupported(c, m, ['statPrefix'], at);
  gatewayMatchWarning(c, gateways, at, vsForMesh);
  if (!appliesToMesh(gateways, vsForMesh)) return null;
  const def = <T>(k: string, v: T | 'empty' | undefined): Record<string, T> => (v === undefined || v === 'empty' ? {} : { [k]: v });
  return {
    ...(name !== undefined ? { name } : {}),
    ...def('uri', uri), ignoreUriCase, ...def('scheme', scheme), ...def('method', method), ...def('authority', authority),
    headers, queryParams: qp,
    ...(port !== undefined ? { port } : {}),
    ...source,
  };
}

function subnets(c: Checker, m: Raw, at: string): string[] {
  const list = strings(c, m, 'destinationSubnets', at) ?? [];
  list.forEach((s, i) => {
    const [addr, len, more] = s.split('/');
    const fam = isIP(addr ?? '');
    const ok = fam !== 0 && more === undefined && (len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= (fam === 4 ? 32 : 128)));
    if (!ok) c.error(`${join(at, 'destinationSubnets')}[${i}]`, `${JSON.stringify(s)} is not an IP address or CIDR range`);
  });
  return [...list].sort();
}

/** An L4MatchAttributes (TCP route), or `null` when it is for gateways only. */
export function l4Match(c: Checker, m: Raw, at: string, vsForMesh: boolean): L4Match | null | undefined {
  strictKeys(c, m, ['destinationSubnets', 'port', 'sourceLabels', 'gateways', 'sourceNamespace', 'sourceSubnet'], at);
  const gateways = strings(c, m, 'gateways', at);
  const port = m.port === 0 ? undefined : c.port(m.port, join(at, 'port'));
  const destinationSubnets = subnets(c, m, at);
  const source = sourceConditions(c, m, at);
  unsupported(c, m, ['sourceSubnet'], at, 'it applies to gateways');
  gatewayMatchWarning(c, gateways, at, vsForMesh);
  if (!appliesToMesh(gateways, vsForMesh)) return null;
  return { ...(port !== undefined ? { port } : {}), destinationSubnets, ...source };
}

/**
 * A TLSMatchAttributes: at least one SNI host, each within the VirtualService's hosts
 * (as written or resolved), or `null` when it is for gateways only.
 */
export function tlsMatch(c: Checker, m: unknown, at: string, vsForMesh: boolean, vsHosts: readonly string[]): TlsMatch | null | undefined {
  if (!isRecord(m)) { c.error(at, 'must be a mapping'); return undefined; }
  strictKeys(c, m, ['sniHosts', 'destinationSubnets', 'port', 'sourceLabels', 'gateways', 'sourceNamespace'], at);
  const gateways = strings(c, m, 'gateways', at);
  const sni = strings(c, m, 'sniHosts', at) ?? [];
  if (sni.length === 0) c.error(join(at, 'sniHosts'), 'must list at least one SNI host');
  const sniHosts: string[] = [];
  sni.forEach((h, i) => {
    const field = `${join(at, 'sniHosts')}[${i}]`;
    const p = hostProblem(h, { allowStar: true });
    if (p) { c.error(field, p); return; }
    const lower = h.toLowerCase();
    if (!vsHosts.some((v) => hostSubsetOf(lower, v))) c.error(field, `${JSON.stringify(h)} is not within the VirtualService's hosts (${vsHosts.join(', ')})`);
    sniHosts.push(lower);
  });
  const port = m.port === 0 ? undefined : c.port(m.port, join(at, 'port'));
  const destinationSubnets = subnets(c, m, at);
  const source = sourceConditions(c, m, at);
  gatewayMatchWarning(c, gateways, at, vsForMesh);
  if (!appliesToMesh(gateways, vsForMesh)) return null;
  return { sniHosts: [...new Set(sniHosts)].sort(), ...(port !== undefined ? { port } : {}), destinationSubnets, ...source };
}

/**
 * `networking.istio.io` ServiceEntry → model ServiceEntry, with the rules Istio enforces on
 * resolution, endpoints, addresses and ports. Hosts are kept as written (lowercased), never
 * expanded in the namespace.
 */
import { isIP } from 'node:net';
import type { ServiceEntry, ServiceEntryEndpoint, ServiceEntryPort } from '../../model/traffic.js';
import type { PortProtocol } from '../../model/types.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import { type Checker, join } from '../fields.js';
import { selectProtocol } from '../protocol.js';
import { hostProblem } from './hosts.js';
import { locality } from './locality.js';
import { finish, openObject, reject } from './object.js';
import { exportTo, int, labels, oneOf, port, type Raw, records, selector, str, strictKeys, strings } from './read.js';

const PROTOCOLS = ['http', 'https', 'grpc', 'grpc-web', 'http2', 'mongo', 'mysql', 'redis', 'tcp', 'tls', 'udp'];
const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

function ports(c: Checker, spec: Raw): ServiceEntryPort[] {
  const out: ServiceEntryPort[] = [];
  for (const { item, path } of records(c, spec, 'ports', 'spec')) {
    strictKeys(c, item, ['number', 'name', 'protocol', 'targetPort'], path);
    const number = port(c, item, 'number', path);
    if (item.number === undefined) c.error(join(path, 'number'), 'is required');
    const name = str(c, item, 'name', path, true);
    if (name !== undefined && (name.length > 63 || !PORT_NAME.test(name))) c.error(join(path, 'name'), `${JSON.stringify(name)} is not a valid port name`);
    const protocol = str(c, item, 'protocol', path);
    if (protocol !== undefined && !PROTOCOLS.includes(protocol.toLowerCase())) c.error(join(path, 'protocol'), `unknown protocol ${JSON.stringify(protocol)} (${PROTOCOLS.map((p) => p.toUpperCase()).join(', ')})`);
    const targetPort = port(c, item, 'targetPort', path);
    if (name !== undefined && out.some((p) => p.name === name)) c.error(join(path, 'name'), `duplicate port name ${JSON.stringify(name)}`);
    if (number !== undefined && out.some((p) => p.number === number)) c.error(join(path, 'number'), `duplicate port ${number}`);
    if (number === undefined || name === undefined) continue;
    const proto: PortProtocol = selectProtocol(name, protocol, undefined);
    out.push({ number, name, protocol: proto, ...(targetPort !== undefined ? { targetPort } : {}) });
  }
  return out.sort((a, b) => a.number - b.number);
}

type Resolution = ServiceEntry['resolution'];

function endpoints(c: Checker, spec: Raw, resolution: Resolution | undefined, portNames: ReadonlySet<string>): ServiceEntryEndpoint[] {
  const out: ServiceEntryEndpoint[] = [];
  for (const { item, path } of records(c, spec, 'endpoints', 'spec')) {
    strictKeys(c, item, ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'], path);
    const address = str(c, item, 'address', path);
    const network = str(c, item, 'network', path);
    const pm = c.record(item, 'ports', path) ?? {};
    const eps: Record<string, number> = {};
    for (const k of Object.keys(pm).sort()) {
      const p = c.port(pm[k], join(join(path, 'ports'), k));
      if (!portNames.has(k)) c.error(join(join(path, 'ports'), k), `${JSON.stringify(k)} is not a port name of this ServiceEntry`);
      else if (p !== undefined) eps[k] = p;
    }
    const l = labels(c, item, 'labels', path) ?? {};
    const loc = locality(c, item, path);
    const weight = int(c, item, 'weight', path, 0, 4294967295);
    const sa = str(c, item, 'serviceAccount', path);
    if (address === undefined) {
      if (network === undefined) c.error(join(path, 'address'), 'is required');
      else c.warn(path, 'an endpoint reached only through its network\'s gateway (no address) is not supported by meshd; ignored');
      continue;
    }
    if (address.startsWith('unix://')) { c.warn(join(path, 'address'), 'unix domain socket endpoints are not supported by meshd; ignored'); continue; }
    if (isIP(address) === 0) {
      if (resolution !== 'DNS' && resolution !== 'DNS_ROUND_ROBIN') { c.error(join(path, 'address'), `${JSON.stringify(address)} must be an IP address for resolution ${resolution ?? 'NONE'}`); continue; }
      const p = hostProblem(address, { allowStar: false });
      if (p || address.includes('*')) { c.error(join(path, 'address'), `${JSON.stringify(address)} is not an IP address or a DNS name`); continue; }
    }
    out.push({
      address: address.toLowerCase(), ports: eps, labels: l,
      ...(loc ? { locality: loc } : {}), ...(weight !== undefined ? { weight } : {}),
      ...(network !== undefined ? { network } : {}), ...(sa !== undefined ? { serviceAccount: sa } : {}),
    });
  }
  return out;
}

function isCidrOrIp(s: string): boolean {
  const [addr, len, more] = s.split('/');
  const fam = isIP(addr ?? '');
  return fam !== 0 && more === undefined && (len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= (fam === 4 ? 32 : 128)));
}

/** Validates a ServiceEntry (see the module comment). */
export function parseServiceEntry(raw: unknown, ctx: ParseContext): ParseResult<ServiceEntry> {
  const { c, meta, spec } = openObject(raw, ctx, 'ServiceEntry');
  if (!spec) return reject(c);
  strictKeys(c, spec, ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo', 'subjectAltNames'], 'spec');
  const ns = meta?.namespace ?? ctx.defaultNamespace;
  const resolution = oneOf(c, spec, 'resolution', 'spec', ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']);
  if (resolution === 'DYNAMIC_DNS') c.error('spec.resolution', 'DYNAMIC_DNS is not supported by meshd (use DNS with named hosts)');
  const res: Resolution | undefined = resolution === 'DYNAMIC_DNS' ? undefined : resolution ?? (spec.resolution === undefined ? 'NONE' : undefined);
  const location = oneOf(c, spec, 'location', 'spec', ['MESH_EXTERNAL', 'MESH_INTERNAL']) ?? 'MESH_EXTERNAL';
  const rawHosts = strings(c, spec, 'hosts', 'spec') ?? [];
  if (rawHosts.length === 0) c.error('spec.hosts', 'must list at least one host');
  const hosts = new Set<string>();
  rawHosts.forEach((h, i) => {
    const p = h === '*' ? '"*" is not allowed in a ServiceEntry' : hostProblem(h, { allowStar: false });
    if (p) c.error(`spec.hosts[${i}]`, p);
    else hosts.add(h.toLowerCase());
  });
  const addresses = strings(c, spec, 'addresses', 'spec') ?? [];
  addresses.forEach((a, i) => { if (!isCidrOrIp(a)) c.error(`spec.addresses[${i}]`, `${JSON.stringify(a)} is not an IP address or CIDR range`); });
  if (addresses.some((a) => a.includes('/')) && res !== 'NONE' && res !== 'STATIC') c.error('spec.addresses', `CIDR ranges are allowed only with resolution NONE or STATIC (this one is ${res ?? resolution})`);
  const ps = ports(c, spec);
  const eps = endpoints(c, spec, res, new Set(ps.map((p) => p.name)));
  const hasEndpoints = spec.endpoints !== undefined && spec.endpoints !== null;
  const workloadSelector = selector(c, spec, 'workloadSelector', 'labels');
  if (hasEndpoints && spec.workloadSelector !== undefined) c.error('spec', 'set only one of endpoints and workloadSelector');
  if (res === 'NONE' && hasEndpoints) c.error('spec.endpoints', 'must not be set with resolution NONE (the original destination is used)');
  if (res === 'NONE' && workloadSelector) c.warn('spec.workloadSelector', 'has no effect with resolution NONE');
  if (res === 'STATIC' && !hasEndpoints && spec.workloadSelector === undefined) c.error('spec', 'resolution STATIC needs endpoints or a workloadSelector');
  if ((res === 'DNS' || res === 'DNS_ROUND_ROBIN') && !hasEndpoints) {
    const wild = [...hosts].find((h) => h.startsWith('*'));
    if (wild) c.error('spec.hosts', `${JSON.stringify(wild)}: a wildcard host cannot be resolved with resolution ${res} when no endpoints are given`);
  }
  if (res === 'DNS_ROUND_ROBIN' && eps.length > 1) c.error('spec.endpoints', 'resolution DNS_ROUND_ROBIN allows at most one endpoint');
  if (res !== 'NONE' && hosts.size > 1) {
    const p = ps.find((x) => x.protocol === 'TCP' || x.protocol === 'UNSUPPORTED');
    if (p) c.error('spec.hosts', `several hosts with ${p.protocol === 'TCP' ? 'a TCP' : 'an unsupported'} port (${p.number}) cannot be told apart; use one host per ServiceEntry or resolution NONE`);
  }
  if (addresses.length === 0 && ps.some((p) => p.protocol === 'TCP')) c.warn('spec.addresses', 'TCP ports without addresses can only be reached by the port number (the connection has no host name)');
  for (const p of ps) if (p.protocol === 'UNSUPPORTED') c.warn('spec.ports', `port ${p.number} (${p.name}) is UDP: not supported by meshd; ignored`);
  const sans = strings(c, spec, 'subjectAltNames', 'spec') ?? [];
  const exp = exportTo(c, spec, ns, true);
  if (c.hasErrors || !meta || res === undefined) return reject(c);
  const value: ServiceEntry = {
    meta, hosts: [...hosts].sort(), addresses: [...new Set(addresses)].sort(), ports: ps, location, resolution: res,
    endpoints: eps, ...(workloadSelector ? { workloadSelector } : {}), exportTo: exp, subjectAltNames: [...new Set(sans)].sort(),
  };
  return finish(c, value);
}

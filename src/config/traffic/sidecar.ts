/**
 * `networking.istio.io` Sidecar → SidecarScope: what a proxy sees (`egress`) and what it does
 * with hosts outside the registry (`outboundTrafficPolicy`). A Sidecar without egress gets
 * Istio's default, one listener for `*\/*` (everything), so the model never has to guess.
 */
import type { EgressHost, EgressListener, OutboundTrafficMode, SidecarScope } from '../../model/traffic.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import { type Checker, isDnsLabel, join } from '../fields.js';
import { isIP } from 'node:net';
import { selectProtocol } from '../protocol.js';
import { hostProblem } from './hosts.js';
import { finish, openObject, reject } from './object.js';
import { oneOf, type Raw, record, records, selector, str, strictKeys, strings, unsupported } from './read.js';

const PROTOCOLS = ['http', 'https', 'grpc', 'grpc-web', 'http2', 'mongo', 'mysql', 'redis', 'tcp', 'tls', 'udp'];

/** One `namespace/host` egress entry; undefined (with an error or a warning) when it cannot be used. */
function egressHost(c: Checker, h: string, at: string, ns: string): EgressHost | undefined {
  const slash = h.indexOf('/');
  if (slash < 0) { c.error(at, `${JSON.stringify(h)} must have the form <namespace>/<host> (e.g. "./*", "istio-system/*", "*/reviews.prod.svc.cluster.local")`); return undefined; }
  const n = h.slice(0, slash);
  const host = h.slice(slash + 1).toLowerCase();
  if (n === '' || host === '') { c.error(at, `${JSON.stringify(h)}: the namespace and the host must not be empty`); return undefined; }
  if (n.startsWith('~') && n !== '~') { c.warn(at, `excluding a namespace (${JSON.stringify(n)}) is not supported by meshd; entry ignored`); return undefined; }
  if (n !== '*' && n !== '.' && n !== '~' && !isDnsLabel(n)) { c.error(at, `${JSON.stringify(n)} is not a namespace (".", "*", "~" or a name)`); return undefined; }
  if (host !== '*' && !host.includes('.')) { c.error(at, `${JSON.stringify(host)}: short names are not allowed here; write the FQDN (e.g. ${JSON.stringify(`${host}.${n === '.' || n === '*' || n === '~' ? ns : n}.svc.cluster.local`)})`); return undefined; }
  const p = hostProblem(host, { allowStar: true });
  if (p) { c.error(at, p); return undefined; }
  return { namespace: n === '.' ? ns : n, host };
}

function egress(c: Checker, e: Raw, at: string, ns: string): EgressListener | undefined {
  strictKeys(c, e, ['port', 'bind', 'captureMode', 'hosts'], at);
  let port: EgressListener['port'];
  const p = record(c, e, 'port', at);
  if (p) {
    const pp = join(at, 'port');
    strictKeys(c, p, ['number', 'protocol', 'name', 'targetPort'], pp);
    const number = c.port(p.number, join(pp, 'number'));
    if (p.number === undefined) c.error(join(pp, 'number'), 'is required (unix domain socket listeners are not supported by meshd)');
    const protocol = str(c, p, 'protocol', pp);
    if (protocol !== undefined && !PROTOCOLS.includes(protocol.toLowerCase())) c.error(join(pp, 'protocol'), `unknown protocol ${JSON.stringify(protocol)}`);
    const name = str(c, p, 'name', pp) ?? '';
    if (p.targetPort !== undefined) c.warn(join(pp, 'targetPort'), 'has no effect on a Sidecar; ignored');
    if (number !== undefined) port = { number, protocol: selectProtocol(name, protocol, undefined), name };
  }
  const bind = str(c, e, 'bind', at);
  if (bind !== undefined && isIP(bind) === 0) c.error(join(at, 'bind'), `${JSON.stringify(bind)} must be an IP address (unix domain sockets are not supported by meshd)`);
  const captureMode = oneOf(c, e, 'captureMode', at, ['DEFAULT', 'IPTABLES', 'NONE']);
  const list = strings(c, e, 'hosts', at) ?? [];
  if (list.length === 0) c.error(join(at, 'hosts'), 'must list at least one host');
  const hosts: EgressHost[] = [];
  list.forEach((h, i) => {
    const v = egressHost(c, h, `${join(at, 'hosts')}[${i}]`, ns);
    if (v && !hosts.some((x) => x.namespace === v.namespace && x.host === v.host)) hosts.push(v);
  });
  const sorted = hosts.sort((a, b) => (a.namespace + '/' + a.host < b.namespace + '/' + b.host ? -1 : 1));
  return { ...(port ? { port } : {}), ...(bind !== undefined ? { bind } : {}), ...(captureMode !== undefined ? { captureMode } : {}), hosts: sorted };
}

/** Validates a Sidecar (see the module comment); at most one egress listener without a port, and it comes last. */
export function parseSidecar(raw: unknown, ctx: ParseContext): ParseResult<SidecarScope> {
  const { c, meta, spec } = openObject(raw, ctx, 'Sidecar');
  if (!spec) return reject(c);
  strictKeys(c, spec, ['workloadSelector', 'ingress', 'egress', 'outboundTrafficPolicy', 'inboundConnectionPool'], 'spec');
  const ns = meta?.namespace ?? ctx.defaultNamespace;
  const workloadSelector = selector(c, spec, 'workloadSelector', 'labels');
  unsupported(c, spec, ['ingress', 'inboundConnectionPool'], 'spec', 'inbound listeners follow the workload\'s ports');
  const list = records(c, spec, 'egress', 'spec');
  const out: EgressListener[] = [];
  const ports = new Set<number>();
  list.forEach(({ item, path }, i) => {
    const e = egress(c, item, path, ns);
    if (!e) return;
    if (!e.port && i !== list.length - 1) c.error(path, 'the egress listener without a port must be the last one');
    if (e.port && ports.has(e.port.number)) c.error(join(join(path, 'port'), 'number'), `port ${e.port.number} has two egress listeners`);
    if (e.port) ports.add(e.port.number);
    out.push(e);
  });
  let mode: OutboundTrafficMode | undefined;
  const otp = record(c, spec, 'outboundTrafficPolicy', 'spec');
  if (otp) {
    strictKeys(c, otp, ['mode', 'egressProxy'], 'spec.outboundTrafficPolicy');
    mode = oneOf(c, otp, 'mode', 'spec.outboundTrafficPolicy', ['REGISTRY_ONLY', 'ALLOW_ANY']) ?? (otp.mode === undefined ? 'REGISTRY_ONLY' : undefined);
    unsupported(c, otp, ['egressProxy'], 'spec.outboundTrafficPolicy');
  }
  if (list.length === 0 && !otp && spec.ingress === undefined && spec.inboundConnectionPool === undefined) c.error('spec', 'is empty: set egress and/or outboundTrafficPolicy');
  if (c.hasErrors || !meta) return reject(c);
  const value: SidecarScope = {
    meta, ...(workloadSelector ? { workloadSelector } : {}),
    egress: out.length > 0 ? out : [{ hosts: [{ namespace: '*', host: '*' }] }],
    ...(mode ? { outboundTrafficPolicy: mode } : {}),
  };
  return finish(c, value);
}

/**
 * `meshctl authz check`: would this call to this workload be allowed? The CLI wires the
 * snapshot (file store or Kubernetes) and, when available, the translation; without a
 * translation the authz sketch listeners are used.
 *
 *   meshctl authz check <namespace>/<workload> --port <number|name> --from <spiffe://..|ns/sa|plaintext>
 *     [--method GET] [--path /x] [--host h] [--header k=v]... [--source-ip ip] [--sni name] [--jwt TOKEN | --claims JSON] [--json]
 *
 * Exit code: 0 ALLOW, 1 DENY or REJECT, 2 usage error.
 */
import type { MeshSnapshot, ProxyInfo, Workload } from '../model/types.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import type { ProxyResources } from '../xds/translate/types.js';
import { checkCall } from './evaluate.js';
import type { Call, CallDecision } from './evaluate.js';
import { authzSketchListeners } from './sketch-listener.js';

export interface AuthzCheckIo {
  readonly snapshot: MeshSnapshot;
  /** The real translation; listeners are taken from its result when given. */
  readonly translate?: (snapshot: MeshSnapshot, proxy: ProxyInfo) => ProxyResources;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const USAGE = 'usage: meshctl authz check <namespace>/<workload> --port <port> --from <spiffe-uri|namespace/serviceaccount|plaintext> [--method M] [--path P] [--host H] [--header k=v]... [--source-ip IP] [--sni S] [--jwt TOKEN | --claims JSON] [--json]';

interface Parsed { target: string; flags: Map<string, string[]>; json: boolean }

function parseArgs(args: readonly string[]): Parsed | string {
  const flags = new Map<string, string[]>();
  let target: string | undefined;
  let json = false;
  const valued = new Set(['port', 'from', 'method', 'path', 'host', 'header', 'source-ip', 'sni', 'namespace', 'n', 'jwt', 'claims']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json' || a === '-o=json') { json = true; continue; }
    if (a === '-o' && args[i + 1] === 'json') { json = true; i++; continue; }
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m) {
      const name = m[1]!;
      if (!valued.has(name)) return `unknown flag ${a}`;
      const v = m[2] ?? args[++i];
      if (v === undefined) return `flag ${a} needs a value`;
      flags.set(name, [...(flags.get(name) ?? []), v]);
      continue;
    }
    if (target !== undefined) return `unexpected argument ${a}`;
    target = a;
  }
  if (!target) return 'missing workload';
  return { target, flags, json };
}

function findWorkload(snapshot: MeshSnapshot, target: string, ns: string | undefined): Workload | string {
  const [a, b] = target.includes('/') ? target.split('/', 2) as [string, string] : [ns ?? 'default', target];
  const w = snapshot.workloads.find((x) => x.namespace === a && x.name === b);
  return w ?? `no workload ${a}/${b}`;
}

/** Turns `--from` into the call's peer: a SPIFFE URI, `ns/sa` (this mesh's trust domain), `td/ns/x/sa/y`, or plaintext. */
export function parseFrom(v: string, trustDomain: string): { from: Call['from'] } | { error: string } {
  if (v === 'plaintext') return { from: 'plaintext' };
  if (v.startsWith('spiffe://')) return { from: { principal: v } };
  if (/^[^/]+\/ns\/[^/]+\/sa\/[^/]+$/.test(v)) return { from: { principal: `spiffe://${v}` } };
  const m = /^([^/]+)\/([^/]+)$/.exec(v);
  if (m) return { from: { principal: `spiffe://${trustDomain}/ns/${m[1]}/sa/${m[2]}` } };
  return { error: `bad --from ${JSON.stringify(v)}: use a SPIFFE URI, namespace/serviceaccount or plaintext` };
}

function listenersFor(io: AuthzCheckIo, w: Workload): EnvoyObject[] {
  if (!io.translate) return authzSketchListeners(io.snapshot, w);
  const proxy: ProxyInfo = {
    id: `sidecar~${w.address}~${w.name}.${w.namespace}~${w.namespace}.svc.${io.snapshot.config.domainSuffix}`,
    ip: w.address, workloadName: w.name, namespace: w.namespace, labels: w.labels, interceptionMode: 'NONE', proxyless: false,
  };
  return io.translate(io.snapshot, proxy).listeners.flat();
}

/** Runs `meshctl authz check`; prints the decision (text, or JSON with `--json`) and returns the exit code. */
export function runAuthzCheck(args: readonly string[], io: AuthzCheckIo): number {
  const p = parseArgs(args);
  const fail = (msg: string): number => { io.err(`error: ${msg}`); io.err(USAGE); return 2; };
  if (typeof p === 'string') return fail(p);
  const one = (k: string): string | undefined => p.flags.get(k)?.at(-1);
  const w = findWorkload(io.snapshot, p.target, one('namespace') ?? one('n'));
  if (typeof w === 'string') return fail(w);
  const portRaw = one('port');
  if (!portRaw) return fail('--port is required');
  const port = /^\d+$/.test(portRaw) ? Number(portRaw) : w.ports[portRaw];
  if (port === undefined) return fail(`workload ${w.namespace}/${w.name} has no port named ${portRaw}`);
  const fromRaw = one('from');
  if (!fromRaw) return fail('--from is required');
  const parsedFrom = parseFrom(fromRaw, io.snapshot.config.trustDomain);
  if ('error' in parsedFrom) return fail(parsedFrom.error);
  const { from } = parsedFrom;
  const headers: Record<string, string> = {};
  for (const h of p.flags.get('header') ?? []) {
    const i = h.indexOf('=') >= 0 ? h.indexOf('=') : h.indexOf(':');
    if (i <= 0) return fail(`bad --header ${JSON.stringify(h)}: use name=value`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const opt = (k: string, f: string): Record<string, string> => (one(f) !== undefined ? { [k]: one(f)! } : {});
  let claims: Record<string, unknown> | undefined;
  if (one('claims') !== undefined) {
    try { claims = JSON.parse(one('claims')!) as Record<string, unknown>; } catch { return fail('--claims must be a JSON object of JWT claims'); }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return fail('--claims must be a JSON object of JWT claims');
  }
  const jwt = one('jwt') !== undefined ? { jwt: { token: one('jwt')! } } : claims ? { jwt: { claims } } : {};
  const call: Call = {
    from, port, headers,
    ...opt('method', 'method'), ...opt('path', 'path'), ...opt('host', 'host'), ...opt('sourceIp', 'source-ip'), ...opt('sni', 'sni'), ...jwt,
  };
  const d: CallDecision = checkCall(listenersFor(io, w), call);
  if (p.json) {
    io.out(JSON.stringify({ decision: d.decision, policy: d.policy ?? null, rule: d.rule ?? null, reason: d.reason, ...(d.rbacPolicy ? { rbacPolicy: d.rbacPolicy } : {}), ...(d.filterChain ? { filterChain: d.filterChain } : {}), ...(d.shadow ? { shadow: d.shadow } : {}), ...(d.extAuthz ? { extAuthz: d.extAuthz } : {}), ...(d.notes ? { notes: d.notes } : {}) }));
  } else {
    io.out(`${d.decision}: ${d.reason}`);
    if (d.policy) io.out(`  policy: ${d.policy} rule ${d.rule}`);
    for (const s of d.shadow ?? []) io.out(`  ${s.filter}: ${s.result}${s.rbacPolicy ? ` by ${s.rbacPolicy}` : ''}`);
    for (const c of d.extAuthz ?? []) io.out(`  ext_authz: sent to ${c} (its answer is not simulated)`);
    for (const n of d.notes ?? []) io.out(`  note: ${n}`);
  }
  return d.decision === 'ALLOW' ? 0 : 1;
}

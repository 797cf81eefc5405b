/**
 * Offline evaluation of a call against a workload's inbound Envoy listeners (JSON form): first
 * Envoy's listener and filter-chain selection and the TLS handshake, then the RBAC filters in
 * chain order. This is what `meshctl authz check` runs.
 */
import { isIP } from 'node:net';
import { Filter, TypeName } from '../xds/resource-types.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import { MESH_ALPN, VIRTUAL_INBOUND, VIRTUAL_INBOUND_PORT, VIRTUAL_OUTBOUND } from '../xds/names.js';
import { evaluateEngine, matchCidr, matchString } from './rbac-match.js';
import type { EngineResult, MatchContext } from './rbac-match.js';
import { ExtAuthzFilter } from './rbac-filters.js';
import { checkJwtAuthn, type CallJwt } from './request-authn-check.js';
import { JWT_PAYLOAD_METADATA_KEY } from './request-authn-filter.js';

type Obj = Readonly<Record<string, unknown>>;

/** A call to check: who calls (mTLS identity or plaintext), on which workload port, with what request. */
export interface Call {
  /** `{principal}`: mTLS with that SPIFFE URI; `{}`: TLS without a client certificate; `'plaintext'`. */
  readonly from: { readonly principal?: string } | 'plaintext';
  readonly port: number;
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly sourceIp?: string;
  readonly destinationIp?: string;
  readonly sni?: string;
  /** ALPN offered in the TLS ClientHello; default: the mesh ALPN, h2, http/1.1. */
  readonly alpn?: readonly string[];
  /** The request's JWT (a token, or claims taken as verified). */
  readonly jwt?: CallJwt;
}

export interface CallDecision {
  /** UNAUTHENTICATED: the request's JWT failed validation (401 from jwt_authn). */
  readonly decision: 'ALLOW' | 'DENY' | 'REJECT' | 'UNAUTHENTICATED';
  /** `namespace/name` of the deciding AuthorizationPolicy. */
  readonly policy?: string;
  readonly rule?: number;
  /** The RBAC policy key that decided (`ns[..]-policy[..]-rule[..]`). */
  readonly rbacPolicy?: string;
  readonly reason: string;
  readonly listener?: string;
  readonly filterChain?: string;
  /** Dry-run (shadow) and AUDIT results, for information. */
  readonly shadow?: readonly { readonly rbacPolicy?: string; readonly result: 'allowed' | 'denied' | 'logged'; readonly filter: string }[];
  /** ext_authz clusters the request would be sent to (their answer is assumed to be "allow"). */
  readonly extAuthz?: readonly string[];
  readonly notes?: readonly string[];
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}
function num(v: unknown): number | undefined {
  if (isObj(v)) return num(v.value);
  return v === undefined || v === null ? undefined : Number(v);
}
function typeOf(cfg: unknown): string {
  return isObj(cfg) && typeof cfg['@type'] === 'string' ? cfg['@type'].slice(cfg['@type'].lastIndexOf('/') + 1) : '';
}

function listenerPort(l: Obj): number | undefined {
  const sa = isObj(l.address) && isObj(l.address.socket_address) ? l.address.socket_address : undefined;
  return sa ? num(sa.port_value) : undefined;
}

/** Listener for a call: one bound to the call's port, else the virtual inbound listener. */
function pickListener(listeners: readonly Obj[], call: Call): { listener: Obj; virtual: boolean } | undefined {
  const inbound = listeners.filter((l) => l.traffic_direction !== 'OUTBOUND' && l.name !== VIRTUAL_OUTBOUND && l.bind_to_port !== false
    && !(isObj(l.bind_to_port) && l.bind_to_port.value === false));
  const bound = inbound.filter((l) => l.name !== VIRTUAL_INBOUND && listenerPort(l) === call.port)
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const ip = call.destinationIp;
  const exact = ip ? bound.find((l) => isObj(l.address) && isObj(l.address.socket_address) && l.address.socket_address.address === ip) : undefined;
  if (exact ?? bound[0]) return { listener: (exact ?? bound[0])!, virtual: false };
  const v = inbound.find((l) => l.name === VIRTUAL_INBOUND || listenerPort(l) === VIRTUAL_INBOUND_PORT);
  return v ? { listener: v, virtual: true } : undefined;
}

function hasListenerFilter(l: Obj, name: string, type: string): boolean {
  return arr(l.listener_filters).some((f) => f.name === name || typeOf(f.typed_config) === type);
}

interface ConnFacts { port: number; tls: boolean; alpn: readonly string[]; sni?: string; sourceIp?: string; destinationIp?: string }

/** Envoy's filter chain match: per criterion, the most specific matching chains win; unset criteria are the fallback. */
function pickChain(l: Obj, f: ConnFacts): Obj | undefined {
  type Crit = (m: Obj) => boolean | undefined; // undefined: criterion not set on this chain
  const crits: Crit[] = [
    (m) => (m.destination_port === undefined ? undefined : num(m.destination_port) === f.port),
    (m) => (!arr(m.prefix_ranges).length || !f.destinationIp ? undefined : arr(m.prefix_ranges).some((r) => matchCidr(r, f.destinationIp))),
    (m) => (!Array.isArray(m.server_names) || !m.server_names.length ? undefined : m.server_names.includes(f.sni ?? '')),
    (m) => (!m.transport_protocol ? undefined : m.transport_protocol === (f.tls ? 'tls' : 'raw_buffer')),
    (m) => (!Array.isArray(m.application_protocols) || !m.application_protocols.length ? undefined : m.application_protocols.some((p) => f.alpn.includes(String(p)))),
    (m) => (!arr(m.direct_source_prefix_ranges).length ? undefined : arr(m.direct_source_prefix_ranges).some((r) => matchCidr(r, f.sourceIp))),
    (m) => {
      const st = m.source_type;
      if (st === undefined || st === 'ANY') return undefined;
      const local = !!f.sourceIp && (f.sourceIp.startsWith('127.') || f.sourceIp === '::1');
      return st === 'SAME_IP_OR_LOOPBACK' ? local : !local;
    },
    (m) => (!arr(m.source_prefix_ranges).length ? undefined : arr(m.source_prefix_ranges).some((r) => matchCidr(r, f.sourceIp))),
  ];
  let cands = arr(l.filter_chains);
  for (const c of crits) {
    const specific = cands.filter((ch) => c(isObj(ch.filter_chain_match) ? ch.filter_chain_match : {}) === true);
    cands = specific.length ? specific : cands.filter((ch) => c(isObj(ch.filter_chain_match) ? ch.filter_chain_match : {}) === undefined);
    if (!cands.length) break;
  }
  if (cands[0]) return cands[0];
  return isObj(l.default_filter_chain) ? l.default_filter_chain : undefined;
}

function chainTls(ch: Obj): { tls: boolean; requireClientCert: boolean } {
  const ts = isObj(ch.transport_socket) ? ch.transport_socket : undefined;
  const cfg = ts && isObj(ts.typed_config) ? ts.typed_config : undefined;
  if (!cfg || typeOf(cfg) !== TypeName.DownstreamTlsContext) return { tls: false, requireClientCert: false };
  const r = cfg.require_client_certificate;
  return { tls: true, requireClientCert: r === true || (isObj(r) && r.value === true) };
}

/** Parses an RBAC key `[prefix]ns[<ns>]-policy[<name>]-rule[<i>][suffix]` into the Istio policy and rule. */
export function parseRbacKey(key: string): { policy: string; rule: number } | undefined {
  const m = /ns\[([^\]]*)\]-policy\[([^\]]*)\]-rule\[(\d+)\]/.exec(key);
  return m ? { policy: `${m[1]}/${m[2]}`, rule: Number(m[3]) } : undefined;
}

type RbacOutcome = { denied: false; engine?: EngineResult } | { denied: true; engine: EngineResult };

/**
 * Runs one RBAC filter config (HTTP or network) on a context: enforced `rules` decide, `shadow_rules`
 * only record; shadow matches are written to dynamic metadata as Envoy does.
 */
export function evaluateRbac(cfg: Obj, ctx: MatchContext, filterName: string, shadowOut: { rbacPolicy?: string; result: 'allowed' | 'denied' | 'logged'; filter: string }[]): RbacOutcome {
  if (isObj(cfg.shadow_rules)) {
    const s = evaluateEngine(cfg.shadow_rules, ctx);
    const prefix = typeof cfg.shadow_rules_stat_prefix === 'string' ? cfg.shadow_rules_stat_prefix : '';
    const md = { ...(ctx.metadata.get(filterName) ?? {}) };
    md[`${prefix}shadow_engine_result`] = s.allowed ? 'allowed' : 'denied';
    if (s.policy) md[`${prefix}shadow_effective_policy_id`] = s.policy;
    (ctx.metadata as Map<string, Record<string, unknown>>).set(filterName, md);
    shadowOut.push({ ...(s.policy ? { rbacPolicy: s.policy } : {}), result: s.allowed ? 'allowed' : 'denied', filter: `${filterName} shadow` });
  }
  if (!isObj(cfg.rules)) return { denied: false };
  const e = evaluateEngine(cfg.rules, ctx);
  if (e.action === 'LOG' && e.policy) shadowOut.push({ rbacPolicy: e.policy, result: 'logged', filter: filterName });
  return e.allowed ? { denied: false, engine: e } : { denied: true, engine: e };
}

function denyDecision(e: EngineResult, base: Partial<CallDecision>, where: string): CallDecision {
  const parsed = e.policy ? parseRbacKey(e.policy) : undefined;
  const reason = e.action === 'DENY'
    ? `denied by ${where} ${e.policy}`
    : `no ALLOW policy matched (${where}): with ALLOW policies present, anything not allowed is denied`;
  return { ...base, decision: 'DENY', ...(parsed ? { policy: parsed.policy, rule: parsed.rule } : {}), ...(e.policy ? { rbacPolicy: e.policy } : {}), reason };
}

function extAuthzEnabled(cfg: Obj, ctx: MatchContext): { enabled: boolean; cluster: string } {
  const gs = isObj(cfg.grpc_service) && isObj(cfg.grpc_service.envoy_grpc) ? String(cfg.grpc_service.envoy_grpc.cluster_name)
    : isObj(cfg.http_service) && isObj(cfg.http_service.server_uri) ? String(cfg.http_service.server_uri.cluster) : 'ext_authz';
  const m = cfg.filter_enabled_metadata;
  if (!isObj(m)) return { enabled: true, cluster: gs };
  let cur: unknown = ctx.metadata.get(String(m.filter));
  for (const seg of arr(m.path)) cur = isObj(cur) ? cur[String(seg.key)] : undefined;
  const vm = isObj(m.value) && isObj(m.value.string_match) ? m.value.string_match : undefined;
  return { enabled: typeof cur === 'string' && !!vm && matchString(vm, cur), cluster: gs };
}

/** Decides a call against inbound listeners: REJECT (no chain / handshake), DENY (RBAC) or ALLOW. */
export function checkCall(listeners: readonly EnvoyObject[], call: Call): CallDecision {
  const picked = pickListener(listeners, call);
  if (!picked) return { decision: 'REJECT', reason: `no inbound listener accepts port ${call.port}` };
  const { listener } = picked;
  const tlsCall = call.from !== 'plaintext';
  const principal = call.from !== 'plaintext' ? call.from.principal : undefined;
  const inspectsTls = hasListenerFilter(listener, Filter.TlsInspector, TypeName.TlsInspector);
  const httpInspector = hasListenerFilter(listener, Filter.HttpInspector, TypeName.HttpInspector);
  const isHttpCall = call.method !== undefined || call.path !== undefined;
  const alpn = tlsCall ? (inspectsTls ? call.alpn ?? [MESH_ALPN, 'h2', 'http/1.1'] : []) : httpInspector && isHttpCall ? ['http/1.1'] : [];
  const facts: ConnFacts = {
    port: call.port, tls: tlsCall && inspectsTls, alpn,
    ...(call.sni !== undefined ? { sni: call.sni } : {}),
    ...(call.sourceIp !== undefined ? { sourceIp: call.sourceIp } : {}),
    ...(call.destinationIp !== undefined ? { destinationIp: call.destinationIp } : {}),
  };
  const chain = pickChain(listener, facts);
  const base = { listener: String(listener.name ?? '') };
  if (!chain) {
    return { ...base, decision: 'REJECT', reason: `no filter chain of ${base.listener} accepts a ${tlsCall ? 'TLS' : 'plaintext'} connection to port ${call.port}${tlsCall ? '' : ' (mTLS STRICT?)'}` };
  }
  const chainName = String(chain.name ?? '');
  const b2 = { ...base, filterChain: chainName };
  const t = chainTls(chain);
  if (t.tls && !tlsCall) return { ...b2, decision: 'REJECT', reason: `filter chain ${chainName} requires TLS; a plaintext connection fails the handshake` };
  if (t.tls && t.requireClientCert && !principal) return { ...b2, decision: 'REJECT', reason: `filter chain ${chainName} requires a client certificate` };
  const shadow: { rbacPolicy?: string; result: 'allowed' | 'denied' | 'logged'; filter: string }[] = [];
  const extAuthz: string[] = [];
  const notes: string[] = [];
  const headers = new Map<string, string>();
  for (const [k, v] of Object.entries(call.headers ?? {})) headers.set(k.toLowerCase(), v);
  headers.set(':method', call.method ?? headers.get(':method') ?? 'GET');
  headers.set(':path', call.path ?? headers.get(':path') ?? '/');
  const host = call.host ?? headers.get('host');
  if (host !== undefined) headers.set(':authority', host);
  headers.delete('host');
  const ctx: MatchContext = {
    tls: t.tls, ...(t.tls && principal ? { principal } : {}),
    ...(call.sourceIp ? { sourceIp: call.sourceIp } : {}),
    ...(call.destinationIp && isIP(call.destinationIp) ? { destinationIp: call.destinationIp } : {}),
    destinationPort: call.port, ...(call.sni !== undefined ? { sni: call.sni } : {}),
    metadata: new Map(), notes,
  };
  let allowedBy: Partial<CallDecision> = {};
  const noteAllow = (r: RbacOutcome): void => {
    const parsed = r.engine?.action === 'ALLOW' && r.engine.policy ? parseRbacKey(r.engine.policy) : undefined;
    if (parsed && r.engine?.policy) allowedBy = { policy: parsed.policy, rule: parsed.rule, rbacPolicy: r.engine.policy };
  };
  const extras = (allowed = true): Partial<CallDecision> => ({
    ...(allowed ? allowedBy : {}),
    ...(shadow.length ? { shadow: [...shadow] } : {}), ...(extAuthz.length ? { extAuthz: [...extAuthz] } : {}), ...(notes.length ? { notes: [...new Set(notes)] } : {}),
  });
  if (tlsCall && !t.tls) notes.push(`filter chain ${chainName} is plaintext: the caller's TLS is passed through and no peer identity is seen`);
  for (const f of arr(chain.filters)) {
    const cfg = isObj(f.typed_config) ? f.typed_config : {};
    const type = typeOf(cfg);
    if (type === TypeName.NetworkRbac) {
      const r = evaluateRbac(cfg, ctx, Filter.NetworkRbac, shadow);
      if (r.denied) {
        const d = denyDecision(r.engine, b2, 'network RBAC');
        return { ...extras(false), ...d, reason: `${d.reason} (connection closed)` };
      }
      noteAllow(r);
    } else if (type === ExtAuthzFilter.NetworkType) {
      const e = extAuthzEnabled(cfg, ctx);
      if (e.enabled) extAuthz.push(e.cluster);
    } else if (type === TypeName.TcpProxy) {
      return { ...b2, decision: 'ALLOW', reason: `connection reaches tcp_proxy on chain ${chainName}${extAuthz.length ? ' (if ext_authz allows)' : ''}`, ...extras() };
    } else if (type === TypeName.HttpConnectionManager) {
      const hctx: MatchContext = { ...ctx, headers };
      for (const hf of arr(cfg.http_filters)) {
        const hcfg = isObj(hf.typed_config) ? hf.typed_config : {};
        const ht = typeOf(hcfg);
        if (ht === TypeName.HttpJwtAuthn) {
          const v = checkJwtAuthn(hcfg, call.jwt);
          if (!v.ok) return { ...b2, decision: v.status === 401 ? 'UNAUTHENTICATED' : 'DENY', reason: `${v.status} from jwt_authn: ${v.reason}`, ...extras(false) };
          if (v.payload) (hctx.metadata as Map<string, Record<string, unknown>>).set(Filter.HttpJwtAuthn, { [JWT_PAYLOAD_METADATA_KEY]: v.payload });
        } else if (ht === TypeName.HttpRbac) {
          const r = evaluateRbac(hcfg, hctx, Filter.HttpRbac, shadow);
          if (r.denied) return { ...extras(false), ...denyDecision(r.engine, b2, 'HTTP RBAC') };
          noteAllow(r);
        } else if (ht === ExtAuthzFilter.HttpType) {
          const e = extAuthzEnabled(hcfg, hctx);
          if (e.enabled) extAuthz.push(e.cluster);
        } else if (ht === TypeName.Router) {
          return { ...b2, decision: 'ALLOW', reason: `request reaches the router on chain ${chainName}${extAuthz.length ? ' (if ext_authz allows)' : ''}`, ...extras() };
        }
      }
      return { ...b2, decision: 'ALLOW', reason: `request passes every HTTP filter on chain ${chainName}`, ...extras() };
    }
  }
  return { ...b2, decision: 'ALLOW', reason: `connection passes every filter on chain ${chainName}`, ...extras() };
}

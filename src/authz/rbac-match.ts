/**
 * Envoy's RBAC matching (`envoy.config.rbac.v3`), on Envoy JSON config: Permission, Principal,
 * Policy and the RBAC engine. Unsupported matchers (CEL conditions, `matcher` extensions,
 * filter_state, uri_template) never match and are reported in `notes`.
 */
import { BlockList, isIP } from 'node:net';

type Obj = Readonly<Record<string, unknown>>;

/** What the RBAC engine can see about a connection and (for HTTP) a request. */
export interface MatchContext {
  /** Peer certificate URI SAN; undefined without TLS or without a client certificate. */
  readonly principal?: string;
  /** Whether the connection is TLS (Envoy's `connection.ssl()`). */
  readonly tls: boolean;
  readonly sourceIp?: string;
  readonly remoteIp?: string;
  readonly destinationIp?: string;
  readonly destinationPort: number;
  readonly sni?: string;
  /** Lower-case header names incl. `:method`, `:path`, `:authority`; undefined on TCP chains. */
  readonly headers?: ReadonlyMap<string, string>;
  /** Dynamic metadata by filter name. */
  readonly metadata: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** Unsupported matchers met while evaluating; appended to. */
  readonly notes: string[];
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const regexCache = new Map<string, RegExp>();
function fullRegex(re: string, flags = ''): RegExp {
  const k = flags + '\u0000' + re;
  let r = regexCache.get(k);
  if (!r) { r = new RegExp(`^(?:${re})$`, flags); regexCache.set(k, r); }
  return r;
}

/** Envoy StringMatcher: exact, prefix, suffix, contains, safe_regex (full match), ignore_case. */
export function matchString(m: Obj, value: string | undefined): boolean {
  if (value === undefined) return false;
  const ic = m.ignore_case === true;
  const v = ic ? value.toLowerCase() : value;
  const norm = (s: unknown): string => (ic ? String(s).toLowerCase() : String(s));
  if (typeof m.exact === 'string') return v === norm(m.exact);
  if (typeof m.prefix === 'string') return v.startsWith(norm(m.prefix));
  if (typeof m.suffix === 'string') return v.endsWith(norm(m.suffix));
  if (typeof m.contains === 'string') return v.includes(norm(m.contains));
  if (isObj(m.safe_regex) && typeof m.safe_regex.regex === 'string') return fullRegex(m.safe_regex.regex, ic ? 'i' : '').test(value);
  return false;
}

const cidrCache = new Map<string, BlockList>();
/** Envoy CidrRange match for IPv4/IPv6 addresses. */
export function matchCidr(range: Obj, ip: string | undefined): boolean {
  if (!ip) return false;
  const addr = String(range.address_prefix ?? '');
  const lenRaw = isObj(range.prefix_len) ? range.prefix_len.value : range.prefix_len;
  const len = Number(lenRaw ?? 0);
  const fam = isIP(addr);
  const ipFam = isIP(ip);
  if (fam === 0 || ipFam === 0 || fam !== ipFam) return false;
  const key = `${addr}/${len}`;
  let bl = cidrCache.get(key);
  if (!bl) { bl = new BlockList(); bl.addSubnet(addr, len, fam === 4 ? 'ipv4' : 'ipv6'); cidrCache.set(key, bl); }
  return bl.check(ip, ipFam === 4 ? 'ipv4' : 'ipv6');
}

/** Envoy HeaderMatcher (string_match and the older *_match fields, present_match, invert_match). */
export function matchHeader(h: Obj, ctx: MatchContext): boolean {
  if (!ctx.headers) return false;
  const name = String(h.name ?? '').toLowerCase();
  const value = ctx.headers.get(name === 'host' ? ':authority' : name);
  let r: boolean;
  if (value === undefined) {
    r = h.present_match === false;
  } else if (isObj(h.string_match)) r = matchString(h.string_match, value);
  else if (typeof h.exact_match === 'string') r = value === h.exact_match;
  else if (typeof h.prefix_match === 'string') r = value.startsWith(h.prefix_match);
  else if (typeof h.suffix_match === 'string') r = value.endsWith(h.suffix_match);
  else if (typeof h.contains_match === 'string') r = value.includes(h.contains_match);
  else if (isObj(h.safe_regex_match)) r = fullRegex(String(h.safe_regex_match.regex)).test(value);
  else if (h.present_match !== undefined) r = h.present_match === true;
  else r = true;
  return h.invert_match === true ? !r : r;
}

function matchMetadata(m: Obj, ctx: MatchContext): boolean {
  const ns = ctx.metadata.get(String(m.filter ?? ''));
  let cur: unknown = ns;
  for (const seg of Array.isArray(m.path) ? m.path : []) {
    cur = isObj(cur) && isObj(seg) ? cur[String(seg.key)] : undefined;
  }
  let r = false;
  const vm = isObj(m.value) ? m.value : {};
  if (cur !== undefined) {
    if (isObj(vm.string_match)) r = typeof cur === 'string' && matchString(vm.string_match, cur);
    else if (isObj(vm.list_match) && isObj(vm.list_match.one_of) && isObj(vm.list_match.one_of.string_match)) {
      const sm = vm.list_match.one_of.string_match;
      r = Array.isArray(cur) && cur.some((x) => typeof x === 'string' && matchString(sm, x));
    } else if (vm.present_match === true) r = true;
  }
  return m.invert === true ? !r : r;
}

function urlPath(ctx: MatchContext): string | undefined {
  const p = ctx.headers?.get(':path');
  if (p === undefined) return undefined;
  const q = p.search(/[?#]/);
  return q < 0 ? p : p.slice(0, q);
}

/** Envoy Permission matching (what the request targets). */
export function matchPermission(p: Obj, ctx: MatchContext): boolean {
  if (p.any === true) return true;
  if (isObj(p.and_rules)) return (p.and_rules.rules as Obj[] ?? []).every((r) => matchPermission(r, ctx));
  if (isObj(p.or_rules)) return (p.or_rules.rules as Obj[] ?? []).some((r) => matchPermission(r, ctx));
  if (isObj(p.not_rule)) return !matchPermission(p.not_rule, ctx);
  if (isObj(p.header)) return matchHeader(p.header, ctx);
  if (isObj(p.url_path)) {
    const path = urlPath(ctx);
    return isObj(p.url_path.path) && matchString(p.url_path.path, path);
  }
  if (p.destination_port !== undefined) return Number(p.destination_port) === ctx.destinationPort;
  if (isObj(p.destination_port_range)) return ctx.destinationPort >= Number(p.destination_port_range.start) && ctx.destinationPort < Number(p.destination_port_range.end);
  if (isObj(p.destination_ip)) return matchCidr(p.destination_ip, ctx.destinationIp);
  if (isObj(p.requested_server_name)) return matchString(p.requested_server_name, ctx.sni ?? '');
  if (isObj(p.metadata)) return matchMetadata(p.metadata, ctx);
  ctx.notes.push(`unsupported permission ${Object.keys(p).join(',')}: treated as no match`);
  return false;
}

/** Envoy Principal matching (who is calling). */
export function matchPrincipal(p: Obj, ctx: MatchContext): boolean {
  if (p.any === true) return true;
  if (isObj(p.and_ids)) return (p.and_ids.ids as Obj[] ?? []).every((r) => matchPrincipal(r, ctx));
  if (isObj(p.or_ids)) return (p.or_ids.ids as Obj[] ?? []).some((r) => matchPrincipal(r, ctx));
  if (isObj(p.not_id)) return !matchPrincipal(p.not_id, ctx);
  if (isObj(p.authenticated)) {
    if (!ctx.tls) return false;
    const pn = p.authenticated.principal_name;
    if (!isObj(pn)) return true;
    return ctx.principal !== undefined && matchString(pn, ctx.principal);
  }
  if (isObj(p.direct_remote_ip)) return matchCidr(p.direct_remote_ip, ctx.sourceIp);
  if (isObj(p.source_ip)) return matchCidr(p.source_ip, ctx.sourceIp);
  if (isObj(p.remote_ip)) return matchCidr(p.remote_ip, ctx.remoteIp ?? ctx.sourceIp);
  if (isObj(p.header)) return matchHeader(p.header, ctx);
  if (isObj(p.url_path)) return isObj(p.url_path.path) && matchString(p.url_path.path, urlPath(ctx));
  if (isObj(p.metadata)) return matchMetadata(p.metadata, ctx);
  ctx.notes.push(`unsupported principal ${Object.keys(p).join(',')}: treated as no match`);
  return false;
}

/** The first policy (in key order, as Envoy's sorted map) whose permissions and principals both match. */
export function firstMatchingPolicy(rbac: Obj, ctx: MatchContext): string | undefined {
  const policies = isObj(rbac.policies) ? rbac.policies : {};
  for (const name of Object.keys(policies).sort()) {
    const pol = policies[name];
    if (!isObj(pol)) continue;
    if (pol.condition !== undefined || pol.checked_condition !== undefined) { ctx.notes.push(`policy ${name}: CEL conditions are not evaluated: treated as no match`); continue; }
    const perms = Array.isArray(pol.permissions) ? pol.permissions as Obj[] : [];
    const princs = Array.isArray(pol.principals) ? pol.principals as Obj[] : [];
    if (perms.some((x) => matchPermission(x, ctx)) && princs.some((x) => matchPrincipal(x, ctx))) return name;
  }
  return undefined;
}

/** One RBAC engine's verdict: `allowed`, and the policy that decided it (if any). */
export interface EngineResult { readonly allowed: boolean; readonly policy?: string; readonly action: string }

/** Evaluates an `envoy.config.rbac.v3.RBAC` (ALLOW: a match allows; DENY: a match denies; LOG: never denies). */
export function evaluateEngine(rbac: Obj, ctx: MatchContext): EngineResult {
  const action = String(rbac.action ?? 'ALLOW');
  const policy = firstMatchingPolicy(rbac, ctx);
  const p = policy !== undefined ? { policy } : {};
  if (action === 'DENY') return { allowed: policy === undefined, action, ...p };
  if (action === 'LOG') return { allowed: true, action, ...p };
  return { allowed: policy !== undefined, action, ...p };
}

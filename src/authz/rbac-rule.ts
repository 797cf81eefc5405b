/**
 * One AuthorizationPolicy rule → one Envoy RBAC Policy (`envoy.config.rbac.v3.Policy`), in
 * Envoy's JSON form. Shape as Istio's: one permission per `to`, one principal per `from`;
 * each is an AND of the rule's fields, a field is an OR of its values plus NOT(OR of its
 * notValues); `when` conditions join every permission or principal depending on their key.
 */
import type { AuthzAction, AuthzRule } from '../model/types.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import { claimMatcher, requestPrincipalMatcher } from './request-authn-match.js';

type Side = 'permission' | 'principal';
interface Generator {
  readonly side: Side;
  /** Not expressible on a TCP filter chain. */
  readonly httpOnly: boolean;
  leaf(value: string): EnvoyObject;
}
interface Field { readonly key: string; readonly values: readonly string[]; readonly notValues: readonly string[]; readonly g: Generator }

/** Envoy's string matcher for an Istio value: exact, `x*` prefix, `*x` suffix, `*` any non-empty. */
export function stringMatcher(v: string, ignoreCase = false): EnvoyObject {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v === '*') return { safe_regex: { regex: '.+' } };
  if (v.startsWith('*')) return { suffix: v.slice(1), ...ic };
  if (v.endsWith('*')) return { prefix: v.slice(0, -1), ...ic };
  return { exact: v, ...ic };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function header(name: string, v: string, ignoreCase = false): EnvoyObject {
  if (v === '*') return { header: { name, present_match: true } };
  return { header: { name, string_match: stringMatcher(v, ignoreCase) } };
}

/** `10.0.0.0/8` or a bare address → CidrRange. */
export function cidrRange(v: string): EnvoyObject {
  const [addr, len] = v.split('/') as [string, string | undefined];
  return { address_prefix: addr, prefix_len: len !== undefined ? Number(len) : addr.includes(':') ? 128 : 32 };
}

/** `cluster.local/ns/a/sa/b` → matcher on the peer's URI SAN `spiffe://cluster.local/ns/a/sa/b`. */
function principalName(v: string): EnvoyObject {
  if (v === '*') return { safe_regex: { regex: '.+' } };
  if (v.startsWith('*')) return { safe_regex: { regex: `spiffe://.*${escapeRegex(v.slice(1))}` } };
  if (v.endsWith('*')) return { prefix: `spiffe://${v.slice(0, -1)}` };
  return { exact: `spiffe://${v}` };
}

function namespaceRegex(v: string): EnvoyObject {
  const ns = v.split('*').map(escapeRegex).join('.*');
  return { safe_regex: { regex: `.*/ns/${ns}/.*` } };
}

const G = {
  host: { side: 'permission', httpOnly: true, leaf: (v) => header(':authority', v, true) },
  method: { side: 'permission', httpOnly: true, leaf: (v) => header(':method', v) },
  path: { side: 'permission', httpOnly: true, leaf: (v) => ({ url_path: { path: stringMatcher(v) } }) },
  destPort: { side: 'permission', httpOnly: false, leaf: (v) => ({ destination_port: Number(v) }) },
  destIp: { side: 'permission', httpOnly: false, leaf: (v) => ({ destination_ip: cidrRange(v) }) },
  sni: { side: 'permission', httpOnly: false, leaf: (v) => ({ requested_server_name: stringMatcher(v) }) },
  srcIp: { side: 'principal', httpOnly: false, leaf: (v) => ({ direct_remote_ip: cidrRange(v) }) },
  remoteIp: { side: 'principal', httpOnly: false, leaf: (v) => ({ remote_ip: cidrRange(v) }) },
  namespace: { side: 'principal', httpOnly: false, leaf: (v) => ({ authenticated: { principal_name: namespaceRegex(v) } }) },
  principal: { side: 'principal', httpOnly: false, leaf: (v) => ({ authenticated: { principal_name: principalName(v) } }) },
  requestPrincipal: { side: 'principal', httpOnly: true, leaf: (v) => requestPrincipalMatcher(v) },
} satisfies Record<string, Generator>;

function whenGenerator(key: string): Generator {
  switch (key) {
    case 'source.ip': return G.srcIp;
    case 'remote.ip': return G.remoteIp;
    case 'source.namespace': return G.namespace;
    case 'source.principal': return G.principal;
    case 'destination.ip': return G.destIp;
    case 'destination.port': return G.destPort;
    case 'connection.sni': return G.sni;
    case 'request.auth.principal': return G.requestPrincipal;
  }
  const hdr = /^request\.headers\[(.+)\]$/.exec(key);
  if (hdr) return { side: 'principal', httpOnly: true, leaf: (v) => header(hdr[1]!, v) };
  if (key === 'request.auth.audiences') return { side: 'principal', httpOnly: true, leaf: (v) => claimMatcher(['aud'], v) };
  if (key === 'request.auth.presenter') return { side: 'principal', httpOnly: true, leaf: (v) => claimMatcher(['azp'], v) };
  const claims = /^request\.auth\.claims((?:\[[^\]]+\])+)$/.exec(key);
  if (claims) {
    const path = [...claims[1]!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
    return { side: 'principal', httpOnly: true, leaf: (v) => claimMatcher(path, v) };
  }
  const env = /^experimental\.(envoy\.filters\.[^[]+)\[([^\]]+)\]$/.exec(key);
  if (env) {
    const value = (v: string): EnvoyObject => (v.startsWith('[') && v.endsWith(']')
      ? { list_match: { one_of: { string_match: stringMatcher(v.slice(1, -1)) } } }
      : { string_match: stringMatcher(v) });
    return { side: 'permission', httpOnly: false, leaf: (v) => ({ metadata: { filter: env[1]!, path: [{ key: env[2]! }], value: value(v) } }) };
  }
  // Parsing rejects unknown keys; reaching here is a programmer error.
  throw new Error(`unknown when key ${key}`);
}

function field(key: string, g: Generator, values?: readonly string[], notValues?: readonly string[]): Field | undefined {
  if (!values?.length && !notValues?.length) return undefined;
  return { key, g, values: values ?? [], notValues: notValues ?? [] };
}

/** OR of matchers; a single one stands alone (fewer objects, same meaning). */
function anyOf(items: EnvoyObject[], kind: Side): EnvoyObject {
  if (items.length === 1) return items[0]!;
  return kind === 'permission' ? { or_rules: { rules: items } } : { or_ids: { ids: items } };
}

/** Result of translating one rule: the policy, or why the rule was dropped, and notes on dropped fields. */
export interface RuleResult {
  readonly policy?: EnvoyObject;
  readonly dropped?: string;
  readonly ignoredFields: readonly string[];
}

/**
 * Translates one rule. On a TCP chain, an HTTP-only field (hosts, methods, paths,
 * requestPrincipals, request.headers, request.auth.*) drops the whole rule for ALLOW (so it
 * allows less) and only that field for DENY, AUDIT and CUSTOM (so they match more), as Istio.
 */
export function ruleToPolicy(rule: AuthzRule, action: AuthzAction, forTCP: boolean): RuleResult {
  const basePerm: Field[] = [];
  const basePrinc: Field[] = [];
  for (const w of rule.when ?? []) {
    const g = whenGenerator(w.key);
    const f = field(w.key, g, w.values, w.notValues);
    if (f) (g.side === 'permission' ? basePerm : basePrinc).push(f);
  }
  const principalLists: Field[][] = (rule.from?.length ? rule.from : [undefined]).map((from) => {
    const s = from?.source;
    const fs = s ? [
      field('principals', G.principal, s.principals, s.notPrincipals),
      field('requestPrincipals', G.requestPrincipal, s.requestPrincipals, s.notRequestPrincipals),
      field('namespaces', G.namespace, s.namespaces, s.notNamespaces),
      field('remoteIpBlocks', G.remoteIp, s.remoteIpBlocks, s.notRemoteIpBlocks),
      field('ipBlocks', G.srcIp, s.ipBlocks, s.notIpBlocks),
    ] : [];
    return [...fs.filter((f): f is Field => f !== undefined), ...basePrinc];
  });
  const permissionLists: Field[][] = (rule.to?.length ? rule.to : [undefined]).map((to) => {
    const o = to?.operation;
    const fs = o ? [
      field('hosts', G.host, o.hosts, o.notHosts),
      field('methods', G.method, o.methods, o.notMethods),
      field('paths', G.path, o.paths, o.notPaths),
      field('ports', G.destPort, o.ports, o.notPorts),
    ] : [];
    return [...fs.filter((f): f is Field => f !== undefined), ...basePerm];
  });
  const ignored = new Set<string>();
  const tcpBlocked = (f: Field): boolean => forTCP && f.g.httpOnly;
  if (action === 'ALLOW') {
    const bad = [...principalLists, ...permissionLists].flat().find(tcpBlocked);
    if (bad) return { dropped: `"${bad.key}" is HTTP-only; an ALLOW rule that uses it never matches on a TCP port`, ignoredFields: [] };
  }
  const build = (fields: Field[], kind: Side): EnvoyObject => {
    const and: EnvoyObject[] = [];
    for (const f of fields) {
      if (tcpBlocked(f)) { ignored.add(f.key); continue; }
      if (f.values.length) and.push(anyOf(f.values.map(f.g.leaf), kind));
      if (f.notValues.length) {
        const inner = anyOf(f.notValues.map(f.g.leaf), kind);
        and.push(kind === 'permission' ? { not_rule: inner } : { not_id: inner });
      }
    }
    if (and.length === 0) return { any: true };
    if (and.length === 1) return and[0]!;
    return kind === 'permission' ? { and_rules: { rules: and } } : { and_ids: { ids: and } };
  };
  const permissions = permissionLists.map((l) => build(l, 'permission'));
  const principals = principalLists.map((l) => build(l, 'principal'));
  return { policy: { permissions, principals }, ignoredFields: [...ignored].sort() };
}

/** A policy that never matches: what an AuthorizationPolicy without rules becomes (as Istio). */
export const MATCH_NEVER: EnvoyObject = Object.freeze({
  permissions: [{ not_rule: { any: true } }],
  principals: [{ not_id: { any: true } }],
});

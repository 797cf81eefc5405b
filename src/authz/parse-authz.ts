/**
 * AuthorizationPolicy validation: Istio's schema, strictly, plus the value checks Istio's
 * webhook makes (CIDRs, ports, `when` keys) and warnings for legal-but-suspicious policies.
 */
import type { AuthorizationPolicy, AuthzAction, AuthzCondition, AuthzOperation, AuthzRule, AuthzSource } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import {
  checkKeys, isCidr, isPortString, issues, parseEnvelope, readObject, readObjectList, readSelector, readString,
  readStringList, wildcardProblem,
} from './parse-util.js';
import type { Issues, RawObject } from './parse-util.js';

const ACTIONS: readonly AuthzAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];
const SOURCE_FIELDS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
/** Annotation that turns a policy into dry-run (shadow rules only). */
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

/** The `when` keys Istio knows; `kind` says how values are checked. */
type KeyKind = 'cidr' | 'port' | 'string';
const EXACT_KEYS: Readonly<Record<string, KeyKind>> = {
  'source.ip': 'cidr', 'remote.ip': 'cidr', 'destination.ip': 'cidr', 'destination.port': 'port',
  'source.namespace': 'string', 'source.principal': 'string', 'connection.sni': 'string',
  'request.auth.principal': 'string', 'request.auth.audiences': 'string', 'request.auth.presenter': 'string',
};

/** Classifies a `when` key; undefined for keys Istio would reject. */
export function whenKeyKind(key: string): KeyKind | undefined {
  if (key in EXACT_KEYS) return EXACT_KEYS[key];
  if (/^request\.headers\[[^\[\]]+\]$/.test(key)) return 'string';
  if (/^request\.auth\.claims(\[[^\[\]]+\])+$/.test(key)) return 'string';
  if (/^experimental\.envoy\.filters\.[^\[\]]+\[[^\[\]]+\]$/.test(key)) return 'string';
  return undefined;
}

function checkValues(values: readonly string[], path: string, kind: KeyKind | 'path' | 'host' | 'method', is: Issues): void {
  values.forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (kind === 'cidr') { if (!isCidr(v)) is.error(p, `"${v}" is not an IP address or CIDR range`); return; }
    if (kind === 'port') { if (!isPortString(v)) is.error(p, `"${v}" is not a port number (0-65535)`); return; }
    if (kind === 'path' && v.includes('{')) { is.error(p, `"${v}": path templates ({*}, {**}) are not supported`); return; }
    const w = wildcardProblem(v);
    if (w) is.error(p, w);
  });
}

function parseSource(o: RawObject, path: string, is: Issues): AuthzSource {
  checkKeys(o, SOURCE_FIELDS, path, is);
  const out: Record<string, readonly string[]> = {};
  for (const f of SOURCE_FIELDS) {
    const v = readStringList(o, f, path, is);
    if (!v) continue;
    checkValues(v, `${path}.${f}`, f.toLowerCase().includes('ipblocks') ? 'cidr' : 'string', is);
    out[f] = v;
  }
  if (Object.keys(out).length === 0) is.error(path, 'a source must set at least one field');
  return out;
}

function parseOperation(o: RawObject, path: string, is: Issues): AuthzOperation {
  checkKeys(o, OPERATION_FIELDS, path, is);
  const out: Record<string, readonly string[]> = {};
  for (const f of OPERATION_FIELDS) {
    const v = readStringList(o, f, path, is);
    if (!v) continue;
    const kind = f === 'ports' || f === 'notPorts' ? 'port' : f === 'paths' || f === 'notPaths' ? 'path' : f === 'hosts' || f === 'notHosts' ? 'host' : 'method';
    checkValues(v, `${path}.${f}`, kind, is);
    out[f] = v;
  }
  if (Object.keys(out).length === 0) is.error(path, 'an operation must set at least one field');
  return out;
}

function parseCondition(o: RawObject, path: string, is: Issues): AuthzCondition | undefined {
  checkKeys(o, ['key', 'values', 'notValues'], path, is);
  const key = readString(o, 'key', path, is);
  const values = readStringList(o, 'values', path, is);
  const notValues = readStringList(o, 'notValues', path, is);
  if (key === undefined) { if (o.key === undefined) is.error(`${path}.key`, 'is required'); return undefined; }
  const kind = whenKeyKind(key);
  if (!kind) { is.error(`${path}.key`, `unknown attribute "${key}"`); return undefined; }
  if (!values?.length && !notValues?.length) is.error(path, 'values or notValues must be set');
  if (values) checkValues(values, `${path}.values`, kind, is);
  if (notValues) checkValues(notValues, `${path}.notValues`, kind, is);
  return { key, ...(values ? { values } : {}), ...(notValues ? { notValues } : {}) };
}

function parseRule(o: RawObject, path: string, is: Issues): AuthzRule {
  checkKeys(o, ['from', 'to', 'when'], path, is);
  const rule: { from?: { source: AuthzSource }[]; to?: { operation: AuthzOperation }[]; when?: AuthzCondition[] } = {};
  const from = readObjectList(o, 'from', path, is);
  if (from) {
    rule.from = [];
    for (const f of from) {
      checkKeys(f.item, ['source'], f.path, is);
      const s = readObject(f.item, 'source', f.path, is);
      if (!s) { if (f.item.source === undefined) is.error(`${f.path}.source`, 'is required'); continue; }
      rule.from.push({ source: parseSource(s, `${f.path}.source`, is) });
    }
  }
  const to = readObjectList(o, 'to', path, is);
  if (to) {
    rule.to = [];
    for (const t of to) {
      checkKeys(t.item, ['operation'], t.path, is);
      const op = readObject(t.item, 'operation', t.path, is);
      if (!op) { if (t.item.operation === undefined) is.error(`${t.path}.operation`, 'is required'); continue; }
      rule.to.push({ operation: parseOperation(op, `${t.path}.operation`, is) });
    }
  }
  const when = readObjectList(o, 'when', path, is);
  if (when) {
    rule.when = [];
    for (const w of when) {
      const c = parseCondition(w.item, w.path, is);
      if (c) rule.when.push(c);
    }
  }
  return rule;
}

/**
 * Rules per AuthorizationPolicy. Istio sets none; past a few hundred a policy is generated,
 * and 10,000 rules made 4 MB of RBAC config that took seconds to encode for each proxy.
 */
export const MAX_AUTHZ_RULES = 1000;

/** Validates a raw AuthorizationPolicy; CUSTOM needs `provider.name` (its existence is checked at build time). */
export function parseAuthorizationPolicy(raw: unknown, ctx: ParseContext): ParseResult<AuthorizationPolicy> {
  const is = issues('AuthorizationPolicy', ctx);
  const env = parseEnvelope(raw, 'AuthorizationPolicy', ctx, is);
  if (!env) return { ok: false, diagnostics: is.list };
  const { spec, meta } = env;
  checkKeys(spec, ['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules'], 'spec', is);
  const selector = readSelector(spec, is);
  const actionRaw = spec.action ?? 'ALLOW';
  let action: AuthzAction = 'ALLOW';
  if (typeof actionRaw !== 'string' || !(ACTIONS as readonly string[]).includes(actionRaw)) {
    is.error('spec.action', `invalid action ${JSON.stringify(actionRaw)} (allowed: ${ACTIONS.join(', ')})`);
  } else action = actionRaw as AuthzAction;
  let provider: { name: string } | undefined;
  const prov = readObject(spec, 'provider', 'spec', is);
  if (prov) {
    checkKeys(prov, ['name'], 'spec.provider', is);
    const name = readString(prov, 'name', 'spec.provider', is);
    if (name) provider = { name };
  }
  if (action === 'CUSTOM' && !provider) is.error('spec.provider.name', 'a CUSTOM policy needs a provider name');
  if (action !== 'CUSTOM' && prov) is.error('spec.provider', `provider is only allowed with action CUSTOM, not ${action}`);
  const targetRefs: unknown[] = [];
  const single = readObject(spec, 'targetRef', 'spec', is);
  if (single) targetRefs.push(single);
  const many = readObjectList(spec, 'targetRefs', 'spec', is);
  if (many) targetRefs.push(...many.map((m) => m.item));
  if (targetRefs.length && selector) is.error('spec.selector', 'selector and targetRef(s) are mutually exclusive');
  if (targetRefs.length) is.warn('spec.targetRefs', 'targetRefs (waypoints and gateways) are not supported: this policy applies to no sidecar');
  let rules: AuthzRule[] | undefined;
  const rulesRaw = readObjectList(spec, 'rules', 'spec', is);
  if (rulesRaw && rulesRaw.length > MAX_AUTHZ_RULES) is.error('spec.rules', `${rulesRaw.length} rules exceed the limit of ${MAX_AUTHZ_RULES} per policy; split the policy`);
  else if (rulesRaw) rules = rulesRaw.map((r) => parseRule(r.item, r.path, is));
  const dry = meta.annotations[DRY_RUN_ANNOTATION];
  let dryRun = false;
  if (dry !== undefined) {
    if (/^(true|1|t|TRUE|True)$/.test(dry)) dryRun = true;
    else if (!/^(false|0|f|FALSE|False)$/.test(dry)) is.warn(`metadata.annotations[${DRY_RUN_ANNOTATION}]`, `"${dry}" is not a boolean; the policy is enforced`);
  }
  if (action === 'DENY' && !rules?.length) is.warn('spec.rules', 'a DENY policy without rules matches nothing and has no effect');
  if (action === 'AUDIT') is.warn('spec.action', 'AUDIT only marks requests for logging; it never allows or denies');
  if (is.hasErrors()) return { ok: false, diagnostics: is.list };
  const value: AuthorizationPolicy = {
    meta, apiVersion: env.apiVersion, action, dryRun,
    ...(selector ? { selector } : {}),
    ...(targetRefs.length ? { targetRefs } : {}),
    ...(rules ? { rules } : {}),
    ...(provider ? { provider } : {}),
  };
  return { ok: true, value, warnings: is.list };
}

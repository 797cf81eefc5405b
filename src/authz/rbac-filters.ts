/**
 * AuthorizationPolicies of a workload → Envoy RBAC (and ext_authz) filters for one inbound port.
 * Order as Istio: CUSTOM (RBAC in shadow mode marking requests + ext_authz enabled by that
 * mark), AUDIT (RBAC LOG), DENY, ALLOW. Dry-run policies go to `shadow_rules`.
 *
 * Saying why a request was denied (checked against the Envoy 1.40 binary): every RBAC policy key
 * is `ns[<ns>]-policy[<name>]-rule[<i>]`; on a denial Envoy sets the response code details to
 * `rbac_access_denied_matched_policy[<key>]` (or `[none]` when no ALLOW policy matched), which the
 * inbound access log prints as `%RESPONSE_CODE_DETAILS%`; it also writes dynamic metadata under
 * `envoy.filters.http.rbac`: `<rules_stat_prefix>enforced_effective_policy_id` and, for dry-run,
 * `<shadow_rules_stat_prefix>shadow_effective_policy_id` / `shadow_engine_result`. HTTP filters
 * set `track_per_rule_stats`, so each key gets its own allowed/denied counters; every action has
 * its own stat prefix (`meshd_allow_`, `meshd_deny_`, `meshd_audit_`, `meshd_dry_run_*_`), and
 * network filters `meshd_<action>_<port>.`. The 403 body stays Envoy's "RBAC: access denied":
 * naming the policy to the caller would leak policy details.
 */
import type { AuthorizationPolicy, AuthzAction, Diagnostic, ExtAuthzProvider, MeshSnapshot, Workload } from '../model/types.js';
import { Filter, TypeName, typed } from '../xds/resource-types.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import { outboundClusterName, rbacPolicyName } from '../xds/names.js';
import { MATCH_NEVER, ruleToPolicy } from './rbac-rule.js';
import { authorizationPoliciesFor } from './select.js';
import { allHosts } from '../xds/translate/registry.js';

/** ext_authz names; they belong next to `Filter`/`TypeName` in resource-types.ts once that file is free. */
export const ExtAuthzFilter = {
  Http: 'envoy.filters.http.ext_authz',
  Network: 'envoy.filters.network.ext_authz',
  HttpType: 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
  NetworkType: 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
} as const;

/** Stat prefix of the shadow rules that mark requests for ext_authz; Envoy prepends it to the metadata key. */
export const EXT_AUTHZ_SHADOW_PREFIX = 'meshd_ext_authz_';
/** Policy key prefix for CUSTOM rules of one provider: `ext-authz[<provider>]ns[..]-policy[..]-rule[..]`. */
export function extAuthzKeyPrefix(provider: string): string {
  return `ext-authz[${provider}]`;
}
/** Suffix of keys that deny in place of a CUSTOM policy whose provider is missing (fail closed, as Istio). */
export const BAD_CUSTOM_SUFFIX = '-deny-due-to-bad-CUSTOM-action';

export interface InboundAuthz {
  /** HTTP filters to put before the router, in order (ext_authz, RBAC DENY, RBAC ALLOW, shadow). */
  readonly httpFilters: readonly EnvoyObject[];
  /** Network filters to put before tcp_proxy, in order. */
  readonly networkFilters: readonly EnvoyObject[];
  readonly diagnostics: readonly Diagnostic[];
}

type Entries = [string, EnvoyObject][];
interface PolicyOut { readonly entries: Entries; readonly diagnostics: readonly Diagnostic[] }

const perPolicy = new WeakMap<AuthorizationPolicy, { http?: PolicyOut; tcp?: PolicyOut }>();

function diag(p: AuthorizationPolicy, severity: 'error' | 'warning', field: string, message: string): Diagnostic {
  return { severity, source: p.meta.source, kind: 'AuthorizationPolicy', namespace: p.meta.namespace, name: p.meta.name, field, message };
}

/** Translates one policy's rules for HTTP or TCP; cached per policy object (shared by all workloads). */
function policyEntries(p: AuthorizationPolicy, forTCP: boolean, keyPrefix: string): PolicyOut {
  let c = perPolicy.get(p);
  if (!c) { c = {}; perPolicy.set(p, c); }
  const cached = forTCP ? c.tcp : c.http;
  if (cached) return cached;
  const entries: Entries = [];
  const diagnostics: Diagnostic[] = [];
  const rules = p.rules ?? [];
  if (rules.length === 0) entries.push([keyPrefix + rbacPolicyName(p.meta.namespace, p.meta.name, 0), MATCH_NEVER]);
  rules.forEach((r, i) => {
    const res = ruleToPolicy(r, p.action, forTCP);
    if (res.dropped) diagnostics.push(diag(p, 'warning', `spec.rules[${i}]`, `ignored on TCP ports: ${res.dropped}`));
    if (res.ignoredFields.length) diagnostics.push(diag(p, 'warning', `spec.rules[${i}]`, `on TCP ports the HTTP-only ${res.ignoredFields.join(', ')} ${res.ignoredFields.length > 1 ? 'are' : 'is'} ignored, so this ${p.action} rule matches more requests`));
    if (res.policy) entries.push([keyPrefix + rbacPolicyName(p.meta.namespace, p.meta.name, i), res.policy]);
  });
  const out: PolicyOut = deepFreeze({ entries, diagnostics });
  if (forTCP) c.tcp = out; else c.http = out;
  return out;
}

function rbacConfig(action: 'ALLOW' | 'DENY' | 'LOG', entries: Entries): EnvoyObject {
  return { action, policies: Object.fromEntries(entries) };
}

const RBAC_ACTION: Readonly<Record<'ALLOW' | 'DENY' | 'AUDIT', 'ALLOW' | 'DENY' | 'LOG'>> = { ALLOW: 'ALLOW', DENY: 'DENY', AUDIT: 'LOG' };

function rbacFilter(protocol: 'http' | 'tcp', port: number, label: string, fields: { rules?: EnvoyObject; shadow_rules?: EnvoyObject; shadowPrefix?: string }): EnvoyObject {
  const common: Record<string, unknown> = {};
  if (fields.rules) common.rules = fields.rules;
  if (fields.shadow_rules) { common.shadow_rules = fields.shadow_rules; common.shadow_rules_stat_prefix = fields.shadowPrefix ?? `meshd_dry_run_${label}_`; }
  if (protocol === 'http') {
    return { name: Filter.HttpRbac, typed_config: typed(TypeName.HttpRbac, { ...common, rules_stat_prefix: `meshd_${label}_`, track_per_rule_stats: true }) };
  }
  return { name: Filter.NetworkRbac, typed_config: typed(TypeName.NetworkRbac, { ...common, stat_prefix: `meshd_${label}_${port}.` }) };
}

/** The authorizer's registry host: Istio's `service` is `host` or `namespace/host`, and must exist with that port. */
function providerTarget(snapshot: MeshSnapshot, p: ExtAuthzProvider): { host: string } | { problem: string } {
  const slash = p.service.indexOf('/');
  const ns = slash >= 0 ? p.service.slice(0, slash) : undefined;
  const host = slash >= 0 ? p.service.slice(slash + 1) : p.service;
  const hosts = allHosts(snapshot).filter((h) => h.hostname === host && (ns === undefined || h.namespace === ns));
  if (!hosts.length) return { problem: `extension provider "${p.name}": no service ${p.service} in the mesh registry (a Service or ServiceEntry)` };
  if (!hosts.some((h) => h.ports.some((rp) => rp.port === p.port))) return { problem: `extension provider "${p.name}": service ${p.service} has no port ${p.port}` };
  return { host };
}

function headerMatchers(headers: readonly string[] | undefined): EnvoyObject | undefined {
  if (!headers?.length) return undefined;
  return {
    patterns: headers.map((h) => h.startsWith('*') ? { suffix: h.slice(1), ignore_case: true }
      : h.endsWith('*') ? { prefix: h.slice(0, -1), ignore_case: true } : { exact: h, ignore_case: true }),
  };
}

function extAuthzFilter(protocol: 'http' | 'tcp', port: number, p: ExtAuthzProvider, host: string): EnvoyObject {
  const cluster = outboundClusterName(p.port, host);
  const timeout = `${(p.timeoutMs ?? 600_000) / 1000}s`;
  const enabled = (filter: string): EnvoyObject => ({
    filter, path: [{ key: `${EXT_AUTHZ_SHADOW_PREFIX}shadow_effective_policy_id` }],
    value: { string_match: { prefix: extAuthzKeyPrefix(p.name) } },
  });
  const grpc_service = { envoy_grpc: { cluster_name: cluster, authority: host }, timeout };
  const failure = p.failOpen ? { failure_mode_allow: true } : {};
  if (protocol === 'tcp') {
    return { name: ExtAuthzFilter.Network, typed_config: typed(ExtAuthzFilter.NetworkType, { stat_prefix: `meshd_ext_authz_${port}.`, grpc_service, ...failure, transport_api_version: 'V3', filter_enabled_metadata: enabled(Filter.NetworkRbac) }) };
  }
  const cfg: Record<string, unknown> = {};
  if (p.protocol === 'http') {
    const service: Record<string, unknown> = { server_uri: { uri: `http://${host}`, cluster, timeout } };
    if (p.pathPrefix) service.path_prefix = p.pathPrefix;
    const add = Object.keys(p.additionalHeaders ?? {}).sort();
    if (add.length) service.authorization_request = { headers_to_add: add.map((key) => ({ key, value: p.additionalHeaders![key] })) };
    if (p.headersToUpstreamOnAllow || p.headersToDownstreamOnDeny || p.headersToDownstreamOnAllow) {
      const r: Record<string, unknown> = {};
      const up = headerMatchers(p.headersToUpstreamOnAllow);
      const deny = headerMatchers(p.headersToDownstreamOnDeny);
      const ok = headerMatchers(p.headersToDownstreamOnAllow);
      if (up) r.allowed_upstream_headers = up;
      if (deny) r.allowed_client_headers = deny;
      if (ok) r.allowed_client_headers_on_success = ok;
      service.authorization_response = r;
    }
    cfg.http_service = service;
    const allowed = headerMatchers(p.includeRequestHeaders);
    if (allowed) cfg.allowed_headers = allowed;
  } else {
    cfg.grpc_service = grpc_service;
  }
  if (p.statusOnError !== undefined) cfg.status_on_error = { code: p.statusOnError };
  if (p.failOpen) cfg.failure_mode_allow = true;
  if (p.includeRequestBody) {
    const b = p.includeRequestBody;
    cfg.with_request_body = { max_request_bytes: b.maxRequestBytes, ...(b.allowPartialMessage ? { allow_partial_message: true } : {}), ...(b.packAsBytes ? { pack_as_bytes: true } : {}) };
  }
  return { name: ExtAuthzFilter.Http, typed_config: typed(ExtAuthzFilter.HttpType, { ...cfg, transport_api_version: 'V3', filter_enabled_metadata: enabled(Filter.HttpRbac) }) };
}

function customFilters(snapshot: MeshSnapshot, policies: readonly AuthorizationPolicy[], protocol: 'http' | 'tcp', port: number, diags: Diagnostic[]): EnvoyObject[] {
  const byProvider = new Map<string, AuthorizationPolicy[]>();
  for (const p of policies) {
    const name = p.provider?.name ?? '';
    if (p.dryRun) { diags.push(diag(p, 'warning', `metadata.annotations[istio.io/dry-run]`, 'dry-run is not supported for CUSTOM policies; the policy is skipped')); continue; }
    const l = byProvider.get(name);
    if (l) l.push(p); else byProvider.set(name, [p]);
  }
  const out: EnvoyObject[] = [];
  for (const name of [...byProvider.keys()].sort()) {
    const ps = byProvider.get(name)!;
    const provider = snapshot.config.extensionProviders.find((e) => e.name === name);
    const prefix = extAuthzKeyPrefix(name);
    const entries: Entries = [];
    for (const p of ps) {
      const r = policyEntries(p, protocol === 'tcp', prefix);
      entries.push(...r.entries);
      diags.push(...r.diagnostics);
    }
    const target = provider ? providerTarget(snapshot, provider) : undefined;
    const problem = !provider ? `no extension provider "${name}" in the mesh config`
      : target && 'problem' in target ? target.problem
        : provider.protocol === 'http' && protocol === 'tcp' ? `extension provider "${name}" is an HTTP authorizer (envoyExtAuthzHttp), which cannot check TCP traffic on port ${port}` : undefined;
    if (problem !== undefined || !provider || !target || 'problem' in target) {
      for (const p of ps) diags.push(diag(p, 'error', 'spec.provider.name', `${problem}: requests this policy would send to it are denied`));
      out.push(rbacFilter(protocol, port, 'bad_custom', { rules: rbacConfig('DENY', entries.map(([k, v]) => [k + BAD_CUSTOM_SUFFIX, v])) }));
      continue;
    }
    out.push(rbacFilter(protocol, port, 'ext_authz', { shadow_rules: rbacConfig('DENY', entries), shadowPrefix: EXT_AUTHZ_SHADOW_PREFIX }));
    out.push(extAuthzFilter(protocol, port, provider, target.host));
  }
  return out;
}

function actionFilter(action: 'ALLOW' | 'DENY' | 'AUDIT', policies: readonly AuthorizationPolicy[], protocol: 'http' | 'tcp', port: number, diags: Diagnostic[]): EnvoyObject | undefined {
  if (policies.length === 0) return undefined;
  const enforced: Entries = [];
  const shadow: Entries = [];
  let anyEnforced = false;
  let anyShadow = false;
  for (const p of policies) {
    const r = policyEntries(p, protocol === 'tcp', '');
    diags.push(...r.diagnostics);
    if (p.dryRun) { anyShadow = true; shadow.push(...r.entries); } else { anyEnforced = true; enforced.push(...r.entries); }
  }
  const ra = RBAC_ACTION[action];
  return rbacFilter(protocol, port, action.toLowerCase(), {
    ...(anyEnforced ? { rules: rbacConfig(ra, enforced) } : {}),
    ...(anyShadow ? { shadow_rules: rbacConfig(ra, shadow) } : {}),
  });
}

/** Freezes an object graph; stops at already-frozen objects (shared per-policy results). */
function deepFreeze<T>(o: T): T {
  if (typeof o !== 'object' || o === null || Object.isFrozen(o)) return o;
  Object.freeze(o);
  if (Array.isArray(o)) for (const v of o) deepFreeze(v);
  else for (const k in o) deepFreeze((o as Record<string, unknown>)[k]);
  return o;
}

const memo = new WeakMap<MeshSnapshot, Map<string, InboundAuthz>>();

/**
 * Builds the authorization filters for one inbound port of a workload (memoized per snapshot,
 * workload and port; the result is frozen). Only the filters for `protocol` are filled.
 */
export function inboundAuthz(snapshot: MeshSnapshot, workload: Workload, port: number, protocol: 'http' | 'tcp'): InboundAuthz {
  let bySnap = memo.get(snapshot);
  if (!bySnap) { bySnap = new Map(); memo.set(snapshot, bySnap); }
  const key = `${workload.namespace}/${workload.name}|${port}|${protocol}`;
  const hit = bySnap.get(key);
  if (hit) return hit;
  const groups: Record<AuthzAction, AuthorizationPolicy[]> = { CUSTOM: [], AUDIT: [], DENY: [], ALLOW: [] };
  for (const p of authorizationPoliciesFor(snapshot, workload)) groups[p.action].push(p);
  const diags: Diagnostic[] = [];
  const filters: EnvoyObject[] = [...customFilters(snapshot, groups.CUSTOM, protocol, port, diags)];
  for (const a of ['AUDIT', 'DENY', 'ALLOW'] as const) {
    const f = actionFilter(a, groups[a], protocol, port, diags);
    if (f) filters.push(f);
  }
  const out: InboundAuthz = deepFreeze({
    httpFilters: protocol === 'http' ? filters : [],
    networkFilters: protocol === 'tcp' ? filters : [],
    diagnostics: dedupe(diags),
  });
  bySnap.set(key, out);
  return out;
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => { const k = JSON.stringify(d); if (seen.has(k)) return false; seen.add(k); return true; });
}

/**
 * RequestAuthentication → Envoy's `jwt_authn` HTTP filter for a workload's inbound HTTP
 * chains (placed before RBAC). Istio's semantics: a request whose token fails validation is
 * rejected with 401; a request without a token passes (`allow_missing`) and authorization
 * decides. The verified payload is written to dynamic metadata under `payload`, which the
 * RBAC translation matches for `requestPrincipals` and `request.auth.*` (rbac-rule.ts).
 * Pure: fetched JWKS come in through the snapshot.
 */
import type { Diagnostic, JwtRule, MeshSnapshot, RequestAuthentication, Workload } from '../model/types.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../xds/resource-types.js';
import { selectorMatches } from './select.js';

/** The metadata key (in the jwt_authn filter's namespace) holding the verified payload. */
export const JWT_PAYLOAD_METADATA_KEY = 'payload';

/**
 * A JWKS with one P-256 public key whose private key was discarded when it was made: served
 * for a `jwksUri` not fetched yet, so every token of that issuer fails (401) instead of Envoy
 * refusing the whole listener.
 */
export const UNUSABLE_JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'IcxJEvawWw5G_k7MbxSDbQoKIQhgPXETXIO4ZMhh5z4', y: 'vzldYLst84LbdEOFT_YMa5BPbbyIgz0rvZbY9sUNwAs' }] });

/** RequestAuthentications that apply to a workload: its namespace and the root namespace, by selector; sorted. */
export function requestAuthenticationsFor(snapshot: MeshSnapshot, workload: Workload): RequestAuthentication[] {
  const root = snapshot.config.rootNamespace;
  return (snapshot.requestAuthentications ?? []).filter((p) =>
    (p.meta.namespace === root || p.meta.namespace === workload.namespace) && !p.targetRefs?.length &&
    (!p.selector || selectorMatches(p.selector, workload.labels)));
}

/** The provider name of rule `i` of a policy (stable, unique per workload). */
export function providerName(p: RequestAuthentication, i: number): string {
  return `${p.meta.namespace}/${p.meta.name}/${i}`;
}

function provider(rule: JwtRule, jwks: string): EnvoyObject {
  return {
    issuer: rule.issuer,
    ...(rule.audiences ? { audiences: rule.audiences } : {}),
    local_jwks: { inline_string: jwks },
    forward: rule.forwardOriginalToken,
    ...(rule.fromHeaders ? { from_headers: rule.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix !== undefined ? { value_prefix: h.prefix } : {}) })) } : {}),
    ...(rule.fromParams ? { from_params: rule.fromParams } : {}),
    ...(rule.fromCookies ? { from_cookies: rule.fromCookies } : {}),
    ...(rule.outputPayloadToHeader ? { forward_payload_header: rule.outputPayloadToHeader } : {}),
    ...(rule.outputClaimToHeaders ? { claim_to_headers: rule.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim })) } : {}),
    payload_in_metadata: JWT_PAYLOAD_METADATA_KEY,
  };
}

export interface JwtAuthnResult {
  readonly filter?: EnvoyObject;
  readonly diagnostics: readonly Diagnostic[];
}

const memo = new WeakMap<MeshSnapshot, Map<string, JwtAuthnResult>>();

/** The jwt_authn filter of a workload, or none when no RequestAuthentication applies (memoized per snapshot). */
export function jwtAuthnFilter(snapshot: MeshSnapshot, workload: Workload): JwtAuthnResult {
  let bySnap = memo.get(snapshot);
  if (!bySnap) { bySnap = new Map(); memo.set(snapshot, bySnap); }
  const key = `${workload.namespace}/${workload.name}`;
  const hit = bySnap.get(key);
  if (hit) return hit;
  const providers: Record<string, EnvoyObject> = {};
  const diagnostics: Diagnostic[] = [];
  for (const p of requestAuthenticationsFor(snapshot, workload)) {
    p.jwtRules.forEach((r, i) => {
      let jwks = r.jwks;
      if (jwks === undefined && r.jwksUri !== undefined) {
        jwks = snapshot.jwks?.[r.jwksUri];
        if (jwks === undefined) {
          diagnostics.push({ severity: 'warning', source: p.meta.source, kind: 'RequestAuthentication', namespace: p.meta.namespace, name: p.meta.name, field: `spec.jwtRules[${i}].jwksUri`, message: `no keys fetched yet from ${r.jwksUri}: tokens of issuer ${r.issuer} are rejected (401) until they are` });
          jwks = UNUSABLE_JWKS;
        }
      }
      providers[providerName(p, i)] = provider(r, jwks ?? UNUSABLE_JWKS);
    });
  }
  const names = Object.keys(providers).sort();
  const out: JwtAuthnResult = names.length === 0 ? { diagnostics } : {
    diagnostics,
    filter: {
      name: Filter.HttpJwtAuthn,
      typed_config: typed(TypeName.HttpJwtAuthn, {
        providers: Object.fromEntries(names.map((n) => [n, providers[n]!])),
        rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [...names.map((n) => ({ provider_name: n })), { allow_missing: {} }] } } }],
      }),
    },
  };
  Object.freeze(out);
  bySnap.set(key, out);
  return out;
}

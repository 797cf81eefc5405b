/**
 * RBAC matchers on the JWT payload that `jwt_authn` leaves in dynamic metadata (see
 * request-authn-filter.ts): `requestPrincipals` / `request.auth.principal` (`<iss>/<sub>`),
 * `request.auth.claims[...]`, `audiences` and `presenter`. Envoy has no principal string, so
 * `<iss>/<sub>` is matched as iss AND sub, split at the last `/` (a `sub` containing `/` is
 * not matched by an exact principal; Istio's own filter is not on stock Envoy).
 */
import type { EnvoyObject } from '../xds/resource-types.js';
import { Filter } from '../xds/resource-types.js';
import { JWT_PAYLOAD_METADATA_KEY } from './request-authn-filter.js';

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Istio's wildcard value as an Envoy StringMatcher: exact, `x*`, `*x`, `*` (non-empty). */
function matcher(v: string): EnvoyObject {
  if (v === '*') return { safe_regex: { regex: '.+' } };
  if (v.startsWith('*')) return { suffix: v.slice(1) };
  if (v.endsWith('*')) return { prefix: v.slice(0, -1) };
  return { exact: v };
}

/** A metadata matcher on a payload field. */
function payload(path: readonly string[], value: EnvoyObject): EnvoyObject {
  return { metadata: { filter: Filter.HttpJwtAuthn, path: [JWT_PAYLOAD_METADATA_KEY, ...path].map((key) => ({ key })), value } };
}

/** A claim that may be a string or a list of strings (as `aud` and `groups` are). */
export function claimMatcher(path: readonly string[], v: string): EnvoyObject {
  const sm = matcher(v);
  return { or_ids: { ids: [payload(path, { string_match: sm }), payload(path, { list_match: { one_of: { string_match: sm } } })] } };
}

const NEVER: EnvoyObject = { not_id: { any: true } };

function both(iss: EnvoyObject | undefined, sub: EnvoyObject | undefined): EnvoyObject {
  const ids = [...(iss ? [payload(['iss'], { string_match: iss })] : []), ...(sub ? [payload(['sub'], { string_match: sub })] : [])];
  return ids.length === 1 ? ids[0]! : { and_ids: { ids } };
}

/** `request.auth.principal` value (`<iss>/<sub>`, with Istio's wildcards) as payload matchers. */
export function requestPrincipalMatcher(v: string): EnvoyObject {
  if (v === '*') return payload(['iss'], { present_match: true });
  if (v.endsWith('*')) {
    const p = v.slice(0, -1);
    const i = p.lastIndexOf('/');
    if (i < 0) return payload(['iss'], { string_match: { prefix: p } });
    const rest = p.slice(i + 1);
    return both({ exact: p.slice(0, i) }, rest ? { prefix: rest } : { safe_regex: { regex: '.+' } });
  }
  if (v.startsWith('*')) {
    const s = v.slice(1);
    const i = s.lastIndexOf('/');
    if (i < 0) return payload(['sub'], { string_match: { suffix: s } });
    const issSuffix = s.slice(0, i);
    return both(issSuffix ? { safe_regex: { regex: `.*${escapeRegex(issSuffix)}` } } : undefined, { exact: s.slice(i + 1) });
  }
  const i = v.lastIndexOf('/');
  if (i <= 0 || i === v.length - 1) return NEVER;
  return both({ exact: v.slice(0, i) }, { exact: v.slice(i + 1) });
}

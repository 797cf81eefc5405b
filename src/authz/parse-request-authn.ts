/**
 * RequestAuthentication validation (`security.istio.io/v1` and `v1beta1`): Istio's schema,
 * strictly. Inline `jwks` must be a JSON Web Key Set Envoy can load; `jwksUri` is fetched by
 * meshd (jwks-fetcher.ts); one of the two is required (OpenID discovery is not done).
 */
import type { JwtHeader, JwtRule, RequestAuthentication } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { checkKeys, issues, parseEnvelope, readObject, readObjectList, readSelector, readString, readStringList, isRecord } from './parse-util.js';
import type { Issues, RawObject } from './parse-util.js';

const RULE_FIELDS = ['issuer', 'audiences', 'jwksUri', 'jwks', 'fromHeaders', 'fromParams', 'fromCookies', 'outputPayloadToHeader', 'forwardOriginalToken', 'outputClaimToHeaders', 'timeout'];
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]+$/i;

/** Checks a JWKS text; undefined when good, else why not. */
export function jwksProblem(text: string): string | undefined {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch { return 'is not JSON'; }
  if (!isRecord(doc) || !Array.isArray(doc.keys) || doc.keys.length === 0) return 'must be a JSON Web Key Set with a non-empty "keys" list';
  for (const [i, k] of doc.keys.entries()) {
    if (!isRecord(k) || typeof k.kty !== 'string') return `keys[${i}] has no "kty"`;
    if (k.kty === 'RSA' && (typeof k.n !== 'string' || typeof k.e !== 'string')) return `keys[${i}]: an RSA key needs "n" and "e"`;
    if (k.kty === 'EC' && (typeof k.x !== 'string' || typeof k.y !== 'string' || typeof k.crv !== 'string')) return `keys[${i}]: an EC key needs "crv", "x" and "y"`;
  }
  return undefined;
}

function readHeaders(o: RawObject, path: string, is: Issues): JwtHeader[] | undefined {
  const list = readObjectList(o, 'fromHeaders', path, is);
  if (!list) return undefined;
  const out: JwtHeader[] = [];
  for (const h of list) {
    checkKeys(h.item, ['name', 'prefix'], h.path, is);
    const name = readString(h.item, 'name', h.path, is);
    const prefix = readString(h.item, 'prefix', h.path, is);
    if (!name) { is.error(`${h.path}.name`, 'is required'); continue; }
    if (!HEADER.test(name)) { is.error(`${h.path}.name`, `"${name}" is not a header name`); continue; }
    out.push({ name: name.toLowerCase(), ...(prefix !== undefined ? { prefix } : {}) });
  }
  return out;
}

function readRule(o: RawObject, path: string, is: Issues): JwtRule | undefined {
  checkKeys(o, RULE_FIELDS, path, is);
  const issuer = readString(o, 'issuer', path, is);
  if (!issuer) { is.error(`${path}.issuer`, 'is required'); return undefined; }
  const jwks = readString(o, 'jwks', path, is);
  const jwksUri = readString(o, 'jwksUri', path, is);
  if (jwks !== undefined && jwksUri !== undefined) is.error(`${path}.jwks`, 'jwks and jwksUri are mutually exclusive');
  if (jwks === undefined && jwksUri === undefined) is.error(`${path}.jwksUri`, 'jwks or jwksUri is required (OpenID discovery from the issuer is not done)');
  if (jwks !== undefined) { const p = jwksProblem(jwks); if (p) is.error(`${path}.jwks`, p); }
  if (jwksUri !== undefined && !/^https?:\/\/[^\s/]+/.test(jwksUri)) is.error(`${path}.jwksUri`, `"${jwksUri}" is not an http(s) URL`);
  const fwd = o.forwardOriginalToken;
  if (fwd !== undefined && typeof fwd !== 'boolean') is.error(`${path}.forwardOriginalToken`, 'must be true or false');
  const out = readString(o, 'outputPayloadToHeader', path, is);
  if (out !== undefined && !HEADER.test(out)) is.error(`${path}.outputPayloadToHeader`, `"${out}" is not a header name`);
  const claimHeaders: { header: string; claim: string }[] = [];
  for (const c of readObjectList(o, 'outputClaimToHeaders', path, is) ?? []) {
    checkKeys(c.item, ['header', 'claim'], c.path, is);
    const header = readString(c.item, 'header', c.path, is);
    const claim = readString(c.item, 'claim', c.path, is);
    if (!header || !HEADER.test(header)) { is.error(`${c.path}.header`, 'must be a header name'); continue; }
    if (!claim) { is.error(`${c.path}.claim`, 'is required'); continue; }
    claimHeaders.push({ header: header.toLowerCase(), claim });
  }
  if (o.timeout !== undefined) is.warn(`${path}.timeout`, 'is ignored: meshd fetches JWKS with its own timeout (10 s)');
  const audiences = readStringList(o, 'audiences', path, is);
  const fromHeaders = readHeaders(o, path, is);
  const fromParams = readStringList(o, 'fromParams', path, is);
  const fromCookies = readStringList(o, 'fromCookies', path, is);
  return {
    issuer,
    ...(audiences?.length ? { audiences } : {}),
    ...(jwks !== undefined ? { jwks } : {}),
    ...(jwksUri !== undefined ? { jwksUri } : {}),
    ...(fromHeaders?.length ? { fromHeaders } : {}),
    ...(fromParams?.length ? { fromParams } : {}),
    ...(fromCookies?.length ? { fromCookies } : {}),
    ...(out !== undefined ? { outputPayloadToHeader: out.toLowerCase() } : {}),
    ...(claimHeaders.length ? { outputClaimToHeaders: claimHeaders } : {}),
    forwardOriginalToken: fwd === true,
  };
}

/** Validates a raw RequestAuthentication; a policy with no valid rule is still valid (it checks nothing). */
export function parseRequestAuthentication(raw: unknown, ctx: ParseContext): ParseResult<RequestAuthentication> {
  const is = issues('RequestAuthentication', ctx);
  const env = parseEnvelope(raw, 'RequestAuthentication', ctx, is);
  if (!env) return { ok: false, diagnostics: is.list };
  const { spec } = env;
  checkKeys(spec, ['selector', 'targetRef', 'targetRefs', 'jwtRules'], 'spec', is);
  const selector = readSelector(spec, is);
  const targetRefs: unknown[] = [];
  const single = readObject(spec, 'targetRef', 'spec', is);
  if (single) targetRefs.push(single);
  targetRefs.push(...(readObjectList(spec, 'targetRefs', 'spec', is) ?? []).map((m) => m.item));
  if (targetRefs.length && selector) is.error('spec.selector', 'selector and targetRef(s) are mutually exclusive');
  if (targetRefs.length) is.warn('spec.targetRefs', 'targetRefs (waypoints and gateways) are not supported: this policy applies to no sidecar');
  const jwtRules: JwtRule[] = [];
  const issuers = new Set<string>();
  for (const r of readObjectList(spec, 'jwtRules', 'spec', is) ?? []) {
    const rule = readRule(r.item, r.path, is);
    if (!rule) continue;
    if (issuers.has(rule.issuer)) is.error(`${r.path}.issuer`, `issuer "${rule.issuer}" appears twice in this policy`);
    issuers.add(rule.issuer);
    jwtRules.push(rule);
  }
  if (is.hasErrors()) return { ok: false, diagnostics: is.list };
  return { ok: true, value: { meta: env.meta, apiVersion: env.apiVersion, ...(selector ? { selector } : {}), ...(targetRefs.length ? { targetRefs } : {}), jwtRules }, warnings: is.list };
}

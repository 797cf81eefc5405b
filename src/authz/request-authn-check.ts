/**
 * `meshctl authz check --jwt TOKEN` / `--claims JSON`: what Envoy's jwt_authn filter (as
 * request-authn-filter.ts configures it) would do with the request. A token is checked as
 * Envoy does: a provider for its issuer, signature against that provider's inline JWKS,
 * `exp`/`nbf` (60 s skew), audiences. `--claims` stands for a token that verified with these
 * claims. Missing token: passes. A failure: 401 (403 for a wrong audience, as Envoy answers).
 */
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto';

type Obj = Readonly<Record<string, unknown>>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JWT side of a checked call. */
export interface CallJwt {
  /** A compact JWS, as presented in `Authorization: Bearer`. */
  readonly token?: string;
  /** Claims of a token taken as verified. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

export type JwtVerdict =
  | { readonly ok: true; readonly payload?: Obj; readonly provider?: string }
  /** Envoy answers 401, except 403 for a token whose audience is not allowed. */
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string };

const ALGS: Readonly<Record<string, { hash: string; kind: 'rsa' | 'rsa-pss' | 'ec' }>> = {
  RS256: { hash: 'sha256', kind: 'rsa' }, RS384: { hash: 'sha384', kind: 'rsa' }, RS512: { hash: 'sha512', kind: 'rsa' },
  PS256: { hash: 'sha256', kind: 'rsa-pss' }, PS384: { hash: 'sha384', kind: 'rsa-pss' }, PS512: { hash: 'sha512', kind: 'rsa-pss' },
  ES256: { hash: 'sha256', kind: 'ec' }, ES384: { hash: 'sha384', kind: 'ec' }, ES512: { hash: 'sha512', kind: 'ec' },
};

function decodePart(p: string | undefined): Obj | undefined {
  if (!p || !/^[A-Za-z0-9_-]+$/.test(p)) return undefined;
  try { const v: unknown = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')); return isObj(v) ? v : undefined; } catch { return undefined; }
}

function keysOf(jwks: string, kid: unknown): KeyObject[] {
  let doc: unknown;
  try { doc = JSON.parse(jwks); } catch { return []; }
  const keys = isObj(doc) && Array.isArray(doc.keys) ? doc.keys.filter(isObj) : [];
  const out: KeyObject[] = [];
  for (const k of keys) {
    if (kid !== undefined && k.kid !== undefined && k.kid !== kid) continue;
    try { out.push(createPublicKey({ key: k as never, format: 'jwk' })); } catch { /* a key Envoy would skip too */ }
  }
  return out;
}

function signatureOk(token: string, alg: string, keys: readonly KeyObject[]): boolean {
  const a = ALGS[alg];
  if (!a) return false;
  const [h, p, s] = token.split('.') as [string, string, string];
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  return keys.some((key) => {
    try {
      if (a.kind === 'ec') return key.asymmetricKeyType === 'ec' && verify(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
      if (a.kind === 'rsa-pss') return key.asymmetricKeyType === 'rsa' && verify(a.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
      return key.asymmetricKeyType === 'rsa' && verify(a.hash, data, key, sig);
    } catch { return false; }
  });
}

/** Runs a jwt_authn filter config (Envoy JSON form) on a call's JWT. */
export function checkJwtAuthn(cfg: Obj, jwt: CallJwt | undefined, nowMs: number = Date.now()): JwtVerdict {
  const providers = isObj(cfg.providers) ? cfg.providers : {};
  if (jwt?.claims) return { ok: true, payload: jwt.claims };
  const token = jwt?.token?.trim();
  if (!token) return { ok: true };
  const parts = token.split('.');
  const header = decodePart(parts[0]);
  const payload = decodePart(parts[1]);
  if (parts.length !== 3 || !header || !payload) return { ok: false, status: 401, reason: 'Jwt is not in the form of Header.Payload.Signature' };
  const entry = Object.entries(providers).find(([, p]) => isObj(p) && p.issuer === payload.iss);
  if (!entry || !isObj(entry[1])) return { ok: false, status: 401, reason: `Jwt issuer ${JSON.stringify(payload.iss)} is not configured` };
  const [name, p] = entry;
  const now = Math.floor(nowMs / 1000);
  if (typeof payload.exp === 'number' && now >= payload.exp + 60) return { ok: false, status: 401, reason: 'Jwt is expired' };
  if (typeof payload.nbf === 'number' && now + 60 < payload.nbf) return { ok: false, status: 401, reason: 'Jwt not yet valid' };
  const auds = Array.isArray(p.audiences) ? p.audiences.map(String) : [];
  if (auds.length) {
    const tokenAud = Array.isArray(payload.aud) ? payload.aud.map(String) : typeof payload.aud === 'string' ? [payload.aud] : [];
    if (!tokenAud.some((a) => auds.includes(a))) return { ok: false, status: 403, reason: 'Audiences in Jwt are not allowed' };
  }
  const jwks = isObj(p.local_jwks) && typeof p.local_jwks.inline_string === 'string' ? p.local_jwks.inline_string : '';
  if (!signatureOk(token, String(header.alg), keysOf(jwks, header.kid))) return { ok: false, status: 401, reason: 'Jwt verification fails' };
  return { ok: true, payload, provider: name };
}

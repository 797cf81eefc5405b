/**
 * Join tokens for the file-store mode: compact JWS (ES256) scoped to one identity, with
 * claims sub (SPIFFE id), ns, sa, iat, exp, aud "meshd". The signing key lives in the state
 * dir (0600).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Identity } from '../model/types.js';
import { spiffeId } from '../model/types.js';
import { CaError } from './errors.js';
import { readPrivateFile, writeFileAtomic } from './secret-file.js';
import { isValidWorkloadName, parseSpiffeId } from './spiffe.js';

export const JOIN_TOKEN_AUDIENCE = 'meshd';
const MAX_TOKEN_TTL_SECONDS = 366 * 86_400;
const CLOCK_SKEW_SECONDS = 60;

export interface JoinTokenRequest {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly ttlSeconds: number;
  /** Default `cluster.local`. */
  readonly trustDomain?: string;
}

export interface JoinTokenClaims {
  readonly sub: string;
  readonly ns: string;
  readonly sa: string;
  readonly iat: number;
  readonly exp: number;
  readonly aud: string;
}

export type JoinTokenError = 'expired' | 'not-yet-valid' | 'bad-signature' | 'malformed' | 'wrong-audience' | 'wrong-identity';

export type JoinTokenResult =
  | { readonly ok: true; readonly identity: Identity; readonly claims: JoinTokenClaims }
  | { readonly ok: false; readonly error: JoinTokenError; readonly message: string };

const HEADER = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT' })).toString('base64url');

/** Mints a token for one identity; throws INVALID_CONFIG for bad names or TTL. */
export function mintJoinToken(req: JoinTokenRequest, signingKey: KeyObject, nowMs: number = Date.now()): string {
  if (!isValidWorkloadName(req.namespace, req.serviceAccount)) throw new CaError('INVALID_CONFIG', `invalid namespace/service account "${req.namespace}/${req.serviceAccount}"`);
  if (!Number.isInteger(req.ttlSeconds) || req.ttlSeconds <= 0 || req.ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new CaError('INVALID_CONFIG', `token ttl must be 1..${MAX_TOKEN_TTL_SECONDS} seconds`);
  }
  const iat = Math.floor(nowMs / 1000);
  const identity: Identity = { trustDomain: req.trustDomain ?? 'cluster.local', namespace: req.namespace, serviceAccount: req.serviceAccount };
  const claims: JoinTokenClaims = { sub: spiffeId(identity), ns: req.namespace, sa: req.serviceAccount, iat, exp: iat + req.ttlSeconds, aud: JOIN_TOKEN_AUDIENCE };
  const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const sig = sign('sha256', Buffer.from(signingInput), { key: signingKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${sig.toString('base64url')}`;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Verifies a token: signature (ES256), audience, expiry (60 s skew), and that sub, ns and sa
 * name the same identity (in `trustDomain` when given). Errors are typed, never thrown.
 */
export function verifyJoinToken(token: string, publicKey: KeyObject, nowMs: number = Date.now(), opts: { trustDomain?: string } = {}): JoinTokenResult {
  const fail = (error: JoinTokenError, message: string): JoinTokenResult => ({ ok: false, error, message });
  const parts = token.trim().split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return fail('malformed', 'not a compact JWS');
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return fail('malformed', 'header or payload is not JSON');
  }
  if (typeof header !== 'object' || header === null || (header as Record<string, unknown>)['alg'] !== 'ES256') return fail('malformed', 'alg must be ES256');
  const sig = Buffer.from(parts[2]!, 'base64url');
  let good = false;
  try {
    good = sig.length === 64 && verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    good = false;
  }
  if (!good) return fail('bad-signature', 'signature does not verify');
  if (typeof payload !== 'object' || payload === null) return fail('malformed', 'payload is not an object');
  const c = payload as Record<string, unknown>;
  const { sub, ns, sa, iat, exp, aud } = c;
  if (typeof sub !== 'string' || typeof ns !== 'string' || typeof sa !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') {
    return fail('malformed', 'claims sub, ns, sa, iat, exp are required');
  }
  const audOk = aud === JOIN_TOKEN_AUDIENCE || (Array.isArray(aud) && aud.includes(JOIN_TOKEN_AUDIENCE));
  if (!audOk) return fail('wrong-audience', `audience must include "${JOIN_TOKEN_AUDIENCE}"`);
  const now = Math.floor(nowMs / 1000);
  if (now >= exp + CLOCK_SKEW_SECONDS) return fail('expired', `token expired at ${new Date(exp * 1000).toISOString()}`);
  if (iat > now + CLOCK_SKEW_SECONDS) return fail('not-yet-valid', 'token issued in the future');
  const identity = parseSpiffeId(sub);
  if (!identity || identity.namespace !== ns || identity.serviceAccount !== sa) return fail('wrong-identity', 'sub does not match ns/sa');
  if (opts.trustDomain && identity.trustDomain !== opts.trustDomain) return fail('wrong-identity', `trust domain ${identity.trustDomain} is not ${opts.trustDomain}`);
  return { ok: true, identity, claims: { sub, ns, sa, iat, exp, aud: JOIN_TOKEN_AUDIENCE } };
}

/**
 * The join-token signing key in `<state-dir>/ca/join-token-key.pem` (0600), created once,
 * with its public half beside it. A missing key whose public half is still there was deleted,
 * not never made: meshd refuses to start rather than silently replace it (which would make
 * every join token in use fail).
 */
export function loadOrCreateTokenSigningKey(stateDir: string): { privateKey: KeyObject; publicKey: KeyObject; path: string } {
  const path = join(stateDir, 'ca', 'join-token-key.pem');
  const pubPath = join(stateDir, 'ca', 'join-token-key.pub.pem');
  if (!existsSync(path)) {
    if (existsSync(pubPath)) {
      throw new CaError('STATE_CORRUPT', `join-token key ${path} is missing but ${pubPath} shows it was made; replacing it would make every join token in use fail. Restore the key from a backup, or delete ${pubPath} to make a new key (then mint new tokens)`);
    }
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileAtomic(path, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  }
  const pem = readPrivateFile(path);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new CaError('STATE_CORRUPT', `corrupt join-token key file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CaError('STATE_CORRUPT', `corrupt join-token key file ${path}: expected a P-256 key`);
  }
  const publicKey = createPublicKey(privateKey);
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  if (!existsSync(pubPath)) writeFileAtomic(pubPath, pubPem, 0o644);
  else if (readFileSync(pubPath, 'utf8') !== pubPem) {
    throw new CaError('STATE_CORRUPT', `join-token key ${path} does not match ${pubPath}: the key was replaced, so join tokens in use would fail. Restore the key from a backup, or delete ${pubPath} to accept the new key`);
  }
  return { privateKey, publicKey, path };
}

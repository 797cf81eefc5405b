/**
 * Who is calling: authenticators turn a request's credentials into a verified Identity.
 * Identity comes only from a credential (join token, Kubernetes token, client certificate),
 * never from node metadata.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { Identity } from '../model/types.js';
import type { AuthFailureReason } from './metrics.js';
import { parseSpiffeId } from './spiffe.js';
import { verifyJoinToken } from './tokens.js';
import type { ParsedCertificate } from './x509.js';

/** The credentials of one request, independent of the transport. */
export interface AuthContext {
  /** The `authorization` header value, if any. */
  readonly authorization?: string;
  /** The TLS peer's leaf certificate (DER), if the caller presented one. */
  readonly peerCertificate?: Buffer;
}

export type AuthMethod = 'join-token' | 'kubernetes' | 'client-certificate';

export type AuthResult =
  | { readonly ok: true; readonly identity: Identity; readonly method: AuthMethod; readonly notAfter?: Date }
  | { readonly ok: false; readonly reason: AuthFailureReason; readonly message: string };

export interface Authenticator {
  authenticate(ctx: AuthContext): Promise<AuthResult>;
}

const NO_CREDENTIALS: AuthResult = { ok: false, reason: 'no-credentials', message: 'no credentials presented' };

/** The bearer token of an `authorization` value, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  return m ? m[1] : undefined;
}

/** Reads the credentials of a gRPC server call (metadata + TLS peer certificate). */
export function authContextFromCall(call: { readonly metadata: Metadata; getAuthContext?(): { sslPeerCertificate?: { raw?: Buffer } } | null }): AuthContext {
  const auth = call.metadata.get('authorization')[0];
  const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
  return {
    authorization: typeof auth === 'string' ? auth : undefined,
    peerCertificate: raw && raw.length > 0 ? raw : undefined,
  };
}

/**
 * Tries each authenticator in order; the first success wins. If none succeeds, the reason is
 * the first failure other than "no credentials" (so a bad token is reported as such), and the
 * message names every authenticator's objection (a Kubernetes token refused by TokenReview is
 * not reported only as "not a join token").
 */
export function chainAuthenticators(list: readonly Authenticator[]): Authenticator {
  return {
    async authenticate(ctx) {
      const failures: { reason: AuthFailureReason; message: string }[] = [];
      for (const a of list) {
        const r = await a.authenticate(ctx);
        if (r.ok) return r;
        if (r.reason !== 'no-credentials') failures.push(r);
      }
      if (failures.length === 0) return NO_CREDENTIALS;
      return { ok: false, reason: failures[0]!.reason, message: failures.map((f) => f.message).join('; ') };
    },
  };
}

/** Authenticates `authorization: Bearer <join token>` against the join-token public key. */
export function joinTokenAuthenticator(publicKey: KeyObject, opts: { trustDomain?: string; now?: () => number } = {}): Authenticator {
  return {
    async authenticate(ctx) {
      const token = bearerToken(ctx.authorization);
      if (!token) return NO_CREDENTIALS;
      const r = verifyJoinToken(token, publicKey, (opts.now ?? Date.now)(), { trustDomain: opts.trustDomain });
      return r.ok ? { ok: true, identity: r.identity, method: 'join-token' } : { ok: false, reason: r.error, message: `join token: ${r.message}` };
    },
  };
}

/** Reads `authorization: Bearer <token>` from gRPC metadata and verifies it as a join token. */
export async function authenticateMetadata(metadata: Metadata, publicKey: KeyObject, opts: { trustDomain?: string; now?: () => number } = {}): Promise<AuthResult> {
  const v = metadata.get('authorization')[0];
  return joinTokenAuthenticator(publicKey, opts).authenticate({ authorization: typeof v === 'string' ? v : undefined });
}

/** The Kubernetes side, implemented with a TokenReview call by the Kubernetes module. */
export interface TokenReviewer {
  review(token: string): Promise<{ readonly authenticated: boolean; readonly username?: string; readonly error?: string }>;
}

/** Authenticates a Kubernetes service-account token via TokenReview (`system:serviceaccount:<ns>:<sa>`). */
export function kubernetesAuthenticator(reviewer: TokenReviewer, trustDomain: string): Authenticator {
  return {
    async authenticate(ctx) {
      const token = bearerToken(ctx.authorization);
      if (!token) return NO_CREDENTIALS;
      let r: Awaited<ReturnType<TokenReviewer['review']>>;
      try {
        r = await reviewer.review(token);
      } catch (e) {
        return { ok: false, reason: 'rejected', message: `TokenReview failed: ${e instanceof Error ? e.message : String(e)}` };
      }
      if (!r.authenticated) return { ok: false, reason: 'rejected', message: `TokenReview: ${r.error ?? 'not authenticated'}` };
      const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(r.username ?? '');
      if (!m) return { ok: false, reason: 'wrong-identity', message: `TokenReview user ${r.username ?? ''} is not a service account` };
      return { ok: true, identity: { trustDomain, namespace: m[1]!, serviceAccount: m[2]! }, method: 'kubernetes' };
    },
  };
}

/** What the client-certificate authenticator needs from the CA. */
export interface IssuerSource {
  readonly trustDomain: string;
  issuerCertificates(): readonly ParsedCertificate[];
}

/**
 * Authenticates a TLS peer certificate issued by this CA (any current issuer): signature,
 * validity, and a SPIFFE URI SAN in the CA's trust domain.
 */
export function clientCertificateAuthenticator(ca: IssuerSource, opts: { now?: () => number } = {}): Authenticator {
  return {
    async authenticate(ctx) {
      if (!ctx.peerCertificate) return NO_CREDENTIALS;
      let leaf: X509Certificate;
      try {
        leaf = new X509Certificate(ctx.peerCertificate);
      } catch {
        return { ok: false, reason: 'malformed', message: 'peer certificate does not parse' };
      }
      const signedByUs = ca.issuerCertificates().some((i) => {
        const issuer = new X509Certificate(i.der);
        return leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey);
      });
      if (!signedByUs) return { ok: false, reason: 'untrusted-certificate', message: 'peer certificate was not issued by this CA' };
      const now = (opts.now ?? Date.now)();
      if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) return { ok: false, reason: 'expired', message: 'peer certificate is outside its validity period' };
      const uris = (leaf.subjectAltName ?? '').split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4).replace(/^"|"$/g, ''));
      const ids = uris.map(parseSpiffeId).filter((x): x is Identity => x !== undefined && x.trustDomain === ca.trustDomain);
      if (ids.length !== 1) return { ok: false, reason: 'no-spiffe-id', message: 'peer certificate has no single SPIFFE id in this trust domain' };
      return { ok: true, identity: ids[0]!, method: 'client-certificate', notAfter: new Date(Date.parse(leaf.validTo)) };
    },
  };
}

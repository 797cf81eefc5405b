/**
 * Admin credentials: a bearer token is checked against the local admin token first, then
 * against any further verifiers (Kubernetes: TokenReview plus a SubjectAccessReview on a
 * meshd verb). A token that none accepts is refused with the verifiers' reasons; the token
 * itself never appears in a result, a message or a log.
 */
import type { AccessNeed } from './access.js';
import { tokenMatcher } from './admin-token.js';

/** A credential accepted (who it is) or refused (why, never the token). */
export type VerifyResult =
  | { readonly ok: true; readonly who: string }
  | { readonly ok: false; readonly reason: 'bad-credential' | 'forbidden'; readonly message: string };

/** One way of accepting an admin bearer token for what a route needs. */
export interface AdminVerifier {
  verify(token: string, need: AccessNeed): Promise<VerifyResult>;
}

/** Accepts exactly the local admin token (any route). */
export function localTokenVerifier(expected: string): AdminVerifier {
  const matches = tokenMatcher(expected);
  return {
    async verify(token) {
      return matches(token) ? { ok: true, who: 'admin-token' } : { ok: false, reason: 'bad-credential', message: 'not the admin token' };
    },
  };
}

/**
 * Tries each verifier in order; the first acceptance wins. A refusal is `forbidden` when some
 * verifier recognised the caller but refused the verb (RBAC), else `bad-credential`.
 */
export function chainVerifiers(list: readonly AdminVerifier[]): AdminVerifier {
  return {
    async verify(token, need) {
      const refusals: { reason: 'bad-credential' | 'forbidden'; message: string }[] = [];
      for (const v of list) {
        const r = await v.verify(token, need);
        if (r.ok) return r;
        refusals.push(r);
      }
      const forbidden = refusals.find((r) => r.reason === 'forbidden');
      return { ok: false, reason: forbidden ? 'forbidden' : 'bad-credential', message: (forbidden ? [forbidden] : refusals).map((r) => r.message).join('; ') };
    },
  };
}

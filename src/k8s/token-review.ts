/**
 * The Kubernetes credential: a service-account token checked with a TokenReview bound to an
 * audience (default `istio-ca`, as Istio's projected tokens): a token minted for any other
 * audience (for example the API server's own) is refused. Successful reviews are cached
 * briefly by token hash so a burst of streams and CSRs costs one API call.
 */
import { createHash } from 'node:crypto';
import type { TokenReviewer } from '../ca/auth.js';
import { isRecord } from '../config/fields.js';
import type { KubeClient } from './kube-client.js';
import { TOKEN_AUDIENCE } from './inject.js';

export interface TokenReviewOptions {
  readonly audiences?: readonly string[];
  /** How long a positive answer is reused; default 30 s. Negative answers are not cached. */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

/** A TokenReviewer backed by `POST /apis/authentication.k8s.io/v1/tokenreviews`. */
export function tokenReviewer(client: KubeClient, o: TokenReviewOptions = {}): TokenReviewer & { calls: number } {
  const audiences = o.audiences ?? [TOKEN_AUDIENCE];
  const cacheMs = o.cacheMs ?? 30_000;
  const now = o.now ?? Date.now;
  const cache = new Map<string, { at: number; username: string }>();
  const r = {
    calls: 0,
    async review(token: string) {
      const key = createHash('sha256').update(token).digest('hex');
      const hit = cache.get(key);
      if (hit && now() - hit.at < cacheMs) return { authenticated: true, username: hit.username };
      r.calls++;
      const body = await client.json('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
      });
      const st = isRecord(body) && isRecord(body.status) ? body.status : {};
      if (st.authenticated !== true) return { authenticated: false, error: typeof st.error === 'string' && st.error ? st.error : 'token not authenticated' };
      // The API server answers with the audiences it matched; none of ours means not for us.
      const got = Array.isArray(st.audiences) ? st.audiences.filter((a): a is string => typeof a === 'string') : [];
      if (!got.some((a) => audiences.includes(a))) return { authenticated: false, error: `token audience is not ${audiences.join(' or ')}` };
      const username = isRecord(st.user) && typeof st.user.username === 'string' ? st.user.username : '';
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { at: now(), username });
      return { authenticated: true, username };
    },
  };
  return r;
}

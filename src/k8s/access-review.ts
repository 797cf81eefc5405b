/**
 * Admin credentials in Kubernetes: a bearer token is authenticated by a TokenReview for the
 * API server's own audience (what `kubectl create token` mints; workload tokens for
 * `istio-ca` are not accepted), then the user it names must be allowed the route's verb on
 * `<resource>.meshd.dev` by a SubjectAccessReview (RBAC, like any other API). Positive
 * answers are reused for 10 s per token digest and verb; negative ones are not cached.
 */
import { createHash } from 'node:crypto';
import type { AccessNeed } from '../admin/access.js';
import type { AdminVerifier } from '../admin/credentials.js';
import { isRecord } from '../config/fields.js';
import { KubeError, type KubeClient } from './kube-client.js';

/** The API group meshd's RBAC verbs are asked for. */
export const MESHD_API_GROUP = 'meshd.dev';

interface User { readonly username: string; readonly uid?: string; readonly groups: readonly string[]; readonly extra?: Record<string, unknown> }

/** A verifier asking the API server (TokenReview, then SubjectAccessReview). */
export function kubernetesAdminVerifier(client: KubeClient, o: { cacheMs?: number; now?: () => number } = {}): AdminVerifier & { reviews: number } {
  const cacheMs = o.cacheMs ?? 10_000;
  const now = o.now ?? Date.now;
  const cache = new Map<string, { at: number; who: string }>();
  const v = {
    reviews: 0,
    async verify(token: string, need: AccessNeed) {
      const key = `${createHash('sha256').update(token).digest('hex')}|${need.verb}|${need.resource}`;
      const hit = cache.get(key);
      if (hit && now() - hit.at < cacheMs) return { ok: true as const, who: hit.who };
      v.reviews++;
      let user: User;
      try {
        const body = await client.json('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        });
        const st = isRecord(body) && isRecord(body.status) ? body.status : {};
        if (st.authenticated !== true || !isRecord(st.user) || typeof st.user.username !== 'string') {
          return { ok: false as const, reason: 'bad-credential' as const, message: `TokenReview: ${typeof st.error === 'string' && st.error ? st.error : 'token not authenticated'}` };
        }
        const u = st.user;
        user = {
          username: u.username as string,
          ...(typeof u.uid === 'string' ? { uid: u.uid } : {}),
          groups: Array.isArray(u.groups) ? u.groups.filter((g): g is string => typeof g === 'string') : [],
          ...(isRecord(u.extra) ? { extra: u.extra } : {}),
        };
      } catch (e) {
        return { ok: false as const, reason: 'bad-credential' as const, message: `TokenReview failed: ${KubeError.from(e).message}` };
      }
      let allowed = false;
      let why = '';
      try {
        const body = await client.json('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          body: {
            apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
            spec: { user: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, ...(user.extra ? { extra: user.extra } : {}), resourceAttributes: { group: MESHD_API_GROUP, resource: need.resource, verb: need.verb } },
          },
        });
        const st = isRecord(body) && isRecord(body.status) ? body.status : {};
        allowed = st.allowed === true;
        why = typeof st.reason === 'string' ? st.reason : '';
      } catch (e) {
        return { ok: false as const, reason: 'forbidden' as const, message: `SubjectAccessReview failed: ${KubeError.from(e).message}` };
      }
      if (!allowed) return { ok: false as const, reason: 'forbidden' as const, message: `${user.username} may not ${need.verb} ${need.resource}.${MESHD_API_GROUP}${why ? ` (${why})` : ''}` };
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { at: now(), who: user.username });
      return { ok: true as const, who: user.username };
    },
  };
  return v;
}

/**
 * Rate limits of the CSR API: token buckets for all callers (per second) and per
 * authenticated identity (per minute). A refused call names the limit and its flag.
 * Memory stays bounded: buckets that are full again are dropped, and at most
 * `maxIdentities` are tracked (past that, the oldest untouched one is forgotten).
 */

export interface CsrLimitOptions {
  /** CSRs per second from all callers together (--csr-per-second); 0 disables. */
  readonly perSecond: number;
  /** CSRs per minute from one identity (--csr-per-identity-per-minute); 0 disables. */
  readonly perIdentityPerMinute: number;
  readonly maxIdentities?: number;
  readonly now?: () => number;
}

export type CsrLimitVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly limit: 'global' | 'identity'; readonly message: string };

interface Bucket { tokens: number; at: number }

/** One bucket: `capacity` tokens refilled at `perMs` tokens per millisecond. */
function take(b: Bucket, capacity: number, perMs: number, now: number): boolean {
  b.tokens = Math.min(capacity, b.tokens + (now - b.at) * perMs);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

export interface CsrLimiter {
  /** Checks the global limit (before authentication, so refusals stay cheap). */
  admitGlobal(): CsrLimitVerdict;
  /** Checks the limit of one authenticated identity (its SPIFFE id). */
  admitIdentity(id: string): CsrLimitVerdict;
  /** Identities tracked now (tests: memory stays bounded). */
  readonly tracked: number;
}

/** Creates the limiter; the rule: a call consumes one token of each bucket it passes. */
export function createCsrLimiter(o: CsrLimitOptions): CsrLimiter {
  const now = o.now ?? Date.now;
  const global: Bucket = { tokens: o.perSecond, at: now() };
  const perId = new Map<string, Bucket>();
  const maxIds = o.maxIdentities ?? 100_000;
  return {
    admitGlobal() {
      if (o.perSecond <= 0 || take(global, o.perSecond, o.perSecond / 1000, now())) return { ok: true };
      return { ok: false, limit: 'global', message: `meshd: CSR rate limit exceeded: ${o.perSecond} per second from all callers (--csr-per-second); retry later` };
    },
    admitIdentity(id) {
      const cap = o.perIdentityPerMinute;
      if (cap <= 0) return { ok: true };
      const t = now();
      let b = perId.get(id);
      if (!b) {
        if (perId.size >= maxIds) {
          // Drop buckets that have refilled; if none has, the oldest entry.
          for (const [k, v] of perId) if (v.tokens + (t - v.at) * (cap / 60_000) >= cap) perId.delete(k);
          if (perId.size >= maxIds) perId.delete(perId.keys().next().value!);
        }
        b = { tokens: cap, at: t };
      } else perId.delete(id);
      perId.set(id, b); // most recently used last
      if (take(b, cap, cap / 60_000, t)) return { ok: true };
      return { ok: false, limit: 'identity', message: `meshd: CSR rate limit exceeded: ${cap} per minute for ${id} (--csr-per-identity-per-minute); retry later` };
    },
    get tracked() { return perId.size; },
  };
}

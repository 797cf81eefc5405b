/** When to renew a certificate: at a fraction of its lifetime, with jitter, never after expiry. */

export interface RenewalPolicy {
  /** Fraction of the lifetime after which to renew; default 0.5. */
  readonly fraction?: number;
  /** Random spread, as a fraction of the lifetime, either side; default 0.1. */
  readonly jitter?: number;
}

/**
 * Milliseconds from `nowMs` until renewal; ≥ 0. `random` is in [0, 1). The lifetime counts
 * from the later of NotBefore and now: NotBefore is backdated for clock skew (5 min), and
 * that backdate must not count as lifetime used, or a 20 s certificate would be renewed at
 * once, over and over. Call it when the certificate is issued or loaded.
 */
export function renewalDelayMs(notBefore: Date, notAfter: Date, nowMs: number, policy: RenewalPolicy = {}, random: number = Math.random()): number {
  const fraction = policy.fraction ?? 0.5;
  const jitter = policy.jitter ?? 0.1;
  const start = Math.min(Math.max(notBefore.getTime(), nowMs), notAfter.getTime());
  const lifetime = notAfter.getTime() - start;
  const f = Math.min(0.95, Math.max(0.05, fraction + (random * 2 - 1) * jitter));
  return Math.max(0, start + lifetime * f - nowMs);
}

const MAX_TIMEOUT = 2 ** 31 - 1;

/** setTimeout for long delays (beyond ~24.8 days), unref'd; returns a cancel function. */
export function scheduleAfter(delayMs: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const due = Date.now() + delayMs;
  const arm = (): void => {
    const left = due - Date.now();
    timer = setTimeout(left > MAX_TIMEOUT ? arm : fn, Math.min(Math.max(left, 0), MAX_TIMEOUT));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

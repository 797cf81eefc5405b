/**
 * The check before `retire`: the old root may leave the trust bundle only once no connected
 * workload still holds a certificate issued under it (activate re-issues them). A `force`
 * retires anyway; the caller logs it.
 */
import type { CertificateAuthority } from './ca.js';

/** What holds certificates: meshd's own per-connection certificates (SDS). */
export interface HeldCertificates {
  /** How many held certificates chain to a root other than `signingRootPem`. */
  countIssuedOutside(signingRootPem: string): number;
}

/** Undefined when retire may go ahead; otherwise the refusal message naming the count. */
export function retireBlocker(ca: CertificateAuthority, held: HeldCertificates): string | undefined {
  const st = ca.status();
  const i = st.roots.findIndex((r) => r.signing);
  const signing = i >= 0 ? ca.trustBundlePem()[i] : undefined;
  if (!signing || st.phase !== 'activated') return undefined;
  const stale = held.countIssuedOutside(signing);
  if (stale === 0) return undefined;
  return `retire refused: ${stale} connected workload${stale === 1 ? '' : 's'} still hold${stale === 1 ? 's' : ''} a certificate issued under the old root and not yet re-issued; wait for re-issue (activate re-issues within seconds), or retry with ?force=true`;
}

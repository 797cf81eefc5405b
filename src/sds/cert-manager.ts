/**
 * Workload certificates held by meshd for its connected proxies: one key per proxy
 * connection, renewed at ~50% of the lifetime (with jitter), reissued when the signing root
 * changes. Rotations call `onRotate(proxyId)`; trust bundle changes `onTrustBundleChange()`.
 */
import type { Identity } from '../model/types.js';
import type { IssuedCertificate, IssuedKeyAndCertificate } from '../ca/ca.js';
import type { CaMetrics } from '../ca/metrics.js';
import { renewalDelayMs, scheduleAfter, type RenewalPolicy } from '../ca/rotation-timing.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import { tlsCertificateSecret, trustBundleSecret } from './secrets.js';

/** What the manager needs from the CA (CertificateAuthority implements it). */
export interface WorkloadIssuer {
  spiffeUri(identity: Identity): string;
  issueWorkload(identity: Identity, ttlSeconds?: number): IssuedKeyAndCertificate;
  trustBundlePem(): readonly string[];
  onTrustBundleChange(fn: () => void): () => void;
  onSignerChange(fn: () => void): () => void;
}

export interface WorkloadCertManagerOptions {
  readonly issuer: WorkloadIssuer;
  /** Called after a proxy's certificate was renewed: push its new `default` secret. */
  readonly onRotate: (proxyId: string) => void;
  /** Called after the trust bundle changed: push `ROOTCA` to everyone. */
  readonly onTrustBundleChange: () => void;
  readonly ttlSeconds?: number;
  readonly renewal?: RenewalPolicy;
  /** Delay before retrying a failed renewal; default 10 s. */
  readonly retryDelayMs?: number;
  /** Reissues after a signer change are spread over this window; default 5 s. */
  readonly signerChangeSpreadMs?: number;
  readonly metrics?: CaMetrics;
  readonly log?: (line: string) => void;
  /** Called after every issuance (first or renewal) with the chain, never the key: for logs. */
  readonly onIssued?: (proxyId: string, identity: Identity, cert: IssuedCertificate) => void;
  /** Injectable clock, randomness and timers for tests. */
  readonly now?: () => number;
  readonly random?: () => number;
  readonly schedule?: (delayMs: number, fn: () => void) => () => void;
}

interface Held {
  readonly identity: Identity;
  cert: IssuedKeyAndCertificate;
  secret: EnvoyObject;
  cancel?: () => void;
}

export class WorkloadCertManager {
  private readonly held = new Map<string, Held>();
  private rootSecret: EnvoyObject;
  private readonly unsubscribe: (() => void)[];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly schedule: (delayMs: number, fn: () => void) => () => void;

  constructor(private readonly opts: WorkloadCertManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.schedule = opts.schedule ?? scheduleAfter;
    this.rootSecret = trustBundleSecret(opts.issuer.trustBundlePem());
    this.unsubscribe = [
      opts.issuer.onTrustBundleChange(() => {
        this.rootSecret = trustBundleSecret(opts.issuer.trustBundlePem());
        this.safely('trust bundle push', () => opts.onTrustBundleChange());
      }),
      opts.issuer.onSignerChange(() => {
        const spread = opts.signerChangeSpreadMs ?? 5000;
        for (const [id, h] of this.held) this.arm(id, h, this.random() * spread);
      }),
    ];
  }

  /**
   * The certificate for a proxy connection, issued on first call. The identity must come
   * from an authenticated credential; a different identity for the same id reissues.
   */
  acquire(proxyId: string, identity: Identity): IssuedKeyAndCertificate {
    const h = this.held.get(proxyId);
    if (h && sameIdentity(h.identity, identity)) return h.cert;
    h?.cancel?.();
    const cert = this.opts.issuer.issueWorkload(identity, this.opts.ttlSeconds);
    const next: Held = { identity, cert, secret: tlsCertificateSecret(cert.certChainPem, cert.privateKeyPem) };
    this.held.set(proxyId, next);
    this.afterIssue(proxyId, next);
    return cert;
  }

  /** The `default` secret of a proxy (contains its private key: never log it unredacted). */
  defaultSecret(proxyId: string): EnvoyObject | undefined {
    return this.held.get(proxyId)?.secret;
  }

  /** The shared `ROOTCA` secret; the same object until the bundle changes. */
  rootCaSecret(): EnvoyObject {
    return this.rootSecret;
  }

  /** Expiry of a proxy's certificate, if held. */
  notAfter(proxyId: string): Date | undefined {
    return this.held.get(proxyId)?.cert.notAfter;
  }

  /** The chain held for a proxy (leaf first, root last) and its validity; never the key. */
  certificate(proxyId: string): IssuedCertificate | undefined {
    const c = this.held.get(proxyId)?.cert;
    return c ? { certChainPem: c.certChainPem, notBefore: c.notBefore, notAfter: c.notAfter } : undefined;
  }

  /** NotAfter of every held certificate, in ms since the epoch. */
  expiries(): number[] {
    return [...this.held.values()].map((h) => h.cert.notAfter.getTime());
  }

  /** How many held certificates chain to a root other than `rootPem` (retire's check). */
  countIssuedOutside(rootPem: string): number {
    let n = 0;
    for (const h of this.held.values()) if (h.cert.certChainPem[h.cert.certChainPem.length - 1]?.trim() !== rootPem.trim()) n++;
    return n;
  }

  /** Number of proxies holding a certificate. */
  get size(): number {
    return this.held.size;
  }

  /** Renews a proxy's certificate now and calls onRotate. */
  rotate(proxyId: string): void {
    const h = this.held.get(proxyId);
    if (!h) return;
    try {
      h.cert = this.opts.issuer.issueWorkload(h.identity, this.opts.ttlSeconds);
      h.secret = tlsCertificateSecret(h.cert.certChainPem, h.cert.privateKeyPem);
    } catch (e) {
      this.opts.metrics?.sdsPushErrors.inc();
      this.opts.log?.(`sds: renewing the certificate of ${proxyId} failed: ${e instanceof Error ? e.message : String(e)}; retrying`);
      this.arm(proxyId, h, this.opts.retryDelayMs ?? 10_000);
      return;
    }
    this.afterIssue(proxyId, h);
    this.safely(`push to ${proxyId}`, () => this.opts.onRotate(proxyId));
  }

  /** Forgets a proxy (connection closed): its key is dropped and its timer cancelled. */
  release(proxyId: string): void {
    const h = this.held.get(proxyId);
    if (!h) return;
    h.cancel?.();
    this.held.delete(proxyId);
    this.opts.metrics?.workloadCertExpiry.remove({ proxy: proxyId });
  }

  /** Releases everything and stops listening to the CA. */
  close(): void {
    for (const id of [...this.held.keys()]) this.release(id);
    for (const u of this.unsubscribe) u();
  }

  private afterIssue(proxyId: string, h: Held): void {
    this.opts.onIssued?.(proxyId, h.identity, { certChainPem: h.cert.certChainPem, notBefore: h.cert.notBefore, notAfter: h.cert.notAfter });
    this.opts.metrics?.workloadCertExpiry.set({ proxy: proxyId }, h.cert.notAfter.getTime() / 1000);
    this.arm(proxyId, h, renewalDelayMs(h.cert.notBefore, h.cert.notAfter, this.now(), this.opts.renewal, this.random()));
  }

  private arm(proxyId: string, h: Held, delayMs: number): void {
    h.cancel?.();
    h.cancel = this.schedule(delayMs, () => {
      if (this.held.get(proxyId) === h) this.rotate(proxyId);
    });
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.opts.metrics?.sdsPushErrors.inc();
      this.opts.log?.(`sds: ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.trustDomain === b.trustDomain && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount;
}

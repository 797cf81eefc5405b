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

/**
 * What the manager needs from the CA (CertificateAuthority implements it). An external signer
 * answers asynchronously: until its first certificate arrives a proxy has none (Envoy waits),
 * and a renewal that fails keeps the current certificate in force and is retried.
 */
export interface WorkloadIssuer {
  spiffeUri(identity: Identity): string;
  issueWorkload(identity: Identity, ttlSeconds?: number): IssuedKeyAndCertificate | Promise<IssuedKeyAndCertificate>;
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
  /** Absent until an asynchronous issuer's first certificate arrives. */
  cert?: IssuedKeyAndCertificate;
  secret?: EnvoyObject;
  cancel?: () => void;
  /** An asynchronous issuance is in flight. */
  inFlight?: boolean;
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
  acquire(proxyId: string, identity: Identity): IssuedKeyAndCertificate | undefined {
    const h = this.held.get(proxyId);
    if (h && sameIdentity(h.identity, identity)) return h.cert;
    h?.cancel?.();
    const r = this.opts.issuer.issueWorkload(identity, this.opts.ttlSeconds);
    if (r instanceof Promise) {
      const next: Held = { identity };
      this.held.set(proxyId, next);
      this.issueAsync(proxyId, next, r);
      return undefined;
    }
    const next: Held = { identity, cert: r, secret: tlsCertificateSecret(r.certChainPem, r.privateKeyPem) };
    this.held.set(proxyId, next);
    this.afterIssue(proxyId, next);
    return r;
  }

  /** Waits for an asynchronous issuance; on success swaps the certificate in and pushes, on failure keeps the old one and retries. */
  private issueAsync(proxyId: string, h: Held, p: Promise<IssuedKeyAndCertificate>): void {
    h.inFlight = true;
    p.then((cert) => {
      h.inFlight = false;
      if (this.held.get(proxyId) !== h) return;
      h.cert = cert;
      h.secret = tlsCertificateSecret(cert.certChainPem, cert.privateKeyPem);
      this.afterIssue(proxyId, h);
      this.safely(`push to ${proxyId}`, () => this.opts.onRotate(proxyId));
    }, (e: unknown) => {
      h.inFlight = false;
      if (this.held.get(proxyId) !== h) return;
      this.opts.metrics?.sdsPushErrors.inc();
      const still = h.cert ? `; the current certificate (valid until ${h.cert.notAfter.toISOString()}) stays in force` : '; the proxy has no certificate yet';
      this.opts.log?.(`sds: issuing the certificate of ${proxyId} failed: ${e instanceof Error ? e.message : String(e)}${still}; retrying`);
      this.arm(proxyId, h, this.opts.retryDelayMs ?? 10_000);
    });
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
    return this.held.get(proxyId)?.cert?.notAfter;
  }

  /** The chain held for a proxy (leaf first, root last) and its validity; never the key. */
  certificate(proxyId: string): IssuedCertificate | undefined {
    const c = this.held.get(proxyId)?.cert;
    return c ? { certChainPem: c.certChainPem, notBefore: c.notBefore, notAfter: c.notAfter } : undefined;
  }

  /** NotAfter of every held certificate, in ms since the epoch. */
  expiries(): number[] {
    return [...this.held.values()].flatMap((h) => (h.cert ? [h.cert.notAfter.getTime()] : []));
  }

  /** How many held certificates chain to a root other than `rootPem` (retire's check). */
  countIssuedOutside(rootPem: string): number {
    let n = 0;
    for (const h of this.held.values()) if (h.cert && h.cert.certChainPem[h.cert.certChainPem.length - 1]?.trim() !== rootPem.trim()) n++;
    return n;
  }

  /** Number of proxies holding a certificate. */
  get size(): number {
    return this.held.size;
  }

  /** Renews a proxy's certificate now and calls onRotate. */
  rotate(proxyId: string): void {
    const h = this.held.get(proxyId);
    if (!h || h.inFlight) return;
    try {
      const r = this.opts.issuer.issueWorkload(h.identity, this.opts.ttlSeconds);
      if (r instanceof Promise) { this.issueAsync(proxyId, h, r); return; }
      h.cert = r;
      h.secret = tlsCertificateSecret(r.certChainPem, r.privateKeyPem);
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
    const cert = h.cert!;
    this.opts.onIssued?.(proxyId, h.identity, { certChainPem: cert.certChainPem, notBefore: cert.notBefore, notAfter: cert.notAfter });
    this.opts.metrics?.workloadCertExpiry.set({ proxy: proxyId }, cert.notAfter.getTime() / 1000);
    this.arm(proxyId, h, renewalDelayMs(cert.notBefore, cert.notAfter, this.now(), this.opts.renewal, this.random()));
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

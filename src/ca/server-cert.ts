/**
 * meshd's own TLS server certificate, from its CA: SAN DNS `meshd`, `localhost`, IP
 * 127.0.0.1 and `spiffe://<td>/ns/istio-system/sa/meshd`; rotated at half its lifetime and
 * when the signing root changes. Exposed as a grpc-js CertificateProvider.
 */
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { CertificateAuthority } from './ca.js';
import { generateP256 } from './keys.js';
import { renewalDelayMs, scheduleAfter, type RenewalPolicy } from './rotation-timing.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdListener = experimental.IdentityCertificateUpdateListener;

export interface ServerCertOptions {
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
  readonly ttlSeconds?: number;
  readonly renewal?: RenewalPolicy;
  /** Namespace/service account of meshd's own SPIFFE id; default istio-system/meshd. */
  readonly namespace?: string;
  readonly serviceAccount?: string;
  readonly log?: (line: string) => void;
}

export class MeshdServerCertificates implements experimental.CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly idListeners = new Set<IdListener>();
  private identity?: experimental.IdentityCertificateUpdate;
  private caUpdate?: experimental.CaCertificateUpdate;
  private cancelTimer?: () => void;
  private readonly unsubscribe: (() => void)[] = [];
  /** NotAfter of the current certificate. */
  notAfter?: Date;

  constructor(private readonly ca: CertificateAuthority, private readonly opts: ServerCertOptions = {}) {
    this.refreshBundle();
    this.issue();
    this.unsubscribe.push(ca.onSignerChange(() => this.renew()), ca.onTrustBundleChange(() => this.refreshBundle()));
  }

  /** Server credentials that follow rotation; client certificates requested, not required. */
  serverCredentials(): ServerCredentials {
    // grpc-js passes its first argument as the identity provider, the second as the CA one.
    return experimental.createCertificateProviderServerCredentials(this, this, false);
  }

  /** The current certificate chain and key in PEM (for non-gRPC listeners). */
  current(): { certChainPem: string; privateKeyPem: string } {
    return { certChainPem: this.identity!.certificate.toString(), privateKeyPem: this.identity!.privateKey.toString() };
  }

  /** Renews; on failure keeps the current certificate and retries in 10 s. */
  private renew(): void {
    try {
      this.issue();
    } catch (e) {
      this.opts.log?.(`ca: renewing meshd's server certificate failed: ${e instanceof Error ? e.message : String(e)}; retrying in 10 s`);
      this.cancelTimer?.();
      this.cancelTimer = scheduleAfter(10_000, () => this.renew());
    }
  }

  private issue(): void {
    const key = generateP256();
    const uri = this.ca.spiffeUri({ trustDomain: this.ca.trustDomain, namespace: this.opts.namespace ?? 'istio-system', serviceAccount: this.opts.serviceAccount ?? 'meshd' });
    const issued = this.ca.signServer(key.spki, { dnsNames: this.opts.dnsNames ?? ['meshd', 'localhost'], ips: this.opts.ips ?? ['127.0.0.1'], uris: [uri] }, this.opts.ttlSeconds);
    // The chain without the root: peers already hold the root.
    const chain = issued.certChainPem.slice(0, Math.max(1, issued.certChainPem.length - 1)).join('');
    this.identity = { certificate: Buffer.from(chain), privateKey: Buffer.from(key.privateKeyPem) };
    this.notAfter = issued.notAfter;
    this.cancelTimer?.();
    this.cancelTimer = scheduleAfter(renewalDelayMs(issued.notBefore, issued.notAfter, Date.now(), this.opts.renewal), () => this.renew());
    for (const l of this.idListeners) l(this.identity);
  }

  private refreshBundle(): void {
    this.caUpdate = { caCertificate: Buffer.from(this.ca.trustBundlePem().join('')) };
    for (const l of this.caListeners) l(this.caUpdate);
  }

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    // Asynchronously: grpc-js registers its own watcher only after adding the listener.
    queueMicrotask(() => this.caUpdate && this.caListeners.has(l) && l(this.caUpdate));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdListener): void {
    this.idListeners.add(l);
    queueMicrotask(() => this.identity && this.idListeners.has(l) && l(this.identity));
  }
  removeIdentityCertificateListener(l: IdListener): void {
    this.idListeners.delete(l);
  }

  /** Stops rotation and listening to the CA. */
  close(): void {
    this.cancelTimer?.();
    for (const u of this.unsubscribe) u();
  }
}

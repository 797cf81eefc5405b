/**
 * meshd as a registration authority in front of a Kubernetes signer (Istio's
 * `EXTERNAL_CA: ISTIOD_RA_KUBERNETES_API`): for an identity meshd has already authenticated, it
 * makes a key, sends a `certificates.k8s.io/v1` CertificateSigningRequest for the SPIFFE id to
 * `signerName`, waits until the signer (cert-manager, a corporate CA controller) has approved
 * and signed it (one shared watch on meshd's requests, a slow poll as a fallback), checks that
 * the certificate is for that key and that identity, and deletes the request. The signer
 * decides the lifetime; meshd asks for its own (`expirationSeconds`).
 *
 * Under a burst (every workload at start, a mass rotation) the API server's write throughput
 * is the limit, so the RA keeps its own load off the critical path: the fallback poll is one
 * LIST of meshd's requests for all waiters (not a GET per request), and finished requests are
 * deleted once no request is in flight (or a few seconds later under a steady stream), a few
 * at a time, instead of racing the creates and the signer's approvals.
 */
import type { Identity } from '../model/types.js';
import { spiffeId } from '../model/types.js';
import type { IssuedKeyAndCertificate } from './ca.js';
import { createCsr, csrToPem } from './csr.js';
import { CaError } from './errors.js';
import type { ExternalCaMetrics, ExternalResult } from './external-metrics.js';
import { generateP256, p256PrivateKeyObject } from './keys.js';
import { parseCertificatesPem, toPem } from './pem.js';
import { parseCertificate } from './x509.js';
import { CSR_PATH, CsrWatch, type WatchClient } from './csr-watch.js';

/** The part of the Kubernetes client the RA uses. */
export interface CsrClient extends WatchClient {
  json(method: string, path: string, o?: { body?: unknown; contentType?: string; timeoutMs?: number }): Promise<unknown>;
}

export interface KubernetesRaOptions {
  readonly client: CsrClient;
  /** e.g. `example.com/meshd`: the signer that must sign the requests. */
  readonly signerName: string;
  readonly trustDomain: string;
  readonly ttlSeconds: number;
  /** How long to wait for a signature before giving up (default 30 s). */
  readonly timeoutMs?: number;
  readonly metrics?: ExternalCaMetrics;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Fallback poll interval next to the watch (default 5 s). */
  readonly pollMs?: number;
}

const MANAGED = 'app.kubernetes.io/managed-by=meshd';
/** Finished requests wait at most this long for a quiet moment before they are deleted anyway. */
const DELETE_DELAY_MS = 3000;
/** Deletes sent at once. */
const DELETE_CONCURRENCY = 4;
/** Kubernetes refuses expirationSeconds below 10 minutes. */
const MIN_EXPIRATION_SECONDS = 600;

type Raw = Record<string, unknown>;
const rec = (v: unknown): Raw => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Raw : {});

/** The condition a signer or approver set, if any decides the request's fate. */
function verdict(csr: Raw): { kind: 'denied' | 'failed'; message: string } | undefined {
  const conds = Array.isArray(rec(csr.status).conditions) ? rec(csr.status).conditions as unknown[] : [];
  for (const c of conds.map(rec)) {
    if (c.status !== 'True' && c.status !== undefined) continue;
    if (c.type === 'Denied' || c.type === 'Failed') {
      return { kind: c.type === 'Denied' ? 'denied' : 'failed', message: `${String(c.reason ?? c.type)}: ${String(c.message ?? '')}`.trim() };
    }
  }
  return undefined;
}

export class KubernetesCsrRa {
  private readonly timeoutMs: number;
  private readonly watch: CsrWatch;
  /** Waiters' checks, fed by the shared fallback poll. */
  private readonly polled = new Set<(csr: Raw) => void>();
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private listing = false;
  /** Issuances in flight, and finished requests not yet deleted. */
  private inFlight = 0;
  private readonly toDelete: string[] = [];
  private deleteTimer: ReturnType<typeof setTimeout> | undefined;
  private deleting = 0;

  constructor(private readonly o: KubernetesRaOptions) {
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.watch = new CsrWatch(o.client, MANAGED);
  }

  /** Stops the shared watch and the poll; requests not yet deleted are deleted now (not awaited). */
  close(): void {
    this.watch.stop();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    for (const name of this.toDelete.splice(0)) this.deleteNow(name);
  }

  private deleteNow(name: string): Promise<void> {
    return this.o.client.json('DELETE', `${CSR_PATH}/${name}`).then(() => undefined, (e: unknown) => this.o.log?.('ca: could not delete CertificateSigningRequest', { name, error: e instanceof Error ? e.message : String(e) }));
  }

  /** Queues a finished request for deletion: now if nothing is in flight, else at the latest after DELETE_DELAY_MS. */
  private scheduleDelete(name: string): void {
    this.toDelete.push(name);
    if (this.inFlight === 0) this.drainDeletes();
    else this.deleteTimer ??= setTimeout(() => this.drainDeletes(), DELETE_DELAY_MS);
  }

  private drainDeletes(): void {
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    const next = (): void => {
      const name = this.toDelete.shift();
      if (name === undefined) return;
      this.deleting++;
      void this.deleteNow(name).finally(() => { this.deleting--; next(); });
    };
    while (this.deleting < DELETE_CONCURRENCY && this.toDelete.length) next();
  }

  /** The fallback poll: one LIST of meshd's requests per interval while anyone waits, fed to every waiter. */
  private pollWith(check: (csr: Raw) => void): () => void {
    this.polled.add(check);
    this.pollTimer ??= setInterval(() => {
      if (this.polled.size === 0) { clearInterval(this.pollTimer); this.pollTimer = undefined; return; }
      if (this.listing) return;
      this.listing = true;
      this.o.client.json('GET', `${CSR_PATH}?labelSelector=${encodeURIComponent(MANAGED)}`).then((list) => {
        const items = Array.isArray(rec(list).items) ? rec(list).items as unknown[] : [];
        for (const c of items) for (const fn of [...this.polled]) fn(rec(c));
      }, () => undefined).finally(() => { this.listing = false; });
    }, this.o.pollMs ?? 5000);
    return () => {
      this.polled.delete(check);
      if (this.polled.size === 0 && this.pollTimer) { clearInterval(this.pollTimer); this.pollTimer = undefined; }
    };
  }

  /** Resolves with the request once a signer or approver decided it (watch events, with a slow poll as a fallback), or undefined after the timeout. */
  private decided(name: string, deadline: number, seen?: Raw): Promise<Raw | undefined> {
    return new Promise((resolve) => {
      let finished = false;
      // Declared first: the request may already be decided when the early watch saw it (finish runs before the timer exists).
      let timer: ReturnType<typeof setTimeout> | undefined;
      let offPoll = (): void => undefined;
      const finish = (v: Raw | undefined): void => { if (finished) return; finished = true; off(); if (timer) clearTimeout(timer); offPoll(); resolve(v); };
      const check = (csr: Raw): void => {
        if (String(rec(csr.metadata).name) !== name) return;
        if (verdict(csr) || (typeof rec(csr.status).certificate === 'string' && rec(csr.status).certificate !== '')) finish(csr);
      };
      const off = this.watch.subscribe(check);
      if (seen) check(seen);
      if (finished) return;
      timer = setTimeout(() => finish(undefined), Math.max(0, deadline - Date.now()));
      offPoll = this.pollWith(check);
    });
  }

  /** The SPIFFE URI of an identity in this trust domain. */
  spiffeUri(identity: Identity): string {
    return spiffeId({ ...identity, trustDomain: this.o.trustDomain });
  }

  /**
   * A key and a certificate signed by the external signer for `identity`, which the caller
   * has authenticated. Rejects with a CaError (EXTERNAL_DENIED, EXTERNAL_TIMEOUT, ...) naming
   * the request; the request object is deleted either way.
   */
  async issueWorkload(identity: Identity, ttlSeconds?: number): Promise<IssuedKeyAndCertificate> {
    const t0 = Date.now();
    const uri = this.spiffeUri(identity);
    const key = generateP256();
    const csrPem = csrToPem(createCsr(p256PrivateKeyObject(key), key.spki, { uris: [uri] }));
    const ttl = ttlSeconds ?? this.o.ttlSeconds;
    const body = {
      apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest',
      metadata: {
        generateName: `meshd-${identity.namespace}-${identity.serviceAccount}-`.slice(0, 200),
        labels: { 'app.kubernetes.io/managed-by': 'meshd', 'meshd.dev/namespace': identity.namespace.slice(0, 63), 'meshd.dev/service-account': identity.serviceAccount.slice(0, 63) },
        annotations: { 'meshd.dev/spiffe-id': uri },
      },
      spec: {
        request: Buffer.from(csrPem).toString('base64'),
        signerName: this.o.signerName,
        usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
        expirationSeconds: Math.max(MIN_EXPIRATION_SECONDS, Math.round(ttl)),
      },
    };
    const m = this.o.metrics;
    m?.pending.inc();
    this.inFlight++;
    let name = '';
    const done = (result: ExternalResult): void => {
      m?.pending.dec();
      m?.requests.inc({ result });
      if (result === 'issued') m?.seconds.observe((Date.now() - t0) / 1000);
      else m?.lastFailure.set(Date.now() / 1000);
    };
    // Listen before creating: the watch (opened on first use) starts with every current request.
    const early = new Map<string, Raw>();
    const offEarly = this.watch.subscribe((c) => { early.set(String(rec(c.metadata).name), c); });
    try {
      const created = rec(await this.o.client.json('POST', CSR_PATH, { body }));
      name = String(rec(created.metadata).name ?? '');
      if (!name) throw new CaError('SIGNING_FAILED', 'the API server returned a CertificateSigningRequest without a name');
      const csr = await this.decided(name, t0 + this.timeoutMs, early.get(name));
      offEarly();
      if (!csr) {
        done('timeout');
        throw new CaError('EXTERNAL_TIMEOUT', `CertificateSigningRequest ${name} for ${uri}: ${this.o.signerName} did not sign within ${this.timeoutMs} ms`);
      }
      const v = verdict(csr);
      if (v) {
        done(v.kind);
        throw new CaError(v.kind === 'denied' ? 'EXTERNAL_DENIED' : 'EXTERNAL_FAILED', `CertificateSigningRequest ${name} for ${uri} was ${v.kind} by ${this.o.signerName}: ${v.message}`);
      }
      const issued = this.accept(name, uri, key.spki, Buffer.from(String(rec(csr.status).certificate), 'base64').toString('utf8'), key.privateKeyPem);
      if (!issued.ok) { done('invalid'); throw new CaError('EXTERNAL_INVALID', issued.message); }
      done('issued');
      return issued.value;
    } catch (e) {
      if (!(e instanceof CaError)) { done('error'); throw new CaError('SIGNING_FAILED', `CertificateSigningRequest${name ? ' ' + name : ''} for ${uri}: ${e instanceof Error ? e.message : String(e)}`, { cause: e }); }
      throw e;
    } finally {
      offEarly();
      this.inFlight--;
      if (name) this.scheduleDelete(name);
      else if (this.inFlight === 0 && this.toDelete.length) this.drainDeletes();
    }
  }

  /** Checks the signer's answer: PEM chain, leaf for our key, our SPIFFE id, currently valid. */
  private accept(name: string, uri: string, spki: Buffer, pem: string, privateKeyPem: string): { ok: true; value: IssuedKeyAndCertificate } | { ok: false; message: string } {
    const ders = parseCertificatesPem(pem);
    if (!ders.length) return { ok: false, message: `CertificateSigningRequest ${name}: status.certificate holds no PEM certificate` };
    let leaf;
    try { leaf = parseCertificate(ders[0]!); } catch (e) { return { ok: false, message: `CertificateSigningRequest ${name}: the certificate does not parse: ${e instanceof Error ? e.message : String(e)}` }; }
    if (!leaf.spki.equals(spki)) return { ok: false, message: `CertificateSigningRequest ${name}: the certificate is not for the requested key` };
    if (!leaf.uris.includes(uri)) return { ok: false, message: `CertificateSigningRequest ${name}: the certificate does not name ${uri} (URIs: ${leaf.uris.join(', ') || 'none'})` };
    if (leaf.notAfter.getTime() <= Date.now()) return { ok: false, message: `CertificateSigningRequest ${name}: the certificate has already expired (${leaf.notAfter.toISOString()})` };
    return { ok: true, value: { certChainPem: ders.map((d) => toPem('CERTIFICATE', d)), privateKeyPem, notBefore: leaf.notBefore, notAfter: leaf.notAfter } };
  }
}

/**
 * The certificate authority: a self-managed root kept in a CaStore (with root rotation), or
 * a plugged-in intermediate (see cacerts.ts). Issues SPIFFE workload certificates.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { Identity } from '../model/types.js';
import { spiffeId } from '../model/types.js';
import { CaError } from './errors.js';
import { generateCaKey, generateP256, keyMatchesSpki, spkiOf, type CaKeyType } from './keys.js';
import type { CaMetrics } from './metrics.js';
import { parseCertificatesPem, toPem } from './pem.js';
import { parseCsr, verifyCsr } from './csr.js';
import type { CaRootRecord, CaState, CaStore, RotationPhase } from './store.js';
import { buildCaCertificate, encodeName, LeafSigner, parseCertificate, type ParsedCertificate } from './x509.js';

export const DAY_SECONDS = 86_400;
export const MAX_LEAF_TTL_SECONDS = 90 * DAY_SECONDS;

export interface CaOptions {
  /** Default `cluster.local`. */
  readonly trustDomain?: string;
  /** Key type for generated roots; default `ec-p256`. */
  readonly keyType?: CaKeyType;
  /** Lifetime of workload certificates; default 24 h; more than 90 days is refused. */
  readonly workloadCertTtlSeconds?: number;
  /** Cap for lifetimes requested through CSRs; default 90 days. */
  readonly maxCertTtlSeconds?: number;
  /** NotBefore is this far in the past, for clock skew; default 300. */
  readonly backdateSeconds?: number;
  /** Lifetime of generated roots; default 10 years. */
  readonly rootTtlSeconds?: number;
  readonly metrics?: CaMetrics;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

export interface IssuedCertificate {
  /** Leaf first, root last, PEM each. */
  readonly certChainPem: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** The CA's public state, for `meshctl ca status` and `/ca/status`. */
export interface CaStatus {
  readonly kind: 'self-signed' | 'plugged';
  readonly phase: RotationPhase;
  readonly trustDomain: string;
  /** The certificate that signs workload certificates (a root, or a plugged-in intermediate). */
  readonly signer: { readonly subject: string; readonly notAfter: string };
  /** The trust bundle, oldest first: id, subject, serial, validity, SHA-256 of the DER, whether it signs now. */
  readonly roots: readonly { id: string; subject: string; serial: string; notBefore: string; notAfter: string; sha256: string; signing: boolean }[];
}

export interface IssuedKeyAndCertificate extends IssuedCertificate {
  readonly privateKeyPem: string;
}

/** What signs right now: the leaf signer, the chain above the leaf, and the trust bundle. */
export interface SigningMaterial {
  readonly signer: LeafSigner;
  /** Intermediates then root, PEM each (empty list never: the root is always last). */
  readonly chainTailPem: readonly string[];
  readonly trustBundlePem: readonly string[];
  /** Certificates that may have issued a leaf still in use (client-certificate checks). */
  readonly issuers: readonly ParsedCertificate[];
  readonly notAfter: Date;
  readonly kind: 'self-signed' | 'plugged';
}

interface LoadedRoot extends CaRootRecord {
  readonly cert: ParsedCertificate;
  readonly key: KeyObject;
}

type Listener = () => void;

const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/** Checks a lifetime option: a positive integer not above 90 days. */
function checkTtl(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new CaError('INVALID_CONFIG', `${name} must be a positive whole number of seconds`);
  if (v > MAX_LEAF_TTL_SECONDS) throw new CaError('INVALID_CONFIG', `${name} ${v}s exceeds the maximum of 90 days (${MAX_LEAF_TTL_SECONDS}s)`);
  return v;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly workloadCertTtlSeconds: number;
  readonly maxCertTtlSeconds: number;
  private readonly backdateMs: number;
  private readonly now: () => number;
  private readonly bundleListeners = new Set<Listener>();
  private readonly signerListeners = new Set<Listener>();

  private constructor(
    private material: SigningMaterial,
    private readonly opts: CaOptions,
    private readonly store?: CaStore,
    private state?: { phase: RotationPhase; signingRootId: string; roots: LoadedRoot[] },
  ) {
    this.trustDomain = opts.trustDomain ?? 'cluster.local';
    if (!TRUST_DOMAIN.test(this.trustDomain)) throw new CaError('INVALID_CONFIG', `invalid trust domain "${this.trustDomain}"`);
    this.workloadCertTtlSeconds = checkTtl('workloadCertTtlSeconds', opts.workloadCertTtlSeconds ?? DAY_SECONDS);
    this.maxCertTtlSeconds = checkTtl('maxCertTtlSeconds', opts.maxCertTtlSeconds ?? MAX_LEAF_TTL_SECONDS);
    this.backdateMs = (opts.backdateSeconds ?? 300) * 1000;
    this.now = opts.now ?? Date.now;
    this.recordExpiry();
  }

  /**
   * Opens the self-managed CA: loads the state from `store`, or on first start generates a
   * root and persists it. Never generates a root while state is present; corrupt state throws.
   */
  static async open(store: CaStore, opts: CaOptions = {}): Promise<CertificateAuthority> {
    let state = await store.load();
    if (!state) {
      const root = newRoot('root-1', opts);
      state = { phase: 'steady', signingRootId: root.id, roots: [root] };
      await store.save(state);
    }
    const roots = state.roots.map((r) => loadRoot(r, store.location));
    const s = { phase: state.phase, signingRootId: state.signingRootId, roots };
    return new CertificateAuthority(materialFromRoots(s), opts, store, s);
  }

  /** A CA signing with given material (a plugged-in intermediate); no rotation. */
  static fromMaterial(material: SigningMaterial, opts: CaOptions = {}): CertificateAuthority {
    return new CertificateAuthority(material, opts);
  }

  /** The trust bundle: every active root, PEM each, oldest first. */
  trustBundlePem(): readonly string[] {
    return this.material.trustBundlePem;
  }

  /** Certificates that may have signed a current leaf (for client-certificate checks). */
  issuerCertificates(): readonly ParsedCertificate[] {
    return this.material.issuers;
  }

  /** The rotation phase (`steady` for a plugged-in CA). */
  get rotationPhase(): RotationPhase {
    return this.state?.phase ?? 'steady';
  }

  get kind(): SigningMaterial['kind'] {
    return this.material.kind;
  }

  /** What `meshctl ca status` shows: kind, phase, signer, and each trusted root (no key material). */
  status(): CaStatus {
    const signer = this.material.signer.issuer;
    const roots = this.material.trustBundlePem.map((pem, i) => {
      const c = parseCertificate(parseCertificatesPem(pem)[0]!);
      return {
        id: this.state?.roots[i]?.id ?? `root-${i + 1}`,
        subject: new X509Certificate(c.der).subject.replace(/\n/g, ', '),
        serial: c.serialHex,
        notBefore: c.notBefore.toISOString(),
        notAfter: c.notAfter.toISOString(),
        sha256: createHash('sha256').update(c.der).digest('hex'),
        signing: c.der.equals(signer.der),
      };
    });
    const signerSubject = new X509Certificate(signer.der).subject.replace(/\n/g, ', ');
    return { kind: this.material.kind, phase: this.rotationPhase, trustDomain: this.trustDomain, signer: { subject: signerSubject, notAfter: signer.notAfter.toISOString() }, roots };
  }

  /** Calls `fn` when the trust bundle changes; returns an unsubscribe function. */
  onTrustBundleChange(fn: Listener): () => void {
    this.bundleListeners.add(fn);
    return () => this.bundleListeners.delete(fn);
  }

  /** Calls `fn` when a different key starts signing (certificates should be reissued). */
  onSignerChange(fn: Listener): () => void {
    this.signerListeners.add(fn);
    return () => this.signerListeners.delete(fn);
  }

  /** Validity for a new leaf: backdated start, end capped by the issuer's own NotAfter. */
  private validity(ttlSeconds: number): { notBefore: Date; notAfter: Date } {
    const now = this.now();
    const end = Math.min(now + ttlSeconds * 1000, this.material.notAfter.getTime());
    return { notBefore: new Date(Math.floor((now - this.backdateMs) / 1000) * 1000), notAfter: new Date(Math.floor(end / 1000) * 1000) };
  }

  /** The lifetime actually used for a request: default when absent/≤ 0, capped at the max. */
  effectiveTtl(requestedSeconds?: number): number {
    if (!requestedSeconds || requestedSeconds <= 0) return Math.min(this.workloadCertTtlSeconds, this.maxCertTtlSeconds);
    return Math.min(Math.floor(requestedSeconds), this.maxCertTtlSeconds);
  }

  /** Generates a P-256 key and a certificate for `identity` (in this CA's trust domain). */
  issueWorkload(identity: Identity, ttlSeconds?: number): IssuedKeyAndCertificate {
    const start = process.hrtime.bigint();
    try {
      const key = generateP256();
      const v = this.validity(this.effectiveTtl(ttlSeconds ?? this.workloadCertTtlSeconds));
      const leaf = this.material.signer.signPem({ spki: key.spki, uris: [this.spiffeUri(identity)], ...v });
      this.observe(start);
      return { certChainPem: [leaf, ...this.material.chainTailPem], privateKeyPem: key.privateKeyPem, ...v };
    } catch (e) {
      this.opts.metrics?.signingErrors.inc();
      throw CaError.from(e);
    }
  }

  /**
   * Verifies a CSR (PEM or DER) and signs its key for `identity`. SANs in the CSR are
   * ignored: the identity comes from the authenticated caller. Lifetime is capped.
   */
  async signCsr(csr: string | Buffer, identity: Identity, requestedTtlSeconds?: number, notAfterCap?: Date): Promise<IssuedCertificate> {
    const start = process.hrtime.bigint();
    const { spki } = await verifyCsr(parseCsr(csr));
    const v = this.validity(this.effectiveTtl(requestedTtlSeconds));
    // A certificate obtained with a certificate never outlives the one presented.
    if (notAfterCap && notAfterCap < v.notAfter) v.notAfter = new Date(Math.floor(notAfterCap.getTime() / 1000) * 1000);
    const leaf = this.material.signer.signPem({ spki, uris: [this.spiffeUri(identity)], ...v });
    this.observe(start);
    return { certChainPem: [leaf, ...this.material.chainTailPem], ...v };
  }

  /** Signs a server certificate (DNS/IP SANs plus optional URIs) for an SPKI. */
  signServer(spki: Buffer, names: { dnsNames?: readonly string[]; ips?: readonly string[]; uris?: readonly string[] }, ttlSeconds?: number): IssuedCertificate {
    const v = this.validity(this.effectiveTtl(ttlSeconds));
    const leaf = this.material.signer.signPem({ spki, uris: names.uris ?? [], dnsNames: names.dnsNames, ips: names.ips, ...v });
    return { certChainPem: [leaf, ...this.material.chainTailPem], ...v };
  }

  /** The SPIFFE URI for an identity, always in this CA's trust domain. */
  spiffeUri(identity: Identity): string {
    return spiffeId({ ...identity, trustDomain: this.trustDomain });
  }

  private observe(start: bigint): void {
    this.opts.metrics?.issuanceSeconds.observe(Number(process.hrtime.bigint() - start) / 1e9);
  }

  private recordExpiry(): void {
    const m = this.opts.metrics;
    if (!m) return;
    const rootDer = parseCertificatesPem(this.material.chainTailPem[this.material.chainTailPem.length - 1]!)[0]!;
    m.rootExpiry.set(parseCertificate(rootDer).notAfter.getTime() / 1000);
    if (this.material.kind === 'plugged') m.intermediateExpiry.set(this.material.signer.issuer.notAfter.getTime() / 1000);
  }

  // ---- root rotation -------------------------------------------------------------------

  private rotationState(step: string, want: RotationPhase): NonNullable<CertificateAuthority['state']> & { store: CaStore } {
    if (!this.state || !this.store) throw new CaError('ROTATION_PHASE', `${step}: root rotation needs the self-managed CA (a plugged-in CA rotates by replacing cacerts)`);
    if (this.state.phase !== want) throw new CaError('ROTATION_PHASE', `${step}: the rotation phase is "${this.state.phase}", expected "${want}"`);
    return { ...this.state, store: this.store };
  }

  private async commit(next: { phase: RotationPhase; signingRootId: string; roots: LoadedRoot[] }, store: CaStore): Promise<void> {
    const persisted: CaState = { phase: next.phase, signingRootId: next.signingRootId, roots: next.roots.map(({ id, certPem, keyPem }) => ({ id, certPem, keyPem })) };
    await store.save(persisted);
    this.state = next;
    this.material = materialFromRoots(next);
    this.recordExpiry();
  }

  /** Step 1: generates and persists a new root; trust bundle becomes [old, new]; old still signs. */
  async introduceRoot(): Promise<void> {
    const s = this.rotationState('introduce', 'steady');
    const lastId = Math.max(...s.roots.map((r) => Number(r.id.slice('root-'.length))));
    const root = loadRoot(newRoot(`root-${lastId + 1}`, this.opts), s.store.location);
    await this.commit({ phase: 'introduced', signingRootId: s.signingRootId, roots: [...s.roots, root] }, s.store);
    this.emit(this.bundleListeners);
  }

  /** Step 2: the new root signs; certificates should be reissued (signer listeners fire). */
  async activateNewRoot(): Promise<void> {
    const s = this.rotationState('activate', 'introduced');
    const newest = s.roots[s.roots.length - 1]!;
    await this.commit({ phase: 'activated', signingRootId: newest.id, roots: s.roots }, s.store);
    this.emit(this.signerListeners);
  }

  /** Step 3: the old root leaves the trust bundle (and the store). */
  async retireOldRoot(): Promise<void> {
    const s = this.rotationState('retire', 'activated');
    const keep = s.roots.filter((r) => r.id === s.signingRootId);
    await this.commit({ phase: 'steady', signingRootId: s.signingRootId, roots: keep }, s.store);
    this.emit(this.bundleListeners);
  }

  private emit(set: Set<Listener>): void {
    for (const fn of [...set]) fn();
  }
}

function newRoot(id: string, opts: CaOptions): CaRootRecord {
  const { privateKey } = generateCaKey(opts.keyType ?? 'ec-p256');
  const now = (opts.now ?? Date.now)();
  const ttl = opts.rootTtlSeconds ?? 10 * 365 * DAY_SECONDS;
  const subject = encodeName([['O', opts.trustDomain ?? 'cluster.local'], ['CN', `meshd ${id}`]]);
  const certDer = buildCaCertificate(
    { subject, spki: spkiOf(privateKey), notBefore: new Date(Math.floor(now / 1000) * 1000 - 300_000), notAfter: new Date(Math.floor(now / 1000) * 1000 + ttl * 1000) },
    privateKey,
  );
  return { id, certPem: toPem('CERTIFICATE', certDer), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function loadRoot(r: CaRootRecord, location: string): LoadedRoot {
  const der = parseCertificatesPem(r.certPem)[0];
  if (!der) throw new CaError('STATE_CORRUPT', `${location}: root ${r.id} has no certificate`);
  let cert: ParsedCertificate;
  let key: KeyObject;
  try {
    cert = parseCertificate(der);
    key = createPrivateKey(r.keyPem);
  } catch (e) {
    throw new CaError('STATE_CORRUPT', `${location}: root ${r.id}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!keyMatchesSpki(key, cert.spki)) throw new CaError('STATE_CORRUPT', `${location}: the key of root ${r.id} does not match its certificate`);
  return { ...r, cert, key };
}

function materialFromRoots(s: { signingRootId: string; roots: readonly LoadedRoot[] }): SigningMaterial {
  const signing = s.roots.find((r) => r.id === s.signingRootId)!;
  const rootPem = toPem('CERTIFICATE', signing.cert.der);
  return {
    signer: new LeafSigner(signing.cert, signing.key),
    chainTailPem: [rootPem],
    trustBundlePem: s.roots.map((r) => toPem('CERTIFICATE', r.cert.der)),
    issuers: s.roots.map((r) => r.cert),
    notAfter: signing.cert.notAfter,
    kind: 'self-signed',
  };
}

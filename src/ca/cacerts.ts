/**
 * A plugged-in CA in Istio's `cacerts` layout: ca-cert.pem + ca-key.pem (the intermediate
 * that signs), cert-chain.pem (intermediates up to the root), root-cert.pem (trust bundle).
 * Workload chains are leaf → intermediates → root.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority, type CaOptions, type SigningMaterial } from './ca.js';
import { CaError } from './errors.js';
import { keyMatchesSpki } from './keys.js';
import { parseCertificatesPem, toPem } from './pem.js';
import { LeafSigner, parseCertificate, type ParsedCertificate } from './x509.js';

function readCerts(path: string, required: boolean): Buffer[] {
  if (!existsSync(path)) {
    if (required) throw new CaError('INVALID_CONFIG', `plugged-in CA file ${path} is missing`);
    return [];
  }
  let ders: Buffer[];
  try {
    ders = parseCertificatesPem(readFileSync(path, 'utf8'));
    for (const d of ders) parseCertificate(d);
  } catch (e) {
    throw new CaError('STATE_CORRUPT', `corrupt certificate file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (required && ders.length === 0) throw new CaError('STATE_CORRUPT', `corrupt certificate file ${path}: no CERTIFICATE block`);
  return ders;
}

/** Builds signing material from a cacerts directory; every problem names its file. */
export function loadCacertsMaterial(dir: string): SigningMaterial {
  const caCertPath = join(dir, 'ca-cert.pem');
  const caKeyPath = join(dir, 'ca-key.pem');
  const chainPath = join(dir, 'cert-chain.pem');
  const rootPath = join(dir, 'root-cert.pem');
  const caDer = readCerts(caCertPath, true)[0]!;
  const roots = readCerts(rootPath, true);
  const chain = readCerts(chainPath, false);
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(caKeyPath, 'utf8'));
  } catch (e) {
    throw new CaError('STATE_CORRUPT', `corrupt CA key file ${caKeyPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const caCert = parseCertificate(caDer);
  if (!caCert.isCa) throw new CaError('INVALID_CONFIG', `${caCertPath} is not a CA certificate (basicConstraints CA:true missing)`);
  if (!keyMatchesSpki(key, caCert.spki)) throw new CaError('INVALID_CONFIG', `${caKeyPath} does not match ${caCertPath}`);

  // Tail above the leaf: the signing cert, then the chain file's certs, ending at a root.
  const tail: Buffer[] = [caDer];
  for (const d of chain) if (!tail.some((t) => t.equals(d))) tail.push(d);
  const last = tail[tail.length - 1]!;
  if (!roots.some((r) => r.equals(last))) {
    const lastX = new X509Certificate(last);
    const issuerRoot = roots.find((r) => lastX.checkIssued(new X509Certificate(r)));
    if (!issuerRoot) throw new CaError('INVALID_CONFIG', `${chainPath}: the chain does not end at a root in ${rootPath}`);
    tail.push(issuerRoot);
  }
  for (let i = 0; i + 1 < tail.length; i++) {
    const child = new X509Certificate(tail[i]!);
    const parent = new X509Certificate(tail[i + 1]!);
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new CaError('INVALID_CONFIG', `${dir}: certificate ${i} of the chain (${child.subject.replace(/\n/g, ', ')}) is not signed by the next one`);
    }
  }
  const issuers: ParsedCertificate[] = [caCert];
  return {
    signer: new LeafSigner(caCert, key),
    chainTailPem: tail.map((d) => toPem('CERTIFICATE', d)),
    trustBundlePem: roots.map((d) => toPem('CERTIFICATE', d)),
    issuers,
    notAfter: tail.map((d) => parseCertificate(d).notAfter).reduce((a, b) => (a < b ? a : b)),
    kind: 'plugged',
  };
}

/** Opens a CA that signs as the intermediate in `dir` (Istio's cacerts layout). */
export function openPluggedCa(dir: string, opts: CaOptions = {}): CertificateAuthority {
  return CertificateAuthority.fromMaterial(loadCacertsMaterial(dir), opts);
}

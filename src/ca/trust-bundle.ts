/**
 * The workload issuer meshd's SDS uses: meshd's own CA, or an external signer through the
 * Kubernetes CSR API (meshd then a registration authority), with a trust bundle of meshd's
 * roots plus extra roots (`--extra-trust-roots`, mesh config `caCertificates`). Every proxy's
 * ROOTCA carries the whole bundle, so workloads signed by either side verify each other.
 */
import { readFileSync } from 'node:fs';
import type { Identity } from '../model/types.js';
import type { CertificateAuthority, IssuedKeyAndCertificate } from './ca.js';
import { CaError } from './errors.js';
import type { KubernetesCsrRa } from './k8s-csr-ra.js';
import { parseCertificatesPem, toPem } from './pem.js';
import { parseCertificate } from './x509.js';
import type { WorkloadIssuer } from '../sds/cert-manager.js';

/** Splits PEM text into one PEM string per certificate; INVALID_CONFIG names `what` when there are none or one does not parse. */
export function splitRoots(text: string, what: string): string[] {
  const ders = parseCertificatesPem(text);
  if (!ders.length) throw new CaError('INVALID_CONFIG', `${what}: no PEM certificate found`);
  return ders.map((d, i) => {
    try { parseCertificate(d); } catch (e) { throw new CaError('INVALID_CONFIG', `${what}: certificate ${i + 1} does not parse: ${e instanceof Error ? e.message : String(e)}`); }
    return toPem('CERTIFICATE', d);
  });
}

/** Reads `--extra-trust-roots FILE`. */
export function readExtraRoots(file: string): string[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new CaError('INVALID_CONFIG', `--extra-trust-roots ${file}: ${e instanceof Error ? e.message : String(e)}`); }
  return splitRoots(text, `--extra-trust-roots ${file}`);
}

export interface MeshIssuer extends WorkloadIssuer {
  /** Replaces the extra roots from the mesh config (`caCertificates`); notifies when the bundle changed. */
  setMeshRoots(pems: readonly string[]): void;
}

/** The issuer: `ra` signs workload certificates when given, else `ca`; the bundle is ca's roots + file roots + mesh roots. */
export function meshIssuer(ca: CertificateAuthority, ra: KubernetesCsrRa | undefined, fileRoots: readonly string[]): MeshIssuer {
  let meshRoots: readonly string[] = [];
  const listeners = new Set<() => void>();
  const bundle = (): string[] => [...new Set([...ca.trustBundlePem(), ...fileRoots, ...meshRoots])];
  return {
    spiffeUri: (id: Identity) => (ra ?? ca).spiffeUri(id),
    issueWorkload: (id: Identity, ttl?: number): IssuedKeyAndCertificate | Promise<IssuedKeyAndCertificate> => (ra ? ra.issueWorkload(id, ttl) : ca.issueWorkload(id, ttl)),
    trustBundlePem: bundle,
    onTrustBundleChange(fn) {
      const off = ca.onTrustBundleChange(fn);
      listeners.add(fn);
      return () => { off(); listeners.delete(fn); };
    },
    onSignerChange: (fn) => ca.onSignerChange(fn),
    setMeshRoots(pems) {
      const next = pems.flatMap((p, i) => { try { return splitRoots(p, `caCertificates[${i}]`); } catch { return []; } });
      if (next.join('') === meshRoots.join('')) return;
      meshRoots = next;
      for (const fn of listeners) fn();
    },
  };
}

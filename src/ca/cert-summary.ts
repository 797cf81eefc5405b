/**
 * Public facts of a certificate chain for debug endpoints and meshctl: serial, subject,
 * issuer, validity, SPIFFE id, SHA-256. Never a key: only certificates go in.
 */
import { X509Certificate } from 'node:crypto';
import { parseCertificatesPem } from './pem.js';

/** One certificate, as meshd shows it. */
export interface CertSummary {
  /** Lowercase hex without leading zeros (the form Envoy's `/certs` can be compared with). */
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  /** The first `spiffe://` URI SAN, if any. */
  readonly spiffeId?: string;
  /** ISO 8601. */
  readonly notBefore: string;
  readonly notAfter: string;
  readonly sha256: string;
  readonly isCa: boolean;
}

/** A serial in one canonical form: lowercase hex, no separators, no leading zeros. */
export function canonicalSerial(s: string): string {
  return s.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+(?=.)/, '');
}

/** Summarizes one certificate. */
export function summarizeCertificate(c: X509Certificate): CertSummary {
  const uri = (c.subjectAltName ?? '').split(/,\s*/).map((s) => s.replace(/^URI:/, '').replace(/^"|"$/g, '')).find((s) => s.startsWith('spiffe://'));
  return {
    serial: canonicalSerial(c.serialNumber),
    subject: (c.subject ?? '').replace(/\n/g, ', '),
    issuer: (c.issuer ?? '').replace(/\n/g, ', '),
    ...(uri ? { spiffeId: uri } : {}),
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    sha256: c.fingerprint256.replace(/:/g, '').toLowerCase(),
    isCa: c.ca,
  };
}

/** Summarizes every certificate in PEM text(s), in order (leaf first for a chain). */
export function summarizeChain(pems: readonly string[]): CertSummary[] {
  return pems.flatMap((p) => parseCertificatesPem(p)).map((der) => summarizeCertificate(new X509Certificate(der)));
}

/** PEM encoding and decoding (RFC 7468), strict enough to name what is wrong. */

/** Wraps DER bytes as one PEM block with 64-character lines. */
export function toPem(label: string, derBytes: Uint8Array): string {
  const b64 = Buffer.from(derBytes.buffer, derBytes.byteOffset, derBytes.length).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order; text outside blocks is ignored, as OpenSSL does. */
export function parsePem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new Error(`PEM block ${m[1]} is not valid base64`);
    out.push({ label: m[1]!, der: Buffer.from(body, 'base64') });
  }
  return out;
}

/** The DER of every CERTIFICATE block in `text`, in order. */
export function parseCertificatesPem(text: string): Buffer[] {
  return parsePem(text).filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
}

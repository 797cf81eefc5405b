/** PKCS#10 certificate signing requests: build (node agent, tests) and parse + verify (CA). */
import { sign, verify, type KeyObject } from 'node:crypto';
import { children, ctx, der, DerError, expectTag, oidToString, readOne, seq, smallInt, Tag, bitString, NULL } from './der.js';
import { OID, OID_DER } from './oids.js';
import { importSpki, type PublicKeyKind } from './keys.js';
import { encodeName, encodeSan } from './x509.js';
import { parsePem, toPem } from './pem.js';
import { CaError } from './errors.js';

export interface CsrOptions {
  /** SAN URIs to request (the CA ignores them; it uses the caller's identity). */
  readonly uris?: readonly string[];
  readonly organization?: string;
}

/** Builds a CSR signed with `key` over `spki`; returns DER. */
export function createCsr(key: KeyObject, spki: Buffer, opts: CsrOptions = {}): Buffer {
  const subject = encodeName(opts.organization ? [['O', opts.organization]] : []);
  const attrs: Buffer[] = [];
  if (opts.uris?.length) {
    const san = seq(OID_DER.subjectAltName, der(Tag.OctetString, encodeSan(opts.uris)));
    attrs.push(seq(OID_DER.extensionRequest, der(Tag.Set, seq(san))));
  }
  const info = seq(smallInt(0), subject, spki, der(ctx(0, true), ...attrs));
  const isEc = key.asymmetricKeyType === 'ec';
  const alg = isEc ? seq(OID_DER.ecdsaWithSha256) : seq(OID_DER.sha256WithRsa, NULL);
  return seq(info, alg, bitString(sign('sha256', info, key)));
}

/** PEM form of a CSR. */
export function csrToPem(csrDer: Buffer): string {
  return toPem('CERTIFICATE REQUEST', csrDer);
}

export interface ParsedCsr {
  readonly info: Buffer;
  readonly spki: Buffer;
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;
}

const HASH_OF: Readonly<Record<string, string>> = {
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
};

/** Parses a CSR from PEM text or DER; INVALID_CSR names what is wrong. */
export function parseCsr(input: string | Buffer): ParsedCsr {
  let derBytes: Buffer;
  if (typeof input === 'string') {
    let pem;
    // Bad base64 is the caller's mistake (INVALID_ARGUMENT), not an internal error.
    try { pem = parsePem(input); } catch (e) { throw new CaError('INVALID_CSR', `malformed CSR: ${e instanceof Error ? e.message : String(e)}`); }
    const blocks = pem.filter((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
    if (blocks.length !== 1) throw new CaError('INVALID_CSR', `malformed CSR: expected one PEM CERTIFICATE REQUEST block, found ${blocks.length}`);
    derBytes = blocks[0]!.der;
  } else {
    derBytes = input;
  }
  try {
    const top = children(expectTag(readOne(derBytes), Tag.Sequence, 'CertificationRequest'));
    const info = expectTag(top[0], Tag.Sequence, 'certificationRequestInfo');
    const infoParts = children(info);
    const version = expectTag(infoParts[0], Tag.Integer, 'version');
    if (version.content.length !== 1 || version.content[0] !== 0) throw new DerError('version must be 0');
    expectTag(infoParts[1], Tag.Sequence, 'subject');
    const spki = expectTag(infoParts[2], Tag.Sequence, 'subjectPKInfo');
    const alg = children(expectTag(top[1], Tag.Sequence, 'signatureAlgorithm'));
    const algOid = oidToString(expectTag(alg[0], Tag.Oid, 'signatureAlgorithm id').content);
    const sig = expectTag(top[2], Tag.BitString, 'signature').content;
    if (sig[0] !== 0) throw new DerError('signature has unused bits');
    return { info: info.raw, spki: spki.raw, signatureAlgorithm: algOid, signature: sig.subarray(1) };
  } catch (e) {
    if (e instanceof CaError) throw e;
    throw new CaError('INVALID_CSR', `malformed CSR: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Checks the CSR's self-signature; returns its key's SPKI and kind. P-256 and RSA (≥ 2048)
 * only: other keys are UNSUPPORTED_KEY; a signature that does not verify is BAD_CSR_SIGNATURE.
 */
export async function verifyCsr(csr: ParsedCsr): Promise<{ spki: Buffer; kind: PublicKeyKind }> {
  let imported: Awaited<ReturnType<typeof importSpki>>;
  try {
    imported = await importSpki(csr.spki);
  } catch (e) {
    if (e instanceof CaError) throw e;
    throw new CaError('INVALID_CSR', `malformed CSR public key: ${e instanceof Error ? e.message : String(e)}`);
  }
  const hash = HASH_OF[csr.signatureAlgorithm];
  if (!hash) throw new CaError('INVALID_CSR', `unsupported CSR signature algorithm ${csr.signatureAlgorithm}`);
  const wantsEc = csr.signatureAlgorithm.startsWith('1.2.840.10045.');
  let ok = false;
  if (wantsEc === (imported.kind === 'ec-p256')) {
    try {
      ok = verify(hash, csr.info, imported.key, csr.signature);
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new CaError('BAD_CSR_SIGNATURE', 'CSR signature does not verify');
  return { spki: csr.spki, kind: imported.kind };
}

/**
 * X.509 certificates: a reader for the fields the CA needs, and builders. Leaf certificates
 * are built by `LeafSigner`, which encodes everything constant for one issuer (algorithm,
 * issuer name, extension template, AKI) once and splices only serial, validity, SAN and key.
 */
import { randomFillSync, sign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { children, ctx, der, DerError, expectTag, oidToString, readOne, readTime, seq, smallInt, Tag, time, TRUE, bitString, type DerNode } from './der.js';
import { OID, OID_DER } from './oids.js';
import { keyIdentifier, signatureAlgorithm } from './keys.js';
import { toPem } from './pem.js';

export interface ParsedCertificate {
  readonly der: Buffer;
  readonly serialHex: string;
  /** Raw DER of the issuer and subject Names (compared byte for byte). */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly isCa: boolean;
  readonly subjectKeyId?: Buffer;
  readonly authorityKeyId?: Buffer;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
}

/** Parses a DER certificate; throws DerError naming the bad part. */
export function parseCertificate(derBytes: Buffer): ParsedCertificate {
  const cert = children(expectTag(readOne(derBytes), Tag.Sequence, 'Certificate'));
  const tbs = children(expectTag(cert[0], Tag.Sequence, 'tbsCertificate'));
  let i = tbs[0]?.tag === ctx(0, true) ? 1 : 0;
  const serial = expectTag(tbs[i++], Tag.Integer, 'serialNumber');
  expectTag(tbs[i++], Tag.Sequence, 'signature');
  const issuer = expectTag(tbs[i++], Tag.Sequence, 'issuer');
  const validity = children(expectTag(tbs[i++], Tag.Sequence, 'validity'));
  const subject = expectTag(tbs[i++], Tag.Sequence, 'subject');
  const spki = expectTag(tbs[i++], Tag.Sequence, 'subjectPublicKeyInfo');
  let isCa = false;
  let subjectKeyId: Buffer | undefined;
  let authorityKeyId: Buffer | undefined;
  const uris: string[] = [];
  const dnsNames: string[] = [];
  for (; i < tbs.length; i++) {
    if (tbs[i]!.tag !== ctx(3, true)) continue;
    for (const ext of children(expectTag(children(tbs[i]!)[0], Tag.Sequence, 'extensions'))) {
      const parts = children(ext);
      const id = oidToString(expectTag(parts[0], Tag.Oid, 'extnID').content);
      const value = expectTag(parts[parts.length - 1], Tag.OctetString, 'extnValue').content;
      if (id === OID.basicConstraints) {
        const bc = children(readOne(value));
        isCa = bc[0]?.tag === Tag.Boolean && bc[0].content[0] !== 0;
      } else if (id === OID.subjectKeyIdentifier) {
        subjectKeyId = expectTag(readOne(value), Tag.OctetString, 'subjectKeyIdentifier').content;
      } else if (id === OID.authorityKeyIdentifier) {
        authorityKeyId = children(readOne(value)).find((n) => n.tag === ctx(0, false))?.content;
      } else if (id === OID.subjectAltName) {
        for (const gn of children(readOne(value))) {
          if (gn.tag === ctx(6, false)) uris.push(gn.content.toString('latin1'));
          else if (gn.tag === ctx(2, false)) dnsNames.push(gn.content.toString('latin1'));
        }
      }
    }
  }
  return {
    der: derBytes,
    serialHex: serial.content.toString('hex'),
    issuer: issuer.raw,
    subject: subject.raw,
    notBefore: readTime(expectTag(validity[0], validity[0]?.tag ?? 0, 'notBefore')),
    notAfter: readTime(expectTag(validity[1], validity[1]?.tag ?? 0, 'notAfter')),
    spki: spki.raw,
    isCa,
    subjectKeyId,
    authorityKeyId,
    uris,
    dnsNames,
  };
}

/** Encodes a distinguished name from (attribute, value) pairs, one RDN each, UTF8String. */
export function encodeName(attrs: readonly (readonly ['O' | 'CN', string])[]): Buffer {
  return seq(...attrs.map(([k, v]) => der(Tag.Set, seq(k === 'O' ? OID_DER.organization : OID_DER.commonName, der(Tag.Utf8String, Buffer.from(v, 'utf8'))))));
}

function extension(idDer: Buffer, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(idDer, TRUE, der(Tag.OctetString, value)) : seq(idDer, der(Tag.OctetString, value));
}

/** GeneralNames for a SAN extension: URIs, DNS names and IP addresses. */
export function encodeSan(uris: readonly string[], dnsNames: readonly string[] = [], ips: readonly string[] = []): Buffer {
  const names: Buffer[] = [];
  for (const u of uris) names.push(der(ctx(6, false), Buffer.from(u, 'latin1')));
  for (const d of dnsNames) names.push(der(ctx(2, false), Buffer.from(d, 'latin1')));
  for (const ip of ips) names.push(der(ctx(7, false), ipBytes(ip)));
  return seq(...names);
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (isIPv6(ip)) {
    const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const out = Buffer.alloc(16);
    groups.forEach((g, k) => out.writeUInt16BE(parseInt(g || '0', 16), k * 2));
    return out;
  }
  throw new Error(`not an IP address: ${ip}`);
}

const VERSION_3 = der(ctx(0, true), smallInt(2));
const EMPTY_NAME = seq();
const KU_LEAF = extension(OID_DER.keyUsage, true, Buffer.from('030205a0', 'hex')); // digitalSignature, keyEncipherment
const KU_CA = extension(OID_DER.keyUsage, true, Buffer.from('03020106', 'hex')); // keyCertSign, cRLSign
const EKU_LEAF = extension(OID_DER.extKeyUsage, false, seq(OID_DER.serverAuth, OID_DER.clientAuth));
const BC_LEAF = extension(OID_DER.basicConstraints, true, seq());
const SAN_ID = OID_DER.subjectAltName;

const pool = Buffer.allocUnsafe(4096);
let poolAt = pool.length;

/** A positive 16-byte serial with the top byte in 0x01–0x7f (no sign or padding issues). */
export function randomSerial(): Buffer {
  if (poolAt + 16 > pool.length) { randomFillSync(pool); poolAt = 0; }
  const s = Buffer.from(pool.subarray(poolAt, poolAt + 16));
  poolAt += 16;
  s[0] = (s[0]! & 0x7f) | 0x01;
  return s;
}

export interface LeafFields {
  readonly spki: Buffer;
  readonly uris: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Issues leaf certificates for one issuer key; the template is built once. */
export class LeafSigner {
  private readonly sigAlg: Buffer;
  private readonly hash: string;
  private readonly constExts: Buffer;

  constructor(readonly issuer: ParsedCertificate, private readonly key: KeyObject) {
    const alg = signatureAlgorithm(key);
    this.sigAlg = alg.der;
    this.hash = alg.hash;
    const keyId = issuer.subjectKeyId ?? keyIdentifier(issuer.spki);
    const aki = extension(OID_DER.authorityKeyIdentifier, false, seq(der(ctx(0, false), keyId)));
    this.constExts = Buffer.concat([BC_LEAF, KU_LEAF, EKU_LEAF, aki]);
  }

  /** Signs one leaf certificate; returns its DER. Subject is empty, so the SAN is critical. */
  sign(f: LeafFields): Buffer {
    const san = der(Tag.Sequence, SAN_ID, TRUE, der(Tag.OctetString, encodeSan(f.uris, f.dnsNames, f.ips)));
    const tbs = seq(
      VERSION_3,
      der(Tag.Integer, randomSerial()),
      this.sigAlg,
      this.issuer.subject,
      seq(time(f.notBefore), time(f.notAfter)),
      EMPTY_NAME,
      f.spki,
      der(ctx(3, true), seq(this.constExts, san)),
    );
    const signature = sign(this.hash, tbs, this.key);
    return seq(tbs, this.sigAlg, bitString(signature));
  }

  /** Signs one leaf and returns it as PEM. */
  signPem(f: LeafFields): string {
    return toPem('CERTIFICATE', this.sign(f));
  }
}

export interface CaCertFields {
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Issuer name and key id; absent → self-signed. */
  readonly issuer?: { readonly name: Buffer; readonly keyId: Buffer };
}

/** Builds a CA certificate (CA:true, keyCertSign+cRLSign, SKI/AKI) signed by `signingKey`. */
export function buildCaCertificate(f: CaCertFields, signingKey: KeyObject): Buffer {
  const alg = signatureAlgorithm(signingKey);
  const ski = keyIdentifier(f.spki);
  const exts = seq(
    extension(OID_DER.basicConstraints, true, seq(TRUE)),
    KU_CA,
    extension(OID_DER.subjectKeyIdentifier, false, der(Tag.OctetString, ski)),
    extension(OID_DER.authorityKeyIdentifier, false, seq(der(ctx(0, false), f.issuer?.keyId ?? ski))),
  );
  const tbs = seq(
    VERSION_3,
    der(Tag.Integer, randomSerial()),
    alg.der,
    f.issuer?.name ?? f.subject,
    seq(time(f.notBefore), time(f.notAfter)),
    f.subject,
    f.spki,
    der(ctx(3, true), exts),
  );
  return seq(tbs, alg.der, bitString(sign(alg.hash, tbs, signingKey)));
}

/** Re-export for callers that only need to know a parse failed. */
export { DerError };
export type { DerNode };

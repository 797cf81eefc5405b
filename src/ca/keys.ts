/**
 * Key handling with `node:crypto`. OpenSSL 3's key encoders/decoders cost 100–300 µs each,
 * so the hot paths avoid them: P-256 workload keys come from ECDH (raw scalar and point) and
 * their SPKI/PKCS#8 encodings are spliced from constant prefixes here.
 */
import { createECDH, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, webcrypto } from 'node:crypto';
import { children, der, expectTag, oidToString, readOne, seq, smallInt, Tag, bitString, ctx, NULL } from './der.js';
import { OID, OID_DER } from './oids.js';
import { toPem } from './pem.js';
import { CaError } from './errors.js';

export type CaKeyType = 'ec-p256' | 'rsa-2048';

const P256_ALG = seq(OID_DER.ecPublicKey, OID_DER.prime256v1);
/** SPKI prefix for an uncompressed P-256 point (65 bytes follow). */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/** SubjectPublicKeyInfo DER for an uncompressed P-256 point. */
export function p256Spki(point: Uint8Array): Buffer {
  if (point.length !== 65 || point[0] !== 4) throw new Error('expected an uncompressed P-256 point');
  return Buffer.concat([P256_SPKI_PREFIX, point]);
}

/** PKCS#8 DER for a P-256 key from its scalar and public point (left-pads the scalar). */
export function p256Pkcs8(scalar: Uint8Array, point: Uint8Array): Buffer {
  const d = Buffer.alloc(32);
  d.set(scalar, 32 - scalar.length);
  const ecPrivateKey = seq(smallInt(1), der(Tag.OctetString, d), der(ctx(1, true), bitString(point)));
  return seq(smallInt(0), P256_ALG, der(Tag.OctetString, ecPrivateKey));
}

/** A fresh workload key: PKCS#8 PEM for the proxy, SPKI DER for the certificate. */
export interface WorkloadKey {
  readonly privateKeyPem: string;
  readonly spki: Buffer;
  readonly scalar: Buffer;
  readonly point: Buffer;
}

/** Generates a P-256 key pair without going through OpenSSL's encoders. */
export function generateP256(): WorkloadKey {
  const ecdh = createECDH('prime256v1');
  const point = ecdh.generateKeys();
  const scalar = ecdh.getPrivateKey();
  return { privateKeyPem: toPem('PRIVATE KEY', p256Pkcs8(scalar, point)), spki: p256Spki(point), scalar, point };
}

/** A signing KeyObject for a WorkloadKey (JWK import, no PEM decoding). */
export function p256PrivateKeyObject(k: WorkloadKey): KeyObject {
  const d = Buffer.alloc(32);
  d.set(k.scalar, 32 - k.scalar.length);
  return createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: k.point.subarray(1, 33).toString('base64url'), y: k.point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
}

/** Generates a CA key pair (P-256 by default, RSA-2048 as an option). */
export function generateCaKey(type: CaKeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  return type === 'rsa-2048'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** SPKI DER of a public (or private) key object. */
export function spkiOf(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** The signature algorithm a CA key signs with: DER AlgorithmIdentifier plus the hash. */
export function signatureAlgorithm(key: KeyObject): { readonly der: Buffer; readonly hash: 'sha256' } {
  if (key.asymmetricKeyType === 'ec') return { der: seq(OID_DER.ecdsaWithSha256), hash: 'sha256' };
  if (key.asymmetricKeyType === 'rsa') return { der: seq(OID_DER.sha256WithRsa, NULL), hash: 'sha256' };
  throw new CaError('UNSUPPORTED_KEY', `unsupported CA key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

/** RFC 5280 key identifier: SHA-1 of the subjectPublicKey bits of an SPKI. */
export function keyIdentifier(spki: Buffer): Buffer {
  const parts = children(readOne(spki));
  const bits = expectTag(parts[1], Tag.BitString, 'subjectPublicKey');
  return createHash('sha1').update(bits.content.subarray(1)).digest();
}

export type PublicKeyKind = 'ec-p256' | 'rsa';

/**
 * Imports an SPKI for signature verification. P-256 goes through WebCrypto's raw import,
 * the cheapest path in Node 20. Anything but P-256 and RSA (≥ 2048 bits) is UNSUPPORTED_KEY.
 */
export async function importSpki(spki: Buffer): Promise<{ key: KeyObject; kind: PublicKeyKind }> {
  const parts = children(readOne(spki));
  const alg = children(expectTag(parts[0], Tag.Sequence, 'algorithm'));
  const algOid = oidToString(expectTag(alg[0], Tag.Oid, 'algorithm id').content);
  const bits = expectTag(parts[1], Tag.BitString, 'subjectPublicKey').content;
  if (algOid === OID.ecPublicKey) {
    const curve = alg[1]?.tag === Tag.Oid ? oidToString(alg[1].content) : '';
    if (curve !== OID.prime256v1) throw new CaError('UNSUPPORTED_KEY', `unsupported key type: EC curve ${curve || 'unknown'}`);
    const ck = await webcrypto.subtle.importKey('raw', bits.subarray(1), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    return { key: KeyObject.from(ck), kind: 'ec-p256' };
  }
  if (algOid === OID.rsaEncryption) {
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const bitsLen = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bitsLen < 2048) throw new CaError('UNSUPPORTED_KEY', `unsupported key type: RSA-${bitsLen} (minimum 2048)`);
    // Small public exponents (3) invite well-known signature forgeries; 65537 is the norm.
    const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
    if (e < 65537n) throw new CaError('UNSUPPORTED_KEY', `unsupported key type: RSA public exponent ${e} (minimum 65537)`);
    return { key, kind: 'rsa' };
  }
  throw new CaError('UNSUPPORTED_KEY', `unsupported key type: algorithm ${algOid}`);
}

/** Whether a private key and an SPKI belong together. */
export function keyMatchesSpki(privateKey: KeyObject, spki: Buffer): boolean {
  return spkiOf(privateKey).equals(spki);
}

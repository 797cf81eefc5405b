/**
 * A small DER encoder and reader: just what X.509 certificates, CSRs and keys need.
 * The encoder writes each element with one allocation; callers precompute constant parts.
 */

export const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  Sequence: 0x30,
  Set: 0x31,
} as const;

/** Context-specific tag number `n`: constructed (EXPLICIT) or primitive (IMPLICIT primitive). */
export function ctx(n: number, constructed: boolean): number {
  return (constructed ? 0xa0 : 0x80) | n;
}

function headerLength(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 5;
}

function writeHeader(out: Buffer, at: number, tag: number, len: number): number {
  out[at++] = tag;
  if (len < 0x80) out[at++] = len;
  else if (len < 0x100) { out[at++] = 0x81; out[at++] = len; }
  else if (len < 0x10000) { out[at++] = 0x82; out[at++] = len >> 8; out[at++] = len & 0xff; }
  else { out[at++] = 0x83; out[at++] = (len >> 16) & 0xff; out[at++] = (len >> 8) & 0xff; out[at++] = len & 0xff; }
  return at;
}

/** One TLV element whose content is the concatenation of `parts`; one allocation. */
export function der(tag: number, ...parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let at = writeHeader(out, 0, tag, len);
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** SEQUENCE of the given encoded elements. */
export function seq(...parts: readonly Uint8Array[]): Buffer {
  return der(Tag.Sequence, ...parts);
}

/** Encodes a dotted OID string (programmer input; throws on nonsense). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => Number(s));
  if (arcs.length < 2 || arcs.some((a) => !Number.isInteger(a) || a < 0)) throw new Error(`bad OID ${dotted}`);
  const bytes: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    let v = Math.floor(arc / 128);
    while (v > 0) { chunk.unshift((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
    bytes.push(...chunk);
  }
  return der(Tag.Oid, Buffer.from(bytes));
}

/** Decodes OID content bytes (without tag/length) to dotted form. */
export function oidToString(content: Uint8Array): string {
  if (content.length === 0) throw new DerError('empty OID');
  const first = content[0]!;
  const arcs: number[] = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  let v = 0;
  for (let i = 1; i < content.length; i++) {
    const b = content[i]!;
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) { arcs.push(v); v = 0; }
  }
  return arcs.join('.');
}

/** A non-negative INTEGER from big-endian magnitude bytes (adds a 0x00 if the top bit is set). */
export function uint(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return (m[0]! & 0x80) ? der(Tag.Integer, Buffer.of(0), m) : der(Tag.Integer, m);
}

/** A small non-negative INTEGER. */
export function smallInt(n: number): Buffer {
  return n < 0x80 ? Buffer.of(Tag.Integer, 1, n) : uint(Buffer.of(n >> 8, n & 0xff));
}

/** BIT STRING with no unused bits. */
export function bitString(bytes: Uint8Array): Buffer {
  return der(Tag.BitString, Buffer.of(0), bytes);
}

export const NULL = Buffer.of(Tag.Null, 0);
export const TRUE = Buffer.of(Tag.Boolean, 1, 0xff);

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5); whole seconds. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const two = (n: number): string => (n < 10 ? '0' : '') + n;
  const rest = two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + 'Z';
  if (y >= 1950 && y < 2050) return der(Tag.UtcTime, Buffer.from(two(y % 100) + rest, 'latin1'));
  return der(Tag.GeneralizedTime, Buffer.from(String(y).padStart(4, '0') + rest, 'latin1'));
}

// ---- reader ---------------------------------------------------------------------------

/** Malformed DER; `message` says where. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

/** One element: `raw` is the whole TLV, `content` its value bytes (both views, no copy). */
export interface DerNode {
  readonly tag: number;
  readonly raw: Buffer;
  readonly content: Buffer;
}

/** Reads the element at `offset`; the returned `end` is where the next one starts. */
export function readNode(buf: Buffer, offset = 0): DerNode & { readonly end: number } {
  if (offset + 2 > buf.length) throw new DerError(`truncated element at byte ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag numbers are not supported (byte ${offset})`);
  let at = offset + 1;
  let len = buf[at++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`unsupported length form at byte ${offset}`);
    if (at + n > buf.length) throw new DerError(`truncated length at byte ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at++]!;
  }
  const end = at + len;
  if (end > buf.length) throw new DerError(`element at byte ${offset} runs past the end`);
  return { tag, raw: buf.subarray(offset, end), content: buf.subarray(at, end), end };
}

/** Reads exactly one element filling `buf` (trailing bytes are an error). */
export function readOne(buf: Buffer): DerNode {
  const n = readNode(buf, 0);
  if (n.end !== buf.length) throw new DerError('trailing bytes after the element');
  return n;
}

/** The children of a constructed element. */
export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let at = 0;
  while (at < node.content.length) {
    const c = readNode(node.content, at);
    out.push(c);
    at = c.end;
  }
  return out;
}

/** Checks the tag of a node; throws DerError naming `what` otherwise. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`${what}: missing`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** Parses a UTCTime/GeneralizedTime node. */
export function readTime(node: DerNode): Date {
  const s = node.content.toString('latin1');
  let m: RegExpExecArray | null;
  if (node.tag === Tag.UtcTime && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (node.tag === Tag.GeneralizedTime && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw new DerError(`bad time value "${s}"`);
}

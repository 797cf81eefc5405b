/**
 * Hand-written protobuf framing for the few envelope fields the ADS server writes itself.
 * Resource bodies are encoded once elsewhere; here we only frame them (tag + length).
 */

const WIRE_LEN = 2;

/** How many bytes the varint of `n` takes. */
function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) size++;
  return size;
}

/** Writes the varint of `n` at `pos`; returns the position after it. */
function writeVarint(out: Buffer, pos: number, n: number): number {
  let v = n;
  while (v >= 0x80) {
    out[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[pos++] = v;
  return pos;
}

/** Bytes of an unsigned varint (values up to 2^53; lengths and tags only). */
export function varint(n: number): Buffer {
  const out = Buffer.allocUnsafe(varintSize(n));
  writeVarint(out, 0, n);
  return out;
}

/** A length-delimited field: tag(field, LEN) + varint(length) + bytes (one allocation). */
export function lenField(field: number, bytes: Uint8Array): Buffer {
  const tag = (field << 3) | WIRE_LEN;
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(bytes.length) + bytes.length);
  const pos = writeVarint(out, writeVarint(out, 0, tag), bytes.length);
  out.set(bytes, pos);
  return out;
}

/** A string field; empty strings are omitted, as proto3 does for defaults (one allocation). */
export function stringField(field: number, s: string): Buffer {
  if (s.length === 0) return Buffer.alloc(0);
  const tag = (field << 3) | WIRE_LEN;
  const len = Buffer.byteLength(s, 'utf8');
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(len) + len);
  const pos = writeVarint(out, writeVarint(out, 0, tag), len);
  out.write(s, pos, 'utf8');
  return out;
}

/** The header (tag + length) of a length-delimited field whose body is written separately. */
export function lenHeader(field: number, length: number): Buffer {
  const tag = (field << 3) | WIRE_LEN;
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(length));
  writeVarint(out, writeVarint(out, 0, tag), length);
  return out;
}

/**
 * A length-delimited field holding a `google.protobuf.Any` (type_url (1) + value (2)), framed in
 * one allocation with one copy of `value` (resource bodies of 10+ KB are framed per proxy).
 */
export function anyField(field: number, typeUrl: string, value: Uint8Array): Buffer {
  const urlLen = Buffer.byteLength(typeUrl, 'utf8');
  const anyLen = (urlLen ? 1 + varintSize(urlLen) + urlLen : 0) + 1 + varintSize(value.length) + value.length;
  const tag = (field << 3) | WIRE_LEN;
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(anyLen) + anyLen);
  let pos = writeVarint(out, writeVarint(out, 0, tag), anyLen);
  if (urlLen) {
    out[pos++] = (1 << 3) | WIRE_LEN;
    pos = writeVarint(out, pos, urlLen);
    pos += out.write(typeUrl, pos, 'utf8');
  }
  out[pos++] = (2 << 3) | WIRE_LEN;
  pos = writeVarint(out, pos, value.length);
  out.set(value, pos);
  return out;
}

/** `google.protobuf.Any` bytes: type_url (1) + value (2). */
export function anyBytes(typeUrl: string, value: Uint8Array): Buffer {
  return Buffer.concat([stringField(1, typeUrl), lenField(2, value)]);
}

/** One field read by {@link readFields}: its number, wire type and raw value. */
export interface WireField {
  readonly field: number;
  readonly wire: number;
  /** Varint value (wire 0), else 0. */
  readonly num: number;
  /** Body of a length-delimited field (wire 2), else an empty slice. */
  readonly bytes: Buffer;
}

/**
 * Reads the top-level fields of a message, in order; throws on truncated input.
 * Only what the tests and the bench's simulated sidecars need (varint, 64/32-bit, LEN).
 */
export function readFields(buf: Buffer): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
  };
  const empty = buf.subarray(0, 0);
  while (pos < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, num: readVarint(), bytes: empty });
    else if (wire === 2) {
      const len = readVarint();
      if (pos + len > buf.length) throw new Error('truncated field');
      out.push({ field, wire, num: 0, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

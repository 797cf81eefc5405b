/**
 * DiscoveryResponse / DeltaDiscoveryResponse bytes, built by concatenating pre-encoded
 * resource fields with a hand-framed envelope. Nothing is re-encoded per proxy.
 */
import { lenField, stringField } from './proto-wire.js';

const EMPTY = Buffer.alloc(0);

/**
 * Envelope fields that repeat across responses (a type's version goes to every proxy, type
 * URLs and the control plane id never change), encoded once. Bounded: cleared when full.
 */
const FIELD_CACHE_MAX = 4096;
const fieldCache = new Map<string, Buffer>();
function shared(key: string, make: () => Buffer): Buffer {
  let b = fieldCache.get(key);
  if (!b) {
    if (fieldCache.size >= FIELD_CACHE_MAX) fieldCache.clear();
    fieldCache.set(key, (b = make()));
  }
  return b;
}
const sharedStringField = (field: number, s: string): Buffer => shared(`${field}|${s}`, () => stringField(field, s));
const controlPlaneField = (field: number, id: string | undefined): Buffer =>
  id ? shared(`cp${field}|${id}`, () => lenField(field, stringField(1, id))) : EMPTY;

/** A SotW response; `resources` are `Encoded.sotwField` buffers or whole chunk bytes. */
export interface SotwResponseParts {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly resources: readonly Buffer[];
  readonly nonce: string;
  readonly controlPlane?: string;
}

/** Encodes a DiscoveryResponse: version_info 1, resources 2, type_url 4, nonce 5, control_plane 6. */
export function sotwResponse(p: SotwResponseParts): Buffer {
  return Buffer.concat(sotwResponsePieces(p));
}

/** The pieces of {@link sotwResponse}, in order, not yet joined (shared buffers, never mutate). */
export function sotwResponsePieces(p: SotwResponseParts): Buffer[] {
  return [
    sharedStringField(1, p.versionInfo),
    ...p.resources,
    sharedStringField(4, p.typeUrl),
    stringField(5, p.nonce),
    controlPlaneField(6, p.controlPlane),
  ];
}

/** A Delta response; `resources` are `Encoded.deltaField()` buffers. */
export interface DeltaResponseParts {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly resources: readonly Buffer[];
  readonly removed: readonly string[];
  readonly nonce: string;
  readonly controlPlane?: string;
}

/**
 * Encodes a DeltaDiscoveryResponse: system_version_info 1, resources 2, type_url 4,
 * nonce 5, removed_resources 6, control_plane 7.
 */
export function deltaResponse(p: DeltaResponseParts): Buffer {
  return Buffer.concat(deltaResponsePieces(p));
}

/** The pieces of {@link deltaResponse}, in order, not yet joined. */
export function deltaResponsePieces(p: DeltaResponseParts): Buffer[] {
  return [
    sharedStringField(1, p.systemVersionInfo),
    ...p.resources,
    sharedStringField(4, p.typeUrl),
    stringField(5, p.nonce),
    ...p.removed.map((n) => stringField(6, n)),
    controlPlaneField(7, p.controlPlane),
  ];
}

/** A response handed to grpc-js as pieces; joined only by {@link serializePieces}. */
export interface ResponsePieces {
  readonly pieces: readonly Buffer[];
  readonly length: number;
}

/** Wraps pieces with their total length. */
export function responsePieces(pieces: readonly Buffer[]): ResponsePieces {
  let length = 0;
  for (const b of pieces) length += b.length;
  return { pieces, length };
}

const SCRATCH_MAX = 4 * 1024 * 1024;
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The gRPC response serializer: joins pieces into a process-wide scratch buffer and returns
 * a view of it. grpc-js copies the serialized bytes into its own framed buffer at once
 * (synchronously), so the scratch is free again on return: one copy per response instead
 * of two, and no large short-lived buffer per response for the GC to chase. A Buffer
 * passes through as it is.
 */
export function serializePieces(m: ResponsePieces | Buffer): Buffer {
  if (Buffer.isBuffer(m)) return m;
  let out = scratch;
  if (m.length > out.length) {
    out = Buffer.allocUnsafe(m.length);
    if (m.length <= SCRATCH_MAX) scratch = out;
  }
  let pos = 0;
  for (const b of m.pieces) pos += b.copy(out, pos);
  return out.subarray(0, pos);
}

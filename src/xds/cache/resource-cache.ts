/**
 * The resource cache: each resource object is encoded to protobuf once (memo by object
 * identity) and each chunk (a shared, frozen array of resources) is indexed once. Versions
 * are short content hashes of the encoded bytes, so equal content gives equal versions
 * whatever object produced it.
 */
import { createHash } from 'node:crypto';
import { encodeResource, type EnvoyObject, type ResourceTypeUrl, ResourceType } from '../resource-types.js';
import { anyField, lenField, stringField } from './proto-wire.js';

/** A chunk of resources of one type, shared by identity across proxies. */
export type Chunk = readonly EnvoyObject[];

/** One resource, encoded once. Buffers are shared and must not be mutated. */
export interface Encoded {
  readonly typeUrl: ResourceTypeUrl;
  readonly name: string;
  /** Short content hash of the resource bytes. */
  readonly version: string;
  /** `DiscoveryResponse.resources` entry: field 2 framing + `Any` bytes. */
  readonly sotwField: Buffer;
  /** The `Any` bytes alone (a view into `sotwField`). */
  readonly anyBytes: Buffer;
  /** `DeltaDiscoveryResponse.resources` entry (field 2 framing + `Resource` bytes), built on first use. */
  deltaField(): Buffer;
}

/** What the cache knows about one chunk. */
export interface ChunkInfo {
  /** Process-unique id, for memo keys. */
  readonly id: number;
  readonly encoded: readonly Encoded[];
  readonly byName: ReadonlyMap<string, Encoded>;
  /** Hash of the resources' names and versions, in order. */
  readonly version: string;
  /** Concatenated `sotwField`s of the whole chunk, built on first use. */
  sotwBytes(): Buffer;
  /** Concatenated `deltaField()`s of the whole chunk, built on first use. */
  deltaBytes(): Buffer;
}

/** Resources that differ between two chunk lists: changed or added, and removed names. */
export interface ChunkDiff {
  readonly changed: readonly Encoded[];
  readonly removed: readonly string[];
}

const EMPTY_DIFF: ChunkDiff = Object.freeze({ changed: [], removed: [] });

/** Hash helper: base64url of sha256, cut to 16 characters. */
export function shortHash(parts: readonly (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('base64url').slice(0, 16);
}

/** The name of a resource: `cluster_name` for ClusterLoadAssignment, `name` for the others. */
export function resourceName(typeUrl: ResourceTypeUrl, obj: EnvoyObject): string {
  const v = typeUrl === ResourceType.Endpoint ? obj['cluster_name'] : obj['name'];
  if (typeof v !== 'string' || v.length === 0) throw new Error(`${typeUrl}: resource without a name`);
  return v;
}

/** True when two chunk lists hold the same chunks (by identity) in the same order. */
export function sameChunks(a: readonly Chunk[] | undefined, b: readonly Chunk[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Memoizing encoder. One instance per server; entries live as long as the resource
 * objects and chunks they describe (WeakMaps), so dropping a snapshot frees its bytes.
 */
export class ResourceCache {
  private readonly byObject = new WeakMap<object, Encoded>();
  private readonly byChunk = new WeakMap<Chunk, ChunkInfo>();
  private readonly pairDiffs = new WeakMap<Chunk, WeakMap<Chunk, ChunkDiff>>();
  private readonly indexByList = new WeakMap<readonly Chunk[], ReadonlyMap<string, Encoded>>();
  private readonly versionByList = new WeakMap<readonly Chunk[], { readonly typeUrl: ResourceTypeUrl; readonly version: string }>();
  private readonly indexByIds = new Map<string, ReadonlyMap<string, Encoded>>();
  private nextChunkId = 1;
  /** Number of resources encoded so far (for tests and the bench). */
  encodeCount = 0;

  /** Encodes a resource once; the same object always returns the same Encoded. */
  encode(typeUrl: ResourceTypeUrl, obj: EnvoyObject): Encoded {
    const hit = this.byObject.get(obj);
    if (hit && hit.typeUrl === typeUrl) return hit;
    const name = resourceName(typeUrl, obj);
    const value = encodeResource(typeUrl, obj);
    this.encodeCount++;
    const version = shortHash([value]);
    const sotwField = anyField(2, typeUrl, value);
    const any = sotwField.subarray(headerLength(sotwField));
    let delta: Buffer | undefined;
    const enc: Encoded = {
      typeUrl,
      name,
      version,
      sotwField,
      anyBytes: any,
      deltaField(): Buffer {
        // Resource: version (1), resource Any (2), name (3).
        delta ??= lenField(2, Buffer.concat([stringField(1, version), lenField(2, any), stringField(3, name)]));
        return delta;
      },
    };
    this.byObject.set(obj, enc);
    return enc;
  }

  /** Indexes a chunk once; throws on a duplicate name inside it (a programmer error). */
  chunk(typeUrl: ResourceTypeUrl, chunk: Chunk): ChunkInfo {
    const hit = this.byChunk.get(chunk);
    if (hit) return hit;
    const encoded = chunk.map((o) => this.encode(typeUrl, o));
    const byName = new Map<string, Encoded>();
    const parts: string[] = [];
    for (const e of encoded) {
      if (byName.has(e.name)) throw new Error(`${typeUrl}: duplicate resource name ${e.name} in one chunk`);
      byName.set(e.name, e);
      parts.push(e.name, '\0', e.version, '\n');
    }
    let bytes: Buffer | undefined;
    let delta: Buffer | undefined;
    const info: ChunkInfo = {
      id: this.nextChunkId++,
      encoded,
      byName,
      version: shortHash(parts),
      sotwBytes: () => (bytes ??= Buffer.concat(encoded.map((e) => e.sotwField))),
      deltaBytes: () => (delta ??= Buffer.concat(encoded.map((e) => e.deltaField()))),
    };
    this.byChunk.set(chunk, info);
    return info;
  }

  /** Version of a proxy's whole set of one type: the chunk version, or a hash of them. */
  typeVersion(typeUrl: ResourceTypeUrl, chunks: readonly Chunk[]): string {
    if (chunks.length === 1) return this.chunk(typeUrl, chunks[0]!).version;
    // Memoized by the list's identity: every proxy sharing a list plans with the same one.
    const hit = this.versionByList.get(chunks);
    if (hit !== undefined && hit.typeUrl === typeUrl) return hit.version;
    const version = shortHash(chunks.map((c) => this.chunk(typeUrl, c).version + '\n'));
    this.versionByList.set(chunks, { typeUrl, version });
    return version;
  }

  /** Finds a resource by name in a chunk list. */
  lookup(typeUrl: ResourceTypeUrl, chunks: readonly Chunk[], name: string): Encoded | undefined {
    return this.index(typeUrl, chunks).get(name);
  }

  /**
   * Name index of a chunk list, shared by every proxy with the same chunks: memoized by the
   * list's identity and by its chunks' ids (bounded). Must not be mutated.
   */
  index(typeUrl: ResourceTypeUrl, chunks: readonly Chunk[]): ReadonlyMap<string, Encoded> {
    if (chunks.length === 1) return this.chunk(typeUrl, chunks[0]!).byName;
    const byList = this.indexByList.get(chunks);
    if (byList) return byList;
    const key = typeUrl + '|' + chunks.map((c) => this.chunk(typeUrl, c).id).join(',');
    let idx = this.indexByIds.get(key);
    if (!idx) {
      const m = new Map<string, Encoded>();
      for (const c of chunks) for (const e of this.chunk(typeUrl, c).encoded) m.set(e.name, e);
      if (this.indexByIds.size >= 256) this.indexByIds.clear();
      this.indexByIds.set(key, (idx = m));
    }
    this.indexByList.set(chunks, idx);
    return idx;
  }

  /** Every resource of a chunk list, in chunk order. */
  *all(typeUrl: ResourceTypeUrl, chunks: readonly Chunk[]): Iterable<Encoded> {
    for (const c of chunks) yield* this.chunk(typeUrl, c).encoded;
  }

  /**
   * What changed from `before` to `after`: resources whose version differs or that are new,
   * and names that are gone. Chunks present in both (by identity) are skipped; a single
   * replaced chunk is diffed once and the result memoized for every proxy that shares it.
   */
  diff(typeUrl: ResourceTypeUrl, before: readonly Chunk[], after: readonly Chunk[]): ChunkDiff {
    if (sameChunks(before, after)) return EMPTY_DIFF;
    const oldOnly = before.filter((c) => !after.includes(c));
    const newOnly = after.filter((c) => !before.includes(c));
    if (oldOnly.length === 0 && newOnly.length === 0) return EMPTY_DIFF;
    if (oldOnly.length === 1 && newOnly.length === 1) {
      const a = oldOnly[0]!;
      const b = newOnly[0]!;
      let inner = this.pairDiffs.get(a);
      if (!inner) this.pairDiffs.set(a, (inner = new WeakMap()));
      let d = inner.get(b);
      if (!d) inner.set(b, (d = this.diffSets(typeUrl, [a], [b])));
      return d;
    }
    return this.diffSets(typeUrl, oldOnly, newOnly);
  }

  private diffSets(typeUrl: ResourceTypeUrl, oldOnly: readonly Chunk[], newOnly: readonly Chunk[]): ChunkDiff {
    const oldByName = new Map<string, Encoded>();
    for (const c of oldOnly) for (const e of this.chunk(typeUrl, c).encoded) oldByName.set(e.name, e);
    const changed: Encoded[] = [];
    const seen = new Set<string>();
    for (const c of newOnly) {
      for (const e of this.chunk(typeUrl, c).encoded) {
        seen.add(e.name);
        if (oldByName.get(e.name)?.version !== e.version) changed.push(e);
      }
    }
    const removed = [...oldByName.keys()].filter((n) => !seen.has(n));
    if (changed.length === 0 && removed.length === 0) return EMPTY_DIFF;
    return Object.freeze({ changed, removed });
  }
}

/** Length of the tag + length prefix of a framed field. */
function headerLength(framed: Buffer): number {
  let pos = 1; // the tag is one byte for fields < 16
  while (framed[pos]! >= 0x80) pos++;
  return pos + 1;
}

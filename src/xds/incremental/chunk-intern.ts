/**
 * Keeps resource objects alive across snapshots when their content did not change. A new
 * snapshot's translation builds new objects for everything; interning a new chunk against
 * the previous one reuses each old object that is equal by value, and the old chunk itself
 * when nothing differs. The resource cache encodes by object identity, so an endpoint change
 * then re-encodes one ClusterLoadAssignment instead of every cluster and endpoint, and the
 * ADS streams see unchanged types as the same chunk (nothing to send).
 */
import { isDeepStrictEqual } from 'node:util';
import type { EnvoyObject } from '../resource-types.js';
import type { ResourceChunk } from '../translate/index.js';

const nameOf = (r: EnvoyObject): string => String(r['name'] ?? r['cluster_name'] ?? '');

/** Merges chunks by value; memoized by the pair, so every proxy gets the same result object. */
export class ChunkInterner {
  private readonly byName = new WeakMap<ResourceChunk, ReadonlyMap<string, EnvoyObject>>();
  private readonly merged = new WeakMap<ResourceChunk, WeakMap<ResourceChunk, ResourceChunk>>();
  /** The latest interned chunk per shared-chunk key (bounded: cleared when it grows past `maxKeys`). */
  private readonly latest = new Map<string, ResourceChunk>();
  private readonly canonical = new WeakMap<ResourceChunk, ResourceChunk>();
  private readonly keys = new WeakMap<ResourceChunk, string>();
  /** Resources that were rebuilt with new content (not reused), for tests and the bench. */
  rebuilt = 0;

  constructor(private readonly maxKeys = 10_000) {}

  /**
   * `next`, with every resource equal to one of `prev` (same name, same value) replaced by
   * `prev`'s object; `prev` itself when all are equal and in the same order.
   */
  merge(prev: ResourceChunk, next: ResourceChunk): ResourceChunk {
    if (prev === next) return next;
    let inner = this.merged.get(prev);
    const hit = inner?.get(next);
    if (hit) return hit;
    if (!inner) this.merged.set(prev, (inner = new WeakMap()));
    let old = this.byName.get(prev);
    if (!old) {
      const m = new Map<string, EnvoyObject>();
      for (const r of prev) m.set(nameOf(r), r);
      this.byName.set(prev, (old = m));
    }
    let allSame = prev.length === next.length;
    const out: EnvoyObject[] = [];
    for (let i = 0; i < next.length; i++) {
      const n = next[i]!;
      const o = old.get(nameOf(n));
      const keep = o !== undefined && (o === n || isDeepStrictEqual(o, n));
      if (!keep) this.rebuilt++;
      out.push(keep ? o : n);
      if (!keep || prev[i] !== o) allSame = false;
    }
    const result = allSame ? prev : Object.freeze(out);
    inner.set(next, result);
    return result;
  }

  /**
   * The interned form of a shared chunk built under `key`: merged against the chunk interned
   * last under the same key (from an earlier snapshot), and remembered as the latest.
   */
  shared(key: string, chunk: ResourceChunk): ResourceChunk {
    const known = this.canonical.get(chunk);
    if (known) return known;
    const prev = this.latest.get(key);
    const result = prev ? this.merge(prev, chunk) : chunk;
    if (this.latest.size >= this.maxKeys && !this.latest.has(key)) this.latest.clear();
    this.latest.set(key, result);
    this.canonical.set(chunk, result);
    this.canonical.set(result, result);
    this.keys.set(result, key);
    return result;
  }

  /** The shared-chunk key an interned chunk was made under; undefined for a proxy's own chunk. */
  keyOf(chunk: ResourceChunk): string | undefined {
    return this.keys.get(chunk);
  }
}

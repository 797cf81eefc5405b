/**
 * The SotW names pool: a decoded resource_names list (a Set) shared by every stream that sent
 * the same bytes (1,000 sidecars subscribing to the same 1,000 EDS names hold one Set). Lists
 * are counted per stream and freed when the last stream using them lets go; the pool is
 * capped by bytes, and a list that does not fit is decoded for its stream alone.
 */
import type { SotwRequest } from './service.js';
import type { SharedNames } from './stream-host.js';

/** Estimated heap cost of a list: its raw bytes, the decoded strings, and a Set entry per name. */
function costOf(bytes: number, names: number): number {
  return bytes * 3 + names * 64;
}

/** How many resource_names entries a names region holds, without decoding them. */
export function countNames(region: Buffer): number {
  let n = 0;
  let p = 0;
  while (p < region.length) {
    p++; // tag (0x1a)
    let len = 0;
    let mul = 1;
    for (;;) {
      const b = region[p++]!;
      len += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
    }
    p += len;
    n++;
  }
  return n;
}

interface Entry {
  readonly digest: string;
  readonly list: SharedNames;
  readonly cost: number;
  users: number;
}

export class NamePool {
  private readonly byDigest = new Map<string, Entry>();
  private readonly byList = new WeakMap<SharedNames, Entry>();
  /** Estimated bytes of the pooled lists. */
  bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Lists pooled now (for tests and metrics). */
  get size(): number {
    return this.byDigest.size;
  }

  /** The list for a request's names, counted as used once more; `release` it when done. */
  acquire(req: SotwRequest): SharedNames {
    const digest = req.namesDigest();
    const hit = this.byDigest.get(digest);
    if (hit && hit.list.bytes.equals(req.namesBytes)) {
      hit.users++;
      return hit.list;
    }
    const names = new Set(req.resourceNames());
    const star = names.delete('*');
    const list: SharedNames = { names, star, bytes: Buffer.from(req.namesBytes) };
    const cost = costOf(list.bytes.length, names.size);
    // Over the cap (or a digest collision): the stream keeps its own list, unpooled.
    if (digest === '' || hit || this.bytes + cost > this.maxBytes) return list;
    const e: Entry = { digest, list, cost, users: 1 };
    this.byDigest.set(digest, e);
    this.byList.set(list, e);
    this.bytes += cost;
    return list;
  }

  /** One stream stopped using `list`; the last one frees it. Lists not pooled are ignored. */
  release(list: SharedNames): void {
    const e = this.byList.get(list);
    if (!e || --e.users > 0) return;
    this.byList.delete(list);
    this.byDigest.delete(e.digest);
    this.bytes -= e.cost;
  }
}

/**
 * Value-keyed sharing of translation pieces that repeat across filter chains, proxies and
 * snapshots (telemetry's stats loggers, peer-exchange filters, tracing blocks). Equal inputs
 * give the identical deep-frozen object, so the encoder converts it once (protos.ts keeps a
 * message per frozen object), the incremental interner compares it by identity, and a push
 * that changes every proxy rebuilds none of it. Output never depends on what is cached: a
 * miss builds the same value a hit returns. Bounded: a full table is cleared and refilled.
 */
import { freeze } from './common.js';

/** A bounded table of deep-frozen values by string key. */
export class FrozenMemo<T> {
  private readonly table = new Map<string, T>();

  constructor(private readonly max = 20_000) {}

  /** The value for `key`, built (and deep-frozen) on a miss. */
  get(key: string, build: () => T): T {
    let v = this.table.get(key);
    if (v === undefined) {
      v = freeze(build());
      if (this.table.size >= this.max) this.table.clear();
      this.table.set(key, v);
    }
    return v;
  }

  /** Entries held (for tests). */
  get size(): number {
    return this.table.size;
  }
}

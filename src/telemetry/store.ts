/**
 * In-memory aggregation of inbound access logs, bounded: every table is an LRU with a cap, so
 * a flood of distinct source addresses evicts the least recently seen entries instead of
 * growing meshd. Time comes from the caller (`now` in epoch ms), so tests drive the clock.
 */
import type { LogRecord } from './records.js';

/** The destination of a record: the workload whose sidecar logged it (from the stream's credential). */
export interface Destination {
  readonly namespace: string;
  readonly workload: string;
  /** The destination's SPIFFE id, from the credential. */
  readonly serverId: string;
}

export interface EdgeStats {
  readonly dst: Destination;
  /** The caller's SPIFFE id; '' for plaintext. */
  readonly clientId: string;
  /** Last source address seen on this edge. */
  sourceAddress: string;
  secured: boolean;
  requests: number;
  denied: number;
  lastSeen: number;
  /** Last RBAC key that denied a request on this edge. */
  lastDeniedBy?: string;
}

export interface PlaintextStats {
  readonly dst: Destination;
  readonly sourceAddress: string;
  requests: number;
  connections: number;
  firstSeen: number;
  lastSeen: number;
  /** Per-minute counts (epoch minute → requests + connections), the last 60 minutes. */
  readonly minutes: Map<number, number>;
  readonly ports: Set<number>;
}

export interface DenialStats {
  readonly dst: Destination;
  /** RBAC key or `none`. */
  readonly rbacKey: string;
  count: number;
  lastSeen: number;
  lastClient: string;
}

/** A Map used as an LRU: `touch` moves a key to the back; inserting past `cap` evicts the oldest. */
export class Lru<V> {
  private readonly m = new Map<string, V>();
  constructor(readonly cap: number) {}
  get size(): number { return this.m.size; }
  /** The value for `key` (created with `make` when absent), now the most recently used. */
  touch(key: string, make: () => V): V {
    let v = this.m.get(key);
    if (v !== undefined) this.m.delete(key);
    else v = make();
    this.m.set(key, v);
    while (this.m.size > this.cap) this.m.delete(this.m.keys().next().value as string);
    return v;
  }
  values(): IterableIterator<V> { return this.m.values(); }
}

export interface StoreLimits {
  readonly edges: number;
  readonly plaintext: number;
  readonly denials: number;
}

export const DEFAULT_LIMITS: StoreLimits = { edges: 10000, plaintext: 10000, denials: 2000 };
const MINUTES_KEPT = 60;

const dstKey = (d: Destination): string => `${d.namespace}/${d.workload}`;

/** Aggregated telemetry. Records are only ever added; reports read the tables. */
export class TelemetryStore {
  readonly edges: Lru<EdgeStats>;
  readonly plaintext: Lru<PlaintextStats>;
  readonly denials: Lru<DenialStats>;
  /** When the first record arrived (epoch ms), for "observed for how long". */
  firstRecordAt?: number;
  readonly startedAt: number;

  constructor(now: number, limits: StoreLimits = DEFAULT_LIMITS) {
    this.startedAt = now;
    this.edges = new Lru(limits.edges);
    this.plaintext = new Lru(limits.plaintext);
    this.denials = new Lru(limits.denials);
  }

  /** Adds one record for `dst` at time `now`. */
  add(dst: Destination, r: LogRecord, now: number): void {
    this.firstRecordAt ??= now;
    const secured = r.chainKind === 'mtls';
    const clientKey = r.peerUri || `ip:${r.sourceAddress}`;
    const e = this.edges.touch(`${dstKey(dst)}|${clientKey}`, () => ({ dst, clientId: r.peerUri, sourceAddress: r.sourceAddress, secured, requests: 0, denied: 0, lastSeen: now }));
    e.sourceAddress = r.sourceAddress;
    e.secured = secured;
    e.requests++;
    e.lastSeen = now;
    if (r.deniedBy !== undefined) {
      e.denied++;
      e.lastDeniedBy = r.deniedBy;
      const d = this.denials.touch(`${dstKey(dst)}|${r.deniedBy}`, () => ({ dst, rbacKey: r.deniedBy!, count: 0, lastSeen: now, lastClient: '' }));
      d.count++;
      d.lastSeen = now;
      d.lastClient = r.peerUri || r.sourceAddress;
    }
    if (r.chainKind === 'plaintext') {
      const p = this.plaintext.touch(`${dstKey(dst)}|${r.sourceAddress}`, () => ({ dst, sourceAddress: r.sourceAddress, requests: 0, connections: 0, firstSeen: now, lastSeen: now, minutes: new Map(), ports: new Set() }));
      if (r.kind === 'http') p.requests++;
      else p.connections++;
      p.lastSeen = now;
      if (r.port !== undefined) p.ports.add(r.port);
      const minute = Math.floor(now / 60000);
      p.minutes.set(minute, (p.minutes.get(minute) ?? 0) + 1);
      for (const k of p.minutes.keys()) if (k <= minute - MINUTES_KEPT) p.minutes.delete(k);
    }
  }
}

import type { ConsistencyChecker } from '../cache/consistency.js';
import type { ResourceCache } from '../cache/resource-cache.js';
import type { ResourceTypeUrl } from '../resource-types.js';
import type { LimitName, XdsLimits } from './limits.js';
import type { NamePool } from './name-pool.js';
import type { AdsStream } from './stream.js';
import type { AuthContext, AuthResult, ConnectedProxy, GeneratedResources, Logger, Rejection, XdsCounters } from './types.js';

/** A decoded SotW resource_names list (`star`: it held `*`, not in the Set; `bytes`: an owned copy of the raw names). */
export interface SharedNames {
  readonly names: ReadonlySet<string>;
  readonly star: boolean;
  readonly bytes: Buffer;
}

/** What a stream needs from its server (kept narrow so streams are testable alone). */
export interface StreamHost {
  readonly cache: ResourceCache;
  readonly checker: ConsistencyChecker;
  readonly log: Logger;
  readonly ackTimeoutMs: number;
  readonly controlPlaneId: string | undefined;
  readonly authenticate: ((ctx: AuthContext) => Promise<AuthResult> | AuthResult) | undefined;
  generate(proxy: ConnectedProxy): Promise<GeneratedResources> | GeneratedResources;
  /** The sequence number of the latest push() call. */
  pushSeq(): number;
  /** Counts a protocol event (and the error metric with `reason`). */
  count(counter: keyof XdsCounters, reason: string): void;
  recordRejection(r: Rejection): void;
  /**
   * SotW resource_names lists, each Set shared by every stream that sent byte-identical names
   * (keyed by their digest); `acquire` counts a use, `release` ends it (the last one frees it).
   */
  readonly names: NamePool;
  readonly limits: XdsLimits;
  /** Counts a limit a client exceeded (`meshd_xds_limit_exceeded_total{limit}`). */
  limitHit(limit: LimitName): void;
  /**
   * The Set of a Delta stream's first named subscription for a type, shared by every stream
   * whose first subscription listed the same names in the same order (names interned with
   * `intern`). Never mutated: subscription changes replace a stream's Set.
   */
  sharedSubscription(typeUrl: ResourceTypeUrl, names: readonly string[], intern: (n: string) => string): ReadonlySet<string>;
  /** A response was written: its size and how long it waited since the resources it carries were set. */
  onResponse(typeUrl: ResourceTypeUrl, bytes: number, queuedMs: number): void;
  onReady(stream: AdsStream): void;
  /** An on-demand stream asked for new names (`found[i]`: whether `names[i]` exists). */
  onDemandRequested(proxy: ConnectedProxy, names: readonly string[], found: readonly boolean[]): void;
  onClose(stream: AdsStream): void;
}

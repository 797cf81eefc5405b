import type { ConsistencyChecker } from '../cache/consistency.js';
import type { ResourceCache } from '../cache/resource-cache.js';
import type { ResourceTypeUrl } from '../resource-types.js';
import type { SotwRequest } from './service.js';
import type { AdsStream } from './stream.js';
import type { AuthContext, AuthResult, ConnectedProxy, GeneratedResources, Logger, Rejection, XdsCounters } from './types.js';

/** A decoded SotW resource_names list, shared by the streams that sent the same bytes. */
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
   * The Set for a SotW resource_names list, shared by every stream that sent byte-identical
   * names (keyed by their digest); `star` tells whether the list held `*` (not in the Set);
   * `bytes` is an owned copy of the raw names, to recognise the list when it is repeated.
   */
  sharedNames(req: SotwRequest): SharedNames;
  /**
   * The Set of a Delta stream's first named subscription for a type, shared by every stream
   * whose first subscription listed the same names in the same order (names interned with
   * `intern`). Never mutated: subscription changes replace a stream's Set.
   */
  sharedSubscription(typeUrl: ResourceTypeUrl, names: readonly string[], intern: (n: string) => string): ReadonlySet<string>;
  onResponse(typeUrl: ResourceTypeUrl): void;
  onReady(stream: AdsStream): void;
  onClose(stream: AdsStream): void;
}

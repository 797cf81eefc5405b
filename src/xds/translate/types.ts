import type { EnvoyObject } from '../resource-types.js';
import type { Diagnostic } from '../../model/types.js';
import type { ScopeDecision } from './scoping.js';

/**
 * A list of resources of one type, sorted by name. Chunks that are the same for many
 * proxies (all outbound clusters, all endpoints, a shared route configuration) are the same
 * frozen array instance for every proxy translated from the same snapshot, and the same
 * objects inside; so the resource cache encodes each once and the server can tell "nothing
 * changed" by identity. Names are unique across the chunks of one type.
 */
export type ResourceChunk = readonly EnvoyObject[];

/**
 * Everything one proxy should have, in Envoy's JSON form (snake_case, `@type` for Any).
 * Secrets are not here: listeners and clusters refer to SDS names; `src/sds` serves them.
 * The returned objects are frozen and must not be mutated.
 */
export interface ProxyResources {
  readonly clusters: readonly ResourceChunk[];
  readonly endpoints: readonly ResourceChunk[];
  readonly listeners: readonly ResourceChunk[];
  readonly routes: readonly ResourceChunk[];
  /** Problems met while translating for this proxy (for example a policy that cannot apply). */
  readonly diagnostics: readonly Diagnostic[];
}

/** Knobs for translation that are not part of the mesh model (mesh-wide settings come from snapshot.config). */
export interface TranslateOptions {
  /** Upstream connect timeout of outbound clusters, in Envoy's duration form. Default `10s`. */
  readonly connectTimeout?: string;
  /** Learned scoping for this proxy (src/xds/translate/scoping.ts); absent: the full registry. */
  readonly scope?: ScopeDecision;
}

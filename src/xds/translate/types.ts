import type { EnvoyObject } from '../resource-types.js';
import type { Diagnostic } from '../../model/types.js';

/**
 * Everything one proxy should have, in Envoy's JSON form, each list sorted by name.
 * Secrets are not here: listeners and clusters refer to SDS names; `src/sds` serves them.
 *
 * Rule: resources that are the same for many proxies (outbound clusters, endpoints, shared
 * route configurations) are the same object instance for every proxy translated from the
 * same snapshot, so the resource cache encodes them once. The returned objects are frozen
 * and must not be mutated.
 */
export interface ProxyResources {
  readonly clusters: readonly EnvoyObject[];
  readonly endpoints: readonly EnvoyObject[];
  readonly listeners: readonly EnvoyObject[];
  readonly routes: readonly EnvoyObject[];
  /** Problems met while translating for this proxy (for example a policy that cannot apply). */
  readonly diagnostics: readonly Diagnostic[];
}

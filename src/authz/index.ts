/**
 * The authz module's public surface, used by translation, the file store and Kubernetes.
 * PLACEHOLDER BODIES: the policy work replaces these with the real implementations.
 */
import type { AuthorizationPolicy, MeshSnapshot, PeerAuthentication, Workload } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import type { Diagnostic } from '../model/types.js';

/** The effective inbound mTLS mode for a workload: never UNSET (nothing set means PERMISSIVE). */
export type EffectiveMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface EffectiveMtls {
  /** Mode for ports without a port-level setting. */
  readonly mode: EffectiveMode;
  /** Port-level overrides, keyed by the workload's port number. */
  readonly ports: ReadonlyMap<number, EffectiveMode>;
}

/** Validates a raw `security.istio.io/{v1,v1beta1}` PeerAuthentication object. */
export function parsePeerAuthentication(raw: unknown, ctx: ParseContext): ParseResult<PeerAuthentication> {
  void raw; void ctx;
  throw new Error('not implemented yet');
}

/** Validates a raw `security.istio.io/{v1,v1beta1}` AuthorizationPolicy object. */
export function parseAuthorizationPolicy(raw: unknown, ctx: ParseContext): ParseResult<AuthorizationPolicy> {
  void raw; void ctx;
  throw new Error('not implemented yet');
}

/** Merges PeerAuthentications for one workload with Istio's precedence. */
export function effectiveMtls(snapshot: MeshSnapshot, workload: Workload): EffectiveMtls {
  void snapshot; void workload;
  return { mode: 'PERMISSIVE', ports: new Map() };
}

export interface InboundAuthz {
  /** HTTP filters to put before the router, in order (ext_authz, RBAC DENY, RBAC ALLOW, shadow). */
  readonly httpFilters: readonly EnvoyObject[];
  /** Network filters to put before tcp_proxy, in order. */
  readonly networkFilters: readonly EnvoyObject[];
  readonly diagnostics: readonly Diagnostic[];
}

/** Builds the authorization filters for one inbound port of a workload. */
export function inboundAuthz(snapshot: MeshSnapshot, workload: Workload, port: number, protocol: 'http' | 'tcp'): InboundAuthz {
  void snapshot; void workload; void port; void protocol;
  return { httpFilters: [], networkFilters: [], diagnostics: [] };
}

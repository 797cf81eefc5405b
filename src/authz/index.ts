/**
 * The authz module's public surface, used by translation, the file store and Kubernetes:
 * parsing of `security.istio.io` policies, the PeerAuthentication merge, AuthorizationPolicy →
 * Envoy RBAC, snapshot warnings, and the RBAC evaluator behind `meshctl authz check`.
 */
export { parsePeerAuthentication } from './parse-peer.js';
export { parseAuthorizationPolicy, DRY_RUN_ANNOTATION } from './parse-authz.js';
export { effectiveMtls, effectiveModeForPort, peerAuthenticationLevels } from './peer.js';
export type { EffectiveMode, EffectiveMtls, PeerAuthenticationLevels } from './peer.js';
export { mtlsProvenance } from './mtls-provenance.js';
export type { ModeSource, PortMtls, WorkloadMtls } from './mtls-provenance.js';
export { inboundAuthz, ExtAuthzFilter, extAuthzKeyPrefix, EXT_AUTHZ_SHADOW_PREFIX, BAD_CUSTOM_SUFFIX } from './rbac-filters.js';
export type { InboundAuthz } from './rbac-filters.js';
export { authorizationPoliciesFor, selectorMatches } from './select.js';
export { policyWarnings } from './warnings.js';
export { checkCall, evaluateRbac } from './evaluate.js';
export type { Call, CallDecision } from './evaluate.js';
export { parseRbacKey } from './evaluate.js';
export { authzSketchListeners, workloadPortProtocol } from './sketch-listener.js';
export { checkWithPolicies, snapshotFromPolicies } from './simulate.js';
export type { PolicyInput } from './simulate.js';
export { runAuthzCheck, parseFrom } from './check-command.js';
export type { AuthzCheckIo } from './check-command.js';

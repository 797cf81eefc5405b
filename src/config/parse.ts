/**
 * One dispatcher from raw objects (YAML documents, Kubernetes objects) to model objects, used
 * by the file store and the Kubernetes source alike.
 */
import type { AuthorizationPolicy, Diagnostic, Namespace, ObjectMeta, PeerAuthentication, RequestAuthentication, Service, Telemetry, Workload } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import type { DestinationRule, RouteSet, ServiceEntry, SidecarScope } from '../model/traffic.js';
import { DEFAULT_MESH_CONFIG } from '../model/types.js';
import { parseAuthorizationPolicy, parsePeerAuthentication } from '../authz/index.js';
import { parseRequestAuthentication } from '../authz/parse-request-authn.js';
import { isRecord } from './fields.js';
import { peekIdentity } from './meta.js';
import { parseNamespace } from './namespace.js';
import { type ParseOptions, parseService } from './service.js';
import { parseWorkloadEntry } from './workload-entry.js';
import { parseDestinationRule } from './traffic/destination-rule.js';
import { parseGrpcRoute } from './traffic/grpc-route.js';
import { parseHttpRoute } from './traffic/http-route.js';
import { parseServiceEntry } from './traffic/service-entry.js';
import { parseSidecar } from './traffic/sidecar.js';
import { parseVirtualService } from './traffic/virtual-service.js';

import { parseTelemetry, TELEMETRY_API_VERSIONS } from '../telemetry/parse-telemetry.js';
import type { MeshConfigOverrides } from './mesh-config.js';

export type MeshObjectKind = 'Namespace' | 'Service' | 'WorkloadEntry' | 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication'
  | 'VirtualService' | 'DestinationRule' | 'ServiceEntry' | 'Sidecar' | 'HTTPRoute' | 'GRPCRoute' | 'Telemetry';

/** A validated model object tagged with its kind. */
export type MeshObject =
  | { readonly kind: 'Namespace'; readonly value: Namespace }
  | { readonly kind: 'Service'; readonly value: Service }
  | { readonly kind: 'WorkloadEntry'; readonly value: Workload }
  | { readonly kind: 'PeerAuthentication'; readonly value: PeerAuthentication }
  | { readonly kind: 'AuthorizationPolicy'; readonly value: AuthorizationPolicy }
  // The traffic kinds (src/model/traffic.ts); VirtualService and the Gateway API routes share one model.
  | { readonly kind: 'VirtualService' | 'HTTPRoute' | 'GRPCRoute'; readonly value: RouteSet }
  | { readonly kind: 'DestinationRule'; readonly value: DestinationRule }
  | { readonly kind: 'ServiceEntry'; readonly value: ServiceEntry }
  | { readonly kind: 'Sidecar'; readonly value: SidecarScope }
  | { readonly kind: 'RequestAuthentication'; readonly value: RequestAuthentication }
  | { readonly kind: 'Telemetry'; readonly value: Telemetry }
  // Not a YAML kind: the parsed mesh config (--mesh-config, or the istio ConfigMap), merged by buildSnapshot.
  | { readonly kind: 'MeshConfig'; readonly value: { readonly meta: ObjectMeta; readonly overrides: MeshConfigOverrides } };

/** Identity of an object across versions: `Service/production/backend`, `Namespace//prod`. */
export type ObjectKey = string;

/**
 * The outcome of parsing one raw object: a model object (maybe with warnings), an invalid
 * object (with its key when its kind and name could be read, so a source can keep the last
 * good version), or an object of a kind this mesh ignores (with a warning).
 */
export type ParseObjectResult =
  | { readonly status: 'ok'; readonly key: ObjectKey; readonly object: MeshObject; readonly diagnostics: readonly Diagnostic[] }
  | { readonly status: 'invalid'; readonly key?: ObjectKey; readonly diagnostics: readonly Diagnostic[] }
  | { readonly status: 'ignored'; readonly diagnostics: readonly Diagnostic[] };

/** The key of a kind/namespace/name triple; cluster-scoped objects have namespace ''. */
export function objectKey(kind: string, namespace: string, name: string): ObjectKey {
  return `${kind}/${namespace}/${name}`;
}

/** The key of a parsed object. */
export function keyOf(o: MeshObject): ObjectKey {
  const meta = o.value.meta;
  return objectKey(o.kind, meta.namespace, meta.name);
}

interface KindEntry {
  readonly groups: readonly string[];
  readonly namespaced: boolean;
  /** `null`: valid, but nothing for the mesh (e.g. a VirtualService bound only to gateways). */
  readonly parse: (raw: unknown, ctx: ParseContext, opts: ParseOptions) => ParseResult<MeshObject['value'] | null>;
}

const ISTIO_NETWORKING = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];
const ISTIO_SECURITY = ['security.istio.io/v1', 'security.istio.io/v1beta1'];
const GATEWAY_API = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];
const GATEWAY_API_GRPC = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1alpha2'];

const KINDS: Readonly<Record<MeshObjectKind, KindEntry>> = {
  Namespace: { groups: ['v1'], namespaced: false, parse: (r, c) => parseNamespace(r, c) },
  Service: { groups: ['v1'], namespaced: true, parse: (r, c, o) => parseService(r, c, o) },
  WorkloadEntry: { groups: ISTIO_NETWORKING, namespaced: true, parse: (r, c) => parseWorkloadEntry(r, c) },
  PeerAuthentication: { groups: ISTIO_SECURITY, namespaced: true, parse: (r, c) => parsePeerAuthentication(r, c) },
  AuthorizationPolicy: { groups: ISTIO_SECURITY, namespaced: true, parse: (r, c) => parseAuthorizationPolicy(r, c) },
  VirtualService: { groups: ISTIO_NETWORKING, namespaced: true, parse: (r, c, o) => parseVirtualService(r, c, o) },
  DestinationRule: { groups: ISTIO_NETWORKING, namespaced: true, parse: (r, c, o) => parseDestinationRule(r, c, o) },
  ServiceEntry: { groups: ISTIO_NETWORKING, namespaced: true, parse: (r, c) => parseServiceEntry(r, c) },
  Sidecar: { groups: ISTIO_NETWORKING, namespaced: true, parse: (r, c) => parseSidecar(r, c) },
  HTTPRoute: { groups: GATEWAY_API, namespaced: true, parse: (r, c, o) => parseHttpRoute(r, c, o) },
  GRPCRoute: { groups: GATEWAY_API_GRPC, namespaced: true, parse: (r, c, o) => parseGrpcRoute(r, c, o) },
  RequestAuthentication: { groups: ISTIO_SECURITY, namespaced: true, parse: (r, c) => parseRequestAuthentication(r, c) },
  Telemetry: { groups: TELEMETRY_API_VERSIONS, namespaced: true, parse: (r, c) => parseTelemetry(r, c) },
};

function isMeshKind(k: string): k is MeshObjectKind {
  return Object.prototype.hasOwnProperty.call(KINDS, k);
}

/** The apiVersions meshd reads a kind under (empty for a kind it does not read). */
export function apiVersionsOf(kind: string): readonly string[] {
  return isMeshKind(kind) ? KINDS[kind].groups : [];
}

/** Whether meshd reads `kind` from a custom resource (an API group other than the core one). */
export function isCustomResourceKind(kind: string): boolean {
  return apiVersionsOf(kind).some((v) => v.includes('/'));
}

/**
 * Parses one raw object by its `apiVersion`/`kind`. Unknown kinds are ignored with a warning;
 * a known kind under an apiVersion this mesh does not read is invalid (so its last good version
 * stays); a parser that throws (a bug) is reported as an error diagnostic rather than crashing
 * the source.
 */
export function parseObject(raw: unknown, ctx: ParseContext, opts: ParseOptions = { domainSuffix: DEFAULT_MESH_CONFIG.domainSuffix }): ParseObjectResult {
  const kind = isRecord(raw) && typeof raw.kind === 'string' ? raw.kind : '';
  const apiVersion = isRecord(raw) && typeof raw.apiVersion === 'string' ? raw.apiVersion : '';
  const base = { severity: 'error' as const, source: ctx.source, kind: kind || '(unknown)' };
  if (!isRecord(raw)) return { status: 'invalid', diagnostics: [{ ...base, field: '', message: 'a document must be a mapping' }] };
  if (!kind || !apiVersion) {
    return { status: 'invalid', diagnostics: [{ ...base, field: kind ? 'apiVersion' : 'kind', message: 'is required' }] };
  }
  const id = peekIdentity(raw, ctx, !isMeshKind(kind) || KINDS[kind].namespaced);
  const named = { ...(id.namespace ? { namespace: id.namespace } : {}), ...(id.name ? { name: id.name } : {}) };
  if (!isMeshKind(kind)) {
    return { status: 'ignored', diagnostics: [{ ...base, ...named, severity: 'warning', field: 'kind', message: `${apiVersion} ${kind} is not a kind this mesh reads; ignored` }] };
  }
  const key = id.name ? objectKey(kind, id.namespace ?? '', id.name) : undefined;
  if (!KINDS[kind].groups.includes(apiVersion)) {
    const message = `${apiVersion} is not an apiVersion this mesh reads for ${kind} (use ${KINDS[kind].groups.join(', ')})`;
    return { status: 'invalid', ...(key ? { key } : {}), diagnostics: [{ ...base, ...named, field: 'apiVersion', message }] };
  }
  let r: ParseResult<MeshObject['value'] | null>;
  try {
    r = KINDS[kind].parse(raw, ctx, opts);
  } catch (e: unknown) {
    const message = `internal error while validating: ${e instanceof Error ? e.message : String(e)}`;
    return { status: 'invalid', ...(key ? { key } : {}), diagnostics: [{ ...base, ...named, field: '', message }] };
  }
  if (!r.ok) return { status: 'invalid', ...(key ? { key } : {}), diagnostics: r.diagnostics };
  if (r.value === null) return { status: 'ignored', diagnostics: r.warnings };
  const object = { kind, value: r.value } as MeshObject;
  return { status: 'ok', key: keyOf(object), object, diagnostics: r.warnings };
}

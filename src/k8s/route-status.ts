/**
 * Gateway API status for the GAMMA routes meshd serves, as Istio writes it for mesh routes:
 * one `status.parents[]` entry per mesh parent (a Service, or another kind that is not a Gateway) with `controllerName: meshd.dev/mesh` and the
 * conditions `Accepted` (False `UnsupportedValue` with the diagnostics when the route is
 * invalid, False `NoMatchingParent` when the Service does not exist) and `ResolvedRefs` (False
 * `BackendNotFound` / `InvalidKind` naming each backend that does not resolve). Entries of
 * other controllers are kept; a condition keeps its `lastTransitionTime` while its status holds.
 * Writes go through the status subresource, guarded by the resourceVersion read.
 */
import { isRecord } from '../config/fields.js';
import { isMeshParent } from '../config/traffic/gateway-api.js';
import { formatDiagnostic } from '../model/types.js';
import type { Logger } from '../util/log.js';
import type { KubeClient } from './kube-client.js';
import type { PolicyState } from './source.js';
import { PLURAL } from './writers.js';

/** The controller name meshd writes into the routes it serves. */
export const MESH_CONTROLLER = 'meshd.dev/mesh';

/** What the mesh knows exists, to resolve parents and backends. */
export interface RefResolver {
  serviceExists(namespace: string, name: string): boolean;
  /** A host of a Service or ServiceEntry (for `networking.istio.io` Hostname backends). */
  hostKnown(host: string): boolean;
}

export interface RouteCondition {
  readonly type: 'Accepted' | 'ResolvedRefs';
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
  readonly lastTransitionTime?: string;
}

export interface RouteParentStatus {
  readonly parentRef: Record<string, unknown>;
  readonly controllerName: string;
  readonly conditions: readonly RouteCondition[];
}

type Raw = Record<string, unknown>;
const records = (v: unknown): Raw[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/** The backend references of a route (rules' backendRefs and mirror filters), with their paths. */
function backendRefs(spec: Raw): { ref: Raw; path: string }[] {
  const out: { ref: Raw; path: string }[] = [];
  const mirrors = (filters: unknown, at: string): void => {
    records(filters).forEach((f, k) => {
      if (isRecord(f.requestMirror) && isRecord(f.requestMirror.backendRef)) out.push({ ref: f.requestMirror.backendRef, path: `${at}.filters[${k}].requestMirror.backendRef` });
    });
  };
  records(spec.rules).forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    mirrors(rule.filters, at);
    records(rule.backendRefs).forEach((b, j) => {
      out.push({ ref: b, path: `${at}.backendRefs[${j}]` });
      mirrors(b.filters, `${at}.backendRefs[${j}]`);
    });
  });
  return out;
}

function resolvedRefs(spec: Raw, ns: string, refs: RefResolver): Omit<RouteCondition, 'observedGeneration'> {
  const problems: { reason: string; message: string }[] = [];
  for (const { ref, path } of backendRefs(spec)) {
    const group = typeof ref.group === 'string' ? ref.group : '';
    const kind = typeof ref.kind === 'string' ? ref.kind : 'Service';
    const name = typeof ref.name === 'string' ? ref.name : '';
    const bns = typeof ref.namespace === 'string' ? ref.namespace : ns;
    if (kind === 'Service' && (group === '' || group === 'core')) {
      if (!refs.serviceExists(bns, name)) problems.push({ reason: 'BackendNotFound', message: `${path}: Service ${bns}/${name} not found` });
    } else if (kind === 'Hostname' && group === 'networking.istio.io') {
      if (!refs.hostKnown(name.toLowerCase())) problems.push({ reason: 'BackendNotFound', message: `${path}: host ${name} is neither a Service nor a ServiceEntry host` });
    } else {
      problems.push({ reason: 'InvalidKind', message: `${path}: ${group ? `${group}/` : ''}${kind} is not a backend kind meshd supports` });
    }
  }
  if (problems.length === 0) return { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved' };
  return { type: 'ResolvedRefs', status: 'False', reason: problems[0]!.reason, message: problems.map((p) => p.message).join('\n') };
}

/** The status entries meshd owns for one route (one per mesh parent), without transition times. */
export function routeParentStatuses(route: PolicyState, refs: RefResolver): RouteParentStatus[] {
  const spec = isRecord(route.raw.spec) ? route.raw.spec : {};
  const meta = isRecord(route.raw.metadata) ? route.raw.metadata : {};
  const gen = typeof meta.generation === 'number' ? { observedGeneration: meta.generation } : {};
  const errors = route.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
  const warnings = route.diagnostics.filter((d) => d.severity === 'warning').map(formatDiagnostic);
  const resolved = { ...resolvedRefs(spec, route.namespace, refs), ...gen };
  return records(spec.parentRefs).filter(isMeshParent).map((p) => {
    const pns = typeof p.namespace === 'string' ? p.namespace : route.namespace;
    const name = typeof p.name === 'string' ? p.name : '';
    const accepted: RouteCondition = errors.length > 0
      ? { type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: errors.join('\n'), ...gen }
      : !refs.serviceExists(pns, name)
        ? { type: 'Accepted', status: 'False', reason: 'NoMatchingParent', message: `Service ${pns}/${name} not found`, ...gen }
        : { type: 'Accepted', status: 'True', reason: 'Accepted', message: ['Route was valid', ...warnings].join('\n'), ...gen };
    const parentRef = Object.fromEntries(['group', 'kind', 'namespace', 'name', 'sectionName', 'port'].filter((k) => p[k] !== undefined).map((k) => [k, p[k]]));
    return { parentRef, controllerName: MESH_CONTROLLER, conditions: [accepted, resolved] };
  });
}

/** JSON with sorted keys (the API server returns custom resources' keys sorted). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (isRecord(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}
const sameRef = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);
const comparable = (s: RouteParentStatus): string => canonical({ ...s, conditions: records(s.conditions).map(({ lastTransitionTime: _t, ...c }) => c) });

/**
 * The whole `status.parents` list to write, or undefined when what is stored already says it:
 * other controllers' entries first (as stored), then meshd's, each condition keeping the
 * stored lastTransitionTime while its status is unchanged.
 */
export function mergeParents(stored: unknown, mine: readonly RouteParentStatus[], now: string): unknown[] | undefined {
  const list = records(stored);
  const others = list.filter((p) => p.controllerName !== MESH_CONTROLLER);
  const ours = list.filter((p) => p.controllerName === MESH_CONTROLLER) as unknown as RouteParentStatus[];
  if (ours.length === mine.length && mine.every((m, i) => comparable(m) === comparable(ours[i]!))) return undefined;
  const timed = mine.map((m) => {
    const old = ours.find((o) => sameRef(o.parentRef, m.parentRef));
    return {
      ...m,
      conditions: m.conditions.map((c) => {
        const prev = records(old?.conditions).find((x) => x.type === c.type);
        return { ...c, lastTransitionTime: prev && prev.status === c.status && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : now };
      }),
    };
  });
  return [...others, ...timed];
}

/** Writes each route's parents status where it differs from the stored one; returns how many were written. */
export async function writeRouteStatus(client: KubeClient, routes: readonly PolicyState[], refs: RefResolver, log: Logger): Promise<number> {
  let written = 0;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const r of routes) {
    const st = isRecord(r.raw.status) ? r.raw.status : {};
    const parents = mergeParents(st.parents, routeParentStatuses(r, refs), now);
    if (!parents) continue;
    const meta = isRecord(r.raw.metadata) ? r.raw.metadata : {};
    const apiVersion = typeof r.raw.apiVersion === 'string' ? r.raw.apiVersion : 'gateway.networking.k8s.io/v1';
    const path = `/apis/${apiVersion}/namespaces/${encodeURIComponent(r.namespace)}/${PLURAL[r.kind]}/${encodeURIComponent(r.name)}/status`;
    const body = { metadata: { resourceVersion: meta.resourceVersion }, status: { parents } };
    const res = await client.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
    if (res.status === 200) written++;
    // 409: the route changed since it was read; the next pass writes from the new version.
    else if (res.status !== 404 && res.status !== 409) log.warn('k8s: cannot write route status', { route: `${r.kind} ${r.namespace}/${r.name}`, status: res.status, body: res.body });
  }
  return written;
}

/**
 * The Kubernetes config source: reflectors for Namespaces, Services, EndpointSlices, Pods,
 * Nodes, ServiceAccounts, the Istio security and networking kinds and the GAMMA routes feed
 * one table of last good objects; a debounced flush hands the whole set to meshd. An update
 * whose parsed content is unchanged (a resync, a status-only write, a pod or node heartbeat)
 * changes nothing and triggers nothing; an invalid object records a diagnostic and its last
 * good version stays in force. Objects of Istio and Gateway API kinds meshd does not read are
 * reported, one diagnostic each (src/k8s/unread-kinds.ts).
 */
import { createDebouncer, type Debouncer } from '../config/debounce.js';
import { isRecord } from '../config/fields.js';
import { parseObject, type MeshObject } from '../config/parse.js';
import type { ConfigSource } from '../meshd/source.js';
import type { Diagnostic, Service } from '../model/types.js';
import type { ParseContext } from '../model/parse-result.js';
import type { Logger } from '../util/log.js';
import { endpointWorkloads, parseEndpointSlice, type EndpointSliceInfo } from './endpoint-slice.js';
import type { KubeClient } from './kube-client.js';
import { parseNode, type NodeInfo } from './locality.js';
import { PathReflector, type WatchedResource } from './path-reflector.js';
import { parsePod, type PodInfo } from './pod.js';
import { rawKey, type RawObject } from './reflector.js';
import { UnreadKinds } from './unread-kinds.js';
import { parseMeshConfigMap } from './mesh-configmap.js';

type Kind = 'Namespace' | 'Service' | 'EndpointSlice' | 'Pod' | 'Node' | 'ServiceAccount' | 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication'
  | 'VirtualService' | 'DestinationRule' | 'ServiceEntry' | 'Sidecar' | 'WorkloadEntry' | 'HTTPRoute' | 'GRPCRoute' | 'Telemetry' | 'ConfigMap';

interface Resource extends WatchedResource {
  readonly kind: Kind;
}

/** A custom resource served at `versions` of `group`, tried in that order. */
const crd = (kind: Kind, group: string, versions: readonly string[], plural: string): Resource => ({
  kind, paths: versions.map((v) => ({ path: `/apis/${group}/${v}/${plural}`, apiVersion: `${group}/${v}` })),
});
const POLICY_VERSIONS = ['v1', 'v1beta1'];
const policy = (kind: Kind, plural: string): Resource => crd(kind, 'security.istio.io', POLICY_VERSIONS, plural);
const ISTIO_NETWORKING_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];
const networking = (kind: Kind, plural: string): Resource => crd(kind, 'networking.istio.io', ISTIO_NETWORKING_VERSIONS, plural);

/** Every resource meshd watches, in a fixed order. */
export const RESOURCES: readonly Resource[] = [
  { kind: 'Namespace', paths: [{ path: '/api/v1/namespaces', apiVersion: 'v1' }] },
  { kind: 'Service', paths: [{ path: '/api/v1/services', apiVersion: 'v1' }] },
  { kind: 'EndpointSlice', paths: [{ path: '/apis/discovery.k8s.io/v1/endpointslices', apiVersion: 'discovery.k8s.io/v1' }] },
  { kind: 'Pod', paths: [{ path: '/api/v1/pods', apiVersion: 'v1' }] },
  { kind: 'ServiceAccount', paths: [{ path: '/api/v1/serviceaccounts', apiVersion: 'v1' }] },
  policy('PeerAuthentication', 'peerauthentications'),
  policy('AuthorizationPolicy', 'authorizationpolicies'),
  policy('RequestAuthentication', 'requestauthentications'),
  { kind: 'Node', paths: [{ path: '/api/v1/nodes', apiVersion: 'v1' }] },
  networking('VirtualService', 'virtualservices'),
  networking('DestinationRule', 'destinationrules'),
  networking('ServiceEntry', 'serviceentries'),
  networking('Sidecar', 'sidecars'),
  networking('WorkloadEntry', 'workloadentries'),
  crd('HTTPRoute', 'gateway.networking.k8s.io', ['v1', 'v1beta1'], 'httproutes'),
  crd('GRPCRoute', 'gateway.networking.k8s.io', ['v1', 'v1alpha2'], 'grpcroutes'),
  { kind: 'Telemetry', paths: ['v1', 'v1alpha1'].map((v) => ({ path: `/apis/telemetry.istio.io/${v}/telemetries`, apiVersion: `telemetry.istio.io/${v}` })) },
  // Istio's mesh config: the `mesh` key of the `istio` ConfigMap in the root namespace (path filled per source).
  { kind: 'ConfigMap', paths: [{ path: '/api/v1/namespaces/{root}/configmaps', apiVersion: 'v1' }] },
];

/** Kinds whose objects carry an `Accepted` status condition written by the leader. */
export const ACCEPTED_KINDS = ['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'VirtualService', 'DestinationRule', 'ServiceEntry', 'Sidecar', 'WorkloadEntry'] as const;
/** Gateway API routes: `status.parents[]` written by the leader. */
export const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute'] as const;

/** A valid object with nothing for the mesh (a VirtualService bound only to gateways, a route with Gateway parents). */
interface Ignored { readonly kind: 'Ignored' }
const IGNORED: Ignored = { kind: 'Ignored' };

type Value = MeshObject | PodInfo | EndpointSliceInfo | NodeInfo | Ignored | { readonly kind: 'ServiceAccount' };

interface Entry {
  value?: Value;
  fingerprint?: string;
  diagnostics: readonly Diagnostic[];
  raw: RawObject;
}

export interface KubeSourceOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly domainSuffix?: string;
  readonly debounce?: { readonly quietMs?: number; readonly maxMs?: number };
  /** How long start() waits for the first lists before serving what it has. Default 30 s. */
  readonly syncTimeoutMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly watchTimeoutSeconds?: number;
  /** Called for every watch event per kind (Kubernetes events metric). */
  readonly onWatchEvent?: (kind: string, type: string) => void;
  /** How often API discovery looks for kinds meshd does not read. Default 60 s. */
  readonly discoveryIntervalMs?: number;
  /** Istio's root namespace: where the `istio` ConfigMap (mesh config) is read from. Default istio-system. */
  readonly rootNamespace?: string;
}

export interface PolicyState {
  readonly kind: (typeof ACCEPTED_KINDS)[number] | (typeof ROUTE_KINDS)[number];
  readonly namespace: string;
  readonly name: string;
  readonly raw: RawObject;
  readonly diagnostics: readonly Diagnostic[];
  /** Whether the version in force is the current one (false: invalid, last good kept or none). */
  readonly accepted: boolean;
}

export interface KubeSource extends ConfigSource {
  /** Times onChange was called (one per debounced batch that changed something). */
  readonly pushes: number;
  /** Per-resource state for /debug/k8s (`missing`: no version served; `unread`: watched only to report). */
  status(): { kind: string; path: string; synced: boolean; objects: number; lists?: number; missing?: boolean; unread?: true; error?: string }[];
  /** The objects that carry an Accepted condition and whether each was accepted (status writer). */
  policies(): PolicyState[];
  /** The Gateway API routes, as policies() (route status writer). */
  routes(): PolicyState[];
  /** Whether a service account exists (as last seen). */
  hasServiceAccount(namespace: string, name: string): boolean;
  /** Namespace labels (injection decisions). */
  namespaceLabels(name: string): Readonly<Record<string, string>> | undefined;
}

function fingerprint(v: Value): string {
  return JSON.stringify(v, (k, x: unknown) => (k === 'resourceVersion' || k === 'creationTimestamp' ? undefined : x));
}

function sameDiagnostics(a: readonly Diagnostic[], b: readonly Diagnostic[]): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

/** Creates the Kubernetes source; nothing is contacted before start(). */
export function createKubeSource(o: KubeSourceOptions): KubeSource {
  const ctx: ParseContext = { source: 'k8s', defaultNamespace: 'default' };
  const parseOpts = { domainSuffix: o.domainSuffix ?? 'cluster.local' };
  const tables = new Map<Kind, Map<string, Entry>>(RESOURCES.map((r) => [r.kind, new Map()]));
  const reflectors: { r: Resource; ref: PathReflector }[] = [];
  let unread: UnreadKinds | undefined;
  let onChange: ((objects: readonly MeshObject[], d: readonly Diagnostic[]) => void) | undefined;
  let pushes = 0;
  let debouncer: Debouncer | undefined;
  let diagnostics: readonly Diagnostic[] = [];

  const parse = (kind: Kind, raw: RawObject): { value?: Value; diagnostics: readonly Diagnostic[] } => {
    if (kind === 'Pod') {
      const r = parsePod(raw, ctx);
      return r.ok ? { value: r.value, diagnostics: r.warnings } : { diagnostics: r.diagnostics };
    }
    if (kind === 'EndpointSlice') {
      const r = parseEndpointSlice(raw, ctx);
      return r.ok ? { value: r.value, diagnostics: r.warnings } : { diagnostics: r.diagnostics };
    }
    if (kind === 'ServiceAccount') return { value: { kind: 'ServiceAccount' }, diagnostics: [] };
    if (kind === 'ConfigMap') {
      const r = parseMeshConfigMap(raw);
      if (!r.ok) return { diagnostics: r.diagnostics };
      return { value: r.value.kind === 'Ignored' ? IGNORED : r.value, diagnostics: r.warnings };
    }
    if (kind === 'Node') {
      const r = parseNode(raw, ctx);
      return r.ok ? { value: r.value, diagnostics: r.warnings } : { diagnostics: r.diagnostics };
    }
    const r = parseObject(raw, ctx, parseOpts);
    // Valid but nothing for the mesh replaces what was in force (it is not a failed update).
    if (r.status === 'ignored') return { value: IGNORED, diagnostics: r.diagnostics };
    return r.status === 'ok' ? { value: r.object, diagnostics: r.diagnostics } : { diagnostics: r.diagnostics };
  };

  /** Diagnostics for an object of a kind meshd does not read (or reads only under other versions). */
  const diagnoseUnread = (raw: RawObject, res: { namespaced: boolean }): readonly Diagnostic[] => {
    const r = parseObject(raw, res.namespaced ? ctx : { ...ctx, defaultNamespace: '' }, parseOpts);
    if (r.status !== 'ok') return r.diagnostics;
    const id = r.object.value.meta;
    return [{ severity: 'warning', source: 'k8s', kind: String(raw.kind), namespace: id.namespace, name: id.name, field: 'kind', message: `${String(raw.apiVersion)} ${String(raw.kind)} is read by meshd's parser but not watched in Kubernetes mode; ignored` }];
  };

  // A pod's workload carries its locality (its own label, else its node's); kept per pod value.
  const localized = new WeakMap<PodInfo, { key: string; pod: PodInfo }>();
  const withLocality = (pod: PodInfo): PodInfo => {
    const node = pod.nodeName ? tables.get('Node')!.get(`/${pod.nodeName}`)?.value as NodeInfo | undefined : undefined;
    const locality = pod.localityOverride ?? node?.locality;
    if (!pod.workload || !locality) return pod;
    const key = JSON.stringify(locality);
    const hit = localized.get(pod);
    if (hit?.key === key) return hit.pod;
    const out: PodInfo = { ...pod, workload: { ...pod.workload, locality } };
    localized.set(pod, { key, pod: out });
    return out;
  };

  const upsert = (kind: Kind, apiVersion: string, rawIn: RawObject): void => {
    const raw = { ...rawIn, apiVersion, kind };
    const table = tables.get(kind)!;
    const key = rawKey(raw);
    const old = table.get(key);
    const p = parse(kind, raw);
    const fp = p.value ? fingerprint(p.value) : undefined;
    const entry: Entry = { diagnostics: p.diagnostics, raw, ...(old?.value ? { value: old.value, fingerprint: old.fingerprint } : {}) };
    if (p.value) { entry.value = p.value; entry.fingerprint = fp; }
    table.set(key, entry);
    const changed = (p.value !== undefined && fp !== old?.fingerprint) || !sameDiagnostics(p.diagnostics, old?.diagnostics ?? []);
    if (p.value && old?.value && fp === old.fingerprint) entry.value = old.value; // keep identity
    if (changed) debouncer?.trigger();
  };

  const remove = (kind: Kind, raw: RawObject): void => {
    if (tables.get(kind)!.delete(rawKey(raw))) debouncer?.trigger();
  };

  const collect = (): { objects: MeshObject[]; diagnostics: Diagnostic[] } => {
    const objects: MeshObject[] = [];
    const diags: Diagnostic[] = [];
    const services: Service[] = [];
    const slices: EndpointSliceInfo[] = [];
    const podsByName = new Map<string, PodInfo>();
    const podsByAddr = new Map<string, PodInfo>();
    for (const [kind, table] of tables) {
      for (const e of table.values()) {
        diags.push(...e.diagnostics);
        const v = e.value;
        if (!v) continue;
        if (kind === 'Pod') {
          const pod = withLocality(v as PodInfo);
          podsByName.set(`${pod.namespace}/${pod.name}`, pod);
          if (pod.workload) {
            podsByAddr.set(`${pod.namespace}/${pod.workload.address}`, pod);
            objects.push({ kind: 'WorkloadEntry', value: pod.workload });
          }
        } else if (kind === 'EndpointSlice') slices.push(v as EndpointSliceInfo);
        else if (kind === 'Service') services.push((v as MeshObject & { kind: 'Service' }).value);
        else if (kind !== 'ServiceAccount' && kind !== 'Node' && v !== IGNORED) objects.push(v as MeshObject);
      }
    }
    diags.push(...(unread?.diagnostics() ?? []));
    const ep = endpointWorkloads(services, slices, {
      byName: (ns, n) => podsByName.get(`${ns}/${n}`),
      byAddress: (ns, a) => podsByAddr.get(`${ns}/${a}`),
    });
    for (const s of ep.services) objects.push({ kind: 'Service', value: s });
    for (const w of ep.workloads) objects.push({ kind: 'WorkloadEntry', value: w });
    return { objects, diagnostics: diags };
  };

  const states = (kinds: readonly PolicyState['kind'][]): PolicyState[] => {
    const out: PolicyState[] = [];
    for (const kind of kinds) {
      for (const e of tables.get(kind)!.values()) {
        const m = isRecord(e.raw.metadata) ? e.raw.metadata : {};
        const errors = e.diagnostics.filter((d) => d.severity === 'error');
        out.push({
          kind, namespace: String(m.namespace ?? ''), name: String(m.name ?? ''), raw: e.raw,
          diagnostics: e.diagnostics, accepted: errors.length === 0,
        });
      }
    }
    return out;
  };

  const flush = (): void => {
    const c = collect();
    diagnostics = c.diagnostics;
    pushes++;
    onChange?.(c.objects, c.diagnostics);
  };

  return {
    kind: 'kubernetes',
    get pushes() { return pushes; },
    async start(cb) {
      onChange = undefined;
      const root = o.rootNamespace ?? 'istio-system';
      for (const r0 of RESOURCES) {
        const r = { ...r0, paths: r0.paths.map((p) => ({ ...p, path: p.path.replace('{root}', root) })) };
        const ref = new PathReflector(o, r, {
          upsert: (apiVersion, obj) => upsert(r.kind, apiVersion, obj),
          remove: (obj) => remove(r.kind, obj),
        });
        reflectors.push({ r, ref });
      }
      unread = new UnreadKinds({
        ...o, read: RESOURCES, intervalMs: o.discoveryIntervalMs ?? 60_000,
        diagnose: diagnoseUnread, onChange: () => debouncer?.trigger(),
      });
      const t0 = Date.now();
      const settled = Promise.all([...reflectors.map(({ ref }) => ref.start()), unread.start()]);
      const timeout = o.syncTimeoutMs ?? 30_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([settled.then(() => false), new Promise<boolean>((res) => { timer = setTimeout(() => res(true), timeout); })]);
      clearTimeout(timer);
      if (timedOut) {
        const missing = reflectors.filter(({ ref }) => !ref.settled).map(({ ref }) => `${ref.path}: ${ref.lastError?.message ?? 'no answer'}`);
        o.log.error('k8s: initial sync incomplete; serving what is known and retrying', { timeoutMs: timeout, missing });
      }
      onChange = cb;
      debouncer = createDebouncer(flush, { quietMs: o.debounce?.quietMs, maxMs: o.debounce?.maxMs });
      flush();
      o.log.info('k8s: synced', { ms: Date.now() - t0, objects: reflectors.map(({ r, ref }) => `${r.kind}=${ref.objectCount}`).join(' ') });
    },
    diagnostics: () => diagnostics,
    status: () => [
      ...reflectors.map(({ r, ref }) => ({
        kind: r.kind, path: ref.path, synced: ref.synced, objects: ref.objectCount, lists: ref.lists,
        ...(ref.missing ? { missing: true } : {}),
        ...(ref.lastError ? { error: ref.lastError.message } : {}),
      })),
      ...(unread?.status() ?? []),
    ],
    policies: () => states(ACCEPTED_KINDS),
    routes: () => states(ROUTE_KINDS),
    hasServiceAccount: (ns, name) => tables.get('ServiceAccount')!.has(`${ns}/${name}`),
    namespaceLabels(name) {
      const e = tables.get('Namespace')!.get(`/${name}`);
      const m = e && isRecord(e.raw.metadata) && isRecord(e.raw.metadata.labels) ? e.raw.metadata.labels : undefined;
      return m ? Object.fromEntries(Object.entries(m).filter((x): x is [string, string] => typeof x[1] === 'string')) : undefined;
    },
    close() {
      debouncer?.cancel();
      unread?.stop();
      for (const { ref } of reflectors) ref.stop();
      o.client.close();
    },
  };
}

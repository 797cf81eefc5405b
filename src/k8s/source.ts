/**
 * The Kubernetes config source: reflectors for Namespaces, Services, EndpointSlices, Pods,
 * ServiceAccounts, PeerAuthentications and AuthorizationPolicies feed one table of last good
 * objects; a debounced flush hands the whole set to meshd. An update whose parsed content is
 * unchanged (a resync, a status-only write, a pod heartbeat) changes nothing and triggers
 * nothing; an invalid object records a diagnostic and its last good version stays in force.
 */
import { createDebouncer, type Debouncer } from '../config/debounce.js';
import { isRecord } from '../config/fields.js';
import { parseObject, type MeshObject } from '../config/parse.js';
import type { ConfigSource } from '../meshd/source.js';
import type { Diagnostic, Service } from '../model/types.js';
import type { ParseContext } from '../model/parse-result.js';
import type { Logger } from '../util/log.js';
import { endpointWorkloads, parseEndpointSlice, type EndpointSliceInfo } from './endpoint-slice.js';
import type { KubeClient, KubeError } from './kube-client.js';
import { parsePod, type PodInfo } from './pod.js';
import { Reflector, rawKey, type RawObject } from './reflector.js';

type Kind = 'Namespace' | 'Service' | 'EndpointSlice' | 'Pod' | 'ServiceAccount' | 'PeerAuthentication' | 'AuthorizationPolicy';

interface Resource {
  readonly kind: Kind;
  /** Collection paths to try in order (a 404 moves to the next: CRD served at v1 or v1beta1). */
  readonly paths: readonly { readonly path: string; readonly apiVersion: string }[];
}

const POLICY_VERSIONS = ['v1', 'v1beta1'];
const policy = (kind: Kind, plural: string): Resource => ({
  kind, paths: POLICY_VERSIONS.map((v) => ({ path: `/apis/security.istio.io/${v}/${plural}`, apiVersion: `security.istio.io/${v}` })),
});

/** Every resource meshd watches, in a fixed order. */
export const RESOURCES: readonly Resource[] = [
  { kind: 'Namespace', paths: [{ path: '/api/v1/namespaces', apiVersion: 'v1' }] },
  { kind: 'Service', paths: [{ path: '/api/v1/services', apiVersion: 'v1' }] },
  { kind: 'EndpointSlice', paths: [{ path: '/apis/discovery.k8s.io/v1/endpointslices', apiVersion: 'discovery.k8s.io/v1' }] },
  { kind: 'Pod', paths: [{ path: '/api/v1/pods', apiVersion: 'v1' }] },
  { kind: 'ServiceAccount', paths: [{ path: '/api/v1/serviceaccounts', apiVersion: 'v1' }] },
  policy('PeerAuthentication', 'peerauthentications'),
  policy('AuthorizationPolicy', 'authorizationpolicies'),
];

type Value = MeshObject | PodInfo | EndpointSliceInfo | { readonly kind: 'ServiceAccount' };

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
}

export interface PolicyState {
  readonly kind: 'PeerAuthentication' | 'AuthorizationPolicy';
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
  /** Per-resource state for /debug/k8s. */
  status(): { kind: Kind; path: string; synced: boolean; objects: number; lists: number; error?: string }[];
  /** The policies and whether each was accepted (status writer). */
  policies(): PolicyState[];
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
    const r = parseObject(raw, ctx, parseOpts);
    return r.status === 'ok' ? { value: r.object, diagnostics: r.diagnostics } : { diagnostics: r.diagnostics };
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
          const pod = v as PodInfo;
          podsByName.set(`${pod.namespace}/${pod.name}`, pod);
          if (pod.workload) {
            podsByAddr.set(`${pod.namespace}/${pod.workload.address}`, pod);
            objects.push({ kind: 'WorkloadEntry', value: pod.workload });
          }
        } else if (kind === 'EndpointSlice') slices.push(v as EndpointSliceInfo);
        else if (kind === 'Service') services.push((v as MeshObject & { kind: 'Service' }).value);
        else if (kind !== 'ServiceAccount') objects.push(v as MeshObject);
      }
    }
    const ep = endpointWorkloads(services, slices, {
      byName: (ns, n) => podsByName.get(`${ns}/${n}`),
      byAddress: (ns, a) => podsByAddr.get(`${ns}/${a}`),
    });
    for (const s of ep.services) objects.push({ kind: 'Service', value: s });
    for (const w of ep.workloads) objects.push({ kind: 'WorkloadEntry', value: w });
    return { objects, diagnostics: diags };
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
      for (const r of RESOURCES) {
        const ref = new PathReflector(o, r, {
          upsert: (apiVersion, obj) => upsert(r.kind, apiVersion, obj),
          remove: (obj) => remove(r.kind, obj),
        });
        reflectors.push({ r, ref });
      }
      const t0 = Date.now();
      const settled = Promise.all(reflectors.map(({ ref }) => ref.start()));
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
    status: () => reflectors.map(({ r, ref }) => ({
      kind: r.kind, path: ref.path, synced: ref.synced, objects: ref.objectCount, lists: ref.lists,
      ...(ref.lastError ? { error: ref.lastError.message } : {}),
    })),
    policies() {
      const out: PolicyState[] = [];
      for (const kind of ['PeerAuthentication', 'AuthorizationPolicy'] as const) {
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
    },
    hasServiceAccount: (ns, name) => tables.get('ServiceAccount')!.has(`${ns}/${name}`),
    namespaceLabels(name) {
      const e = tables.get('Namespace')!.get(`/${name}`);
      const m = e && isRecord(e.raw.metadata) && isRecord(e.raw.metadata.labels) ? e.raw.metadata.labels : undefined;
      return m ? Object.fromEntries(Object.entries(m).filter((x): x is [string, string] => typeof x[1] === 'string')) : undefined;
    },
    close() {
      debouncer?.cancel();
      for (const { ref } of reflectors) ref.stop();
      o.client.close();
    },
  };
}

/** A reflector over alternative paths: a 404 (CRD version not served) moves to the next one. */
class PathReflector {
  private idx = 0;
  private cur?: Reflector;
  private stopped = false;
  private notFound = false;
  private firstSync?: () => void;
  constructor(
    private readonly o: KubeSourceOptions,
    private readonly r: Resource,
    private readonly h: { upsert(apiVersion: string, obj: RawObject): void; remove(obj: RawObject): void },
  ) {}

  get path(): string { return this.r.paths[this.idx]!.path; }
  get synced(): boolean { return this.cur?.synced ?? false; }
  /** Synced, or known not to exist (CRD missing): start-up need not wait for it. */
  get settled(): boolean { return this.synced || this.notFound; }
  get lists(): number { return this.cur?.lists ?? 0; }
  get lastError(): KubeError | undefined { return this.cur?.lastError; }
  get objectCount(): number { return this.cur?.list().length ?? 0; }

  start(): Promise<void> {
    const p = new Promise<void>((resolve) => { this.firstSync = resolve; });
    this.open();
    return p;
  }

  private open(): void {
    const { path, apiVersion } = this.r.paths[this.idx]!;
    const held = this.cur?.list() ?? [];
    this.cur?.stop();
    let switched = false;
    const ref: Reflector = new Reflector(this.o.client, path, {
      upsert: (obj) => this.h.upsert(apiVersion, obj),
      remove: (obj) => this.h.remove(obj),
      synced: () => {
        this.notFound = false;
        // Objects held from another version's path and absent here are gone.
        const now = new Set(ref.list().map(rawKey));
        for (const old of held.splice(0)) if (!now.has(rawKey(old))) this.h.remove(old);
        this.firstSync?.();
        this.firstSync = undefined;
      },
      error: (e) => {
        if (e.status === 404 && this.r.paths.length > 0 && !switched) {
          this.notFound = this.notFound || this.idx === this.r.paths.length - 1;
          if (this.notFound) { this.firstSync?.(); this.firstSync = undefined; }
          switched = true;
          this.o.log.warn('k8s: resource not served; trying the next version', { path, kind: this.r.kind });
          this.idx = (this.idx + 1) % this.r.paths.length;
          if (!this.stopped) setTimeout(() => { if (!this.stopped) this.open(); }, this.notFound ? (this.o.backoffMaxMs ?? 30_000) / 3 : 0);
          return;
        }
        this.o.log.warn('k8s: watch error, retrying with backoff', { path, error: e.message });
      },
    }, {
      log: this.o.log,
      ...(this.o.onWatchEvent ? { onWatchEvent: (type: string) => this.o.onWatchEvent!(this.r.kind, type) } : {}),
      ...(this.o.backoffInitialMs !== undefined ? { backoffInitialMs: this.o.backoffInitialMs } : {}),
      ...(this.o.backoffMaxMs !== undefined ? { backoffMaxMs: this.o.backoffMaxMs } : {}),
      ...(this.o.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: this.o.watchTimeoutSeconds } : {}),
    });
    this.cur = ref;
    void ref.start();
  }

  stop(): void {
    this.stopped = true;
    this.cur?.stop();
  }
}

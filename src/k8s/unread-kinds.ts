/**
 * Kinds of Istio's and the Gateway API's groups that meshd does not read are never silently
 * ignored: discovery (`GET /apis`, `GET /apis/<group>/<version>`) finds every resource those
 * groups serve; each one no watched resource covers (EnvoyFilter, WasmPlugin, Gateway,
 * TCPRoute, ..., or a read kind served only under versions meshd does not read) is listed and
 * watched, and each of its objects gets a diagnostic naming kind, apiVersion and object.
 * Discovery repeats, so CRDs installed or removed later are followed.
 */
import { isRecord } from '../config/fields.js';
import type { Diagnostic } from '../model/types.js';
import type { KubeClient, KubeError } from './kube-client.js';
import type { PathReflectorOptions, WatchedResource } from './path-reflector.js';
import { Reflector, rawKey, type RawObject } from './reflector.js';

/** Whether meshd accounts for every kind of an API group: Istio's groups and the Gateway API's. */
export function isMeshApiGroup(group: string): boolean {
  return group === 'istio.io' || group.endsWith('.istio.io') || group === 'gateway.networking.k8s.io' || group === 'gateway.networking.x-k8s.io';
}

/** One resource a group version serves, from discovery. */
export interface DiscoveredResource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** The group's preferred version (discovery's `preferredVersion`). */
  readonly preferred: boolean;
}

/** A resource to watch only to report its objects. */
export interface UnreadResource {
  readonly path: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/**
 * The discovered resources that no watched resource covers, one version each (the preferred
 * one if it serves the resource, else the first listed), sorted by path. A watched resource
 * covers a group/plural when one of its paths is served.
 */
export function unreadResources(discovered: readonly DiscoveredResource[], read: readonly WatchedResource[]): UnreadResource[] {
  const pathOf = (d: DiscoveredResource): string => `/apis/${d.group}/${d.version}/${d.plural}`;
  const served = new Set(discovered.map(pathOf));
  const covered = (d: DiscoveredResource): boolean => read.some((r) => r.paths.some((p) => served.has(p.path) && p.path.endsWith(`/${d.plural}`) && p.path.startsWith(`/apis/${d.group}/`)));
  const pick = new Map<string, DiscoveredResource>();
  for (const d of discovered) {
    if (covered(d)) continue;
    const k = `${d.group}/${d.plural}`;
    const had = pick.get(k);
    if (!had || (d.preferred && !had.preferred)) pick.set(k, d);
  }
  return [...pick.values()]
    .map((d) => ({ path: pathOf(d), apiVersion: `${d.group}/${d.version}`, kind: d.kind, namespaced: d.namespaced }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Reads discovery for the mesh API groups; throws a KubeError when the API server cannot answer. */
export async function discoverMeshResources(client: KubeClient): Promise<DiscoveredResource[]> {
  const g = await client.json('GET', '/apis');
  const groups = isRecord(g) && Array.isArray(g.groups) ? g.groups.filter(isRecord) : [];
  const out: DiscoveredResource[] = [];
  for (const grp of groups) {
    const name = typeof grp.name === 'string' ? grp.name : '';
    if (!isMeshApiGroup(name)) continue;
    const preferred = isRecord(grp.preferredVersion) ? grp.preferredVersion.version : undefined;
    const versions = Array.isArray(grp.versions) ? grp.versions.filter(isRecord).map((v) => String(v.version)) : [];
    for (const version of versions) {
      const r = await client.request('GET', `/apis/${name}/${version}`);
      if (r.status === 404) continue; // removed between the two calls
      if (r.status !== 200 || !isRecord(r.body) || !Array.isArray(r.body.resources)) continue;
      for (const res of r.body.resources.filter(isRecord)) {
        const plural = typeof res.name === 'string' ? res.name : '';
        const verbs = Array.isArray(res.verbs) ? res.verbs : [];
        if (!plural || plural.includes('/') || !verbs.includes('list') || !verbs.includes('watch')) continue;
        out.push({ group: name, version, plural, kind: String(res.kind ?? ''), namespaced: res.namespaced === true, preferred: version === preferred });
      }
    }
  }
  return out;
}

export interface UnreadKindsOptions extends PathReflectorOptions {
  /** The resources meshd reads (they are never watched here). */
  readonly read: readonly WatchedResource[];
  /** How often discovery repeats. */
  readonly intervalMs: number;
  /** Diagnostics for one object of an unread resource (apiVersion and kind already set). */
  readonly diagnose: (raw: RawObject, resource: UnreadResource) => readonly Diagnostic[];
  /** Called when the set of diagnostics may have changed. */
  readonly onChange: () => void;
}

interface Watched {
  readonly res: UnreadResource;
  readonly ref: Reflector;
  readonly entries: Map<string, readonly Diagnostic[]>;
  denied?: string;
}

/** Follows discovery and reports every object of the kinds meshd does not read. */
export class UnreadKinds {
  private readonly watched = new Map<string, Watched>();
  private timer?: ReturnType<typeof setInterval>;
  private lastDiscoveryError = '';
  private stopped = false;

  constructor(private readonly o: UnreadKindsOptions) {}

  /** Runs discovery once and lists what it finds; resolves when done (errors are logged, not thrown). */
  async start(): Promise<void> {
    await this.discover();
    this.timer = setInterval(() => { void this.discover(); }, this.o.intervalMs);
    this.timer.unref();
  }

  /** One diagnostic per object of an unread kind, plus one per kind that cannot be listed. */
  diagnostics(): Diagnostic[] {
    const out: Diagnostic[] = [];
    for (const w of this.watched.values()) {
      if (w.denied) out.push({ severity: 'warning', source: 'k8s', kind: w.res.kind, field: '', message: `cannot list ${w.res.path} (${w.denied}): its objects are not checked; grant get/list/watch on it to meshd` });
      for (const d of w.entries.values()) out.push(...d);
    }
    return out;
  }

  /** Per resource watched here: path, objects, synced, error (for /debug/k8s). */
  status(): { kind: string; path: string; synced: boolean; objects: number; unread: true; error?: string }[] {
    return [...this.watched.values()].map((w) => ({
      kind: w.res.kind, path: w.res.path, synced: w.ref.synced, objects: w.entries.size, unread: true as const,
      ...(w.ref.lastError ? { error: w.ref.lastError.message } : {}),
    }));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const w of this.watched.values()) w.ref.stop();
  }

  private async discover(): Promise<void> {
    let found: UnreadResource[];
    try {
      found = unreadResources(await discoverMeshResources(this.o.client), this.o.read);
      this.lastDiscoveryError = '';
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (msg !== this.lastDiscoveryError) this.o.log.warn('k8s: API discovery failed; kinds meshd does not read are not checked until it works', { error: msg });
      this.lastDiscoveryError = msg;
      return;
    }
    if (this.stopped) return;
    const want = new Map(found.map((r) => [r.path, r]));
    let changed = false;
    for (const [path, w] of this.watched) {
      if (want.has(path)) continue;
      w.ref.stop();
      this.watched.delete(path);
      changed = changed || w.entries.size > 0 || w.denied !== undefined;
    }
    const added = found.filter((r) => !this.watched.has(r.path));
    const firstLists = added.map((r) => this.watch(r));
    if (added.length > 0) this.o.log.info('k8s: watching kinds meshd does not read, to report their objects', { resources: added.map((r) => `${r.apiVersion} ${r.kind}`) });
    if (changed) this.o.onChange();
    await Promise.all(firstLists);
  }

  private watch(res: UnreadResource): Promise<void> {
    const entries = new Map<string, readonly Diagnostic[]>();
    let settle: () => void = () => undefined;
    const first = new Promise<void>((resolve) => { settle = resolve; });
    const put = (obj: RawObject): void => {
      const d = this.o.diagnose({ ...obj, apiVersion: res.apiVersion, kind: res.kind }, res);
      const k = rawKey(obj);
      const old = entries.get(k);
      entries.set(k, d);
      if (!old || JSON.stringify(old) !== JSON.stringify(d)) this.o.onChange();
    };
    const ref = new Reflector(this.o.client, res.path, {
      upsert: put,
      remove: (obj) => { if (entries.delete(rawKey(obj))) this.o.onChange(); },
      synced: () => {
        if (w.denied !== undefined) { w.denied = undefined; this.o.onChange(); }
        settle();
      },
      error: (e: KubeError) => {
        // Forbidden: say so once, as a diagnostic; anything else (a CRD just removed) settles quietly.
        if (e.status === 403 && w.denied === undefined) {
          w.denied = `${e.status} ${e.message}`;
          this.o.log.warn('k8s: cannot list a kind meshd does not read; its objects are not checked', { kind: res.kind, path: res.path, error: e.message });
          this.o.onChange();
        }
        settle();
      },
    }, {
      log: this.o.log,
      ...(this.o.onWatchEvent ? { onWatchEvent: (type: string) => this.o.onWatchEvent!(res.kind, type) } : {}),
      ...(this.o.backoffInitialMs !== undefined ? { backoffInitialMs: this.o.backoffInitialMs } : {}),
      ...(this.o.backoffMaxMs !== undefined ? { backoffMaxMs: this.o.backoffMaxMs } : {}),
      ...(this.o.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: this.o.watchTimeoutSeconds } : {}),
    });
    const w: Watched = { res, ref, entries };
    this.watched.set(res.path, w);
    void ref.start();
    return first;
  }
}

/**
 * Translation only for proxies whose inputs changed. meshd translates a proxy on every push
 * that selects it; most pushes are endpoint changes that alter no proxy's own inputs. For a
 * proxy translated before, the memo compares the two snapshots: when only workloads changed
 * and none of them is the proxy's own (by name or address, as findWorkload matches), its own
 * chunks (listeners, inbound clusters) are kept and its shared chunks (clusters, endpoints,
 * routes; built once per snapshot by translation) are swapped for the new snapshot's. Every
 * chunk is interned by value (chunk-intern.ts), so unchanged resources keep their objects and
 * their encodings. Rule relied on: a proxy's own chunks depend on the snapshot but not on
 * other workloads; the simulation test in test/unit/xds-server/translation-memo.test.ts checks
 * it against full translation for every golden case.
 */
import type { MeshSnapshot, ProxyInfo, Workload } from '../../model/types.js';
import { builtSharedChunk, carriedSharedChunk, sharedChunkKey, translate, type ProxyResources, type ResourceChunk, type TranslateOptions } from '../translate/index.js';
import { ResourceType, type ResourceTypeUrl } from '../resource-types.js';
import type { ScopeDecision } from '../translate/scoping.js';
import { ChunkInterner } from './chunk-intern.js';
import { snapshotDelta, type SnapshotDelta } from './snapshot-delta.js';

const LISTS = ['clusters', 'endpoints', 'listeners', 'routes'] as const;
type ListName = (typeof LISTS)[number];

interface Entry {
  readonly snapshot: MeshSnapshot;
  readonly info: ProxyInfo;
  /** The learned scope it was translated with (by identity: a new decision is a new object). */
  readonly scope?: ScopeDecision;
  readonly out: ProxyResources;
}

/** How each call was served: translated, reused with swapped shared chunks, or unchanged. */
export interface MemoStats {
  translated: number;
  reused: number;
  unchanged: number;
}

function sameInfo(a: ProxyInfo, b: ProxyInfo): boolean {
  if (a === b) return true;
  if (a.id !== b.id || a.ip !== b.ip || a.workloadName !== b.workloadName || a.namespace !== b.namespace) return false;
  if (a.interceptionMode !== b.interceptionMode || a.proxyless !== b.proxyless || a.secretSource !== b.secretSource) return false;
  const ka = Object.keys(a.labels);
  if (ka.length !== Object.keys(b.labels).length) return false;
  return ka.every((k) => a.labels[k] === b.labels[k]);
}

/** Whether a workload may be the proxy's own (findWorkload matches by name, else by address). */
function concerns(w: Workload | undefined, info: ProxyInfo): boolean {
  if (!w || w.namespace !== info.namespace) return false;
  return (info.workloadName !== '' && w.name === info.workloadName) || (info.ip !== '' && w.address === info.ip);
}

/** One memo per server; entries are keyed by an owner object (the stream) and die with it. */
export class TranslationMemo {
  private readonly entries = new WeakMap<object, Entry>();
  private readonly deltas = new WeakMap<MeshSnapshot, WeakMap<MeshSnapshot, SnapshotDelta>>();
  private readonly lists = new WeakMap<ResourceChunk, unknown>();
  readonly interner = new ChunkInterner();
  readonly stats: MemoStats = { translated: 0, reused: 0, unchanged: 0 };

  constructor(private readonly options: TranslateOptions = {}) {}

  /** translate(snapshot, info) for `owner`, reusing what its previous result still holds. Outputs are frozen. */
  translate(owner: object, snapshot: MeshSnapshot, info: ProxyInfo, scope?: ScopeDecision): ProxyResources {
    const got = this.entries.get(owner);
    // A changed scope is a changed input: translate again (its shared chunks still hit).
    const e = got && got.scope === scope ? got : undefined;
    if (e && sameInfo(e.info, info)) {
      if (e.snapshot === snapshot) {
        this.stats.unchanged++;
        return e.out;
      }
      const reused = this.reuse(e, snapshot, info);
      if (reused) {
        this.stats.reused++;
        this.entries.set(owner, { snapshot, info, out: reused, ...(scope ? { scope } : {}) });
        return reused;
      }
    }
    const out = this.intern(translate(snapshot, info, scope ? { ...this.options, scope } : this.options), e && sameInfo(e.info, info) ? e.out : undefined);
    this.stats.translated++;
    this.entries.set(owner, { snapshot, info, out, ...(scope ? { scope } : {}) });
    return out;
  }

  /** Drops what is kept for `owner` (it is dropped anyway when the owner is collected). */
  forget(owner: object): void {
    this.entries.delete(owner);
  }

  private delta(a: MeshSnapshot, b: MeshSnapshot): SnapshotDelta {
    let inner = this.deltas.get(a);
    if (!inner) this.deltas.set(a, (inner = new WeakMap()));
    let d = inner.get(b);
    if (!d) inner.set(b, (d = snapshotDelta(a, b)));
    return d;
  }

  private reuse(e: Entry, snapshot: MeshSnapshot, info: ProxyInfo): ProxyResources | undefined {
    const d = this.delta(e.snapshot, snapshot);
    if (d.kind === 'same') return e.out;
    if (d.kind === 'full') return undefined;
    for (const c of d.changes) if (concerns(c.before, info) || concerns(c.after, info)) return undefined;
    const out: Partial<Record<ListName, readonly ResourceChunk[]>> = {};
    for (const l of LISTS) {
      const next: ResourceChunk[] = [];
      for (const c of e.out[l]) {
        const key = this.interner.keyOf(c);
        if (key === undefined) {
          next.push(c);
          continue;
        }
        // Not built yet for this snapshot and not carried over (routes are): translate this proxy (which builds it for the others).
        const fresh = builtSharedChunk(snapshot, key) ?? carriedSharedChunk(snapshot, key);
        if (!fresh) return undefined;
        next.push(this.interner.shared(key, fresh));
      }
      out[l] = this.list(next);
    }
    return Object.freeze({ ...(out as Record<ListName, readonly ResourceChunk[]>), diagnostics: e.out.diagnostics });
  }

  /** Interns a fresh translation: shared chunks by key, the proxy's own against its previous ones. */
  private intern(raw: ProxyResources, prev: ProxyResources | undefined): ProxyResources {
    const out: Partial<Record<ListName, readonly ResourceChunk[]>> = {};
    for (const l of LISTS) {
      const before = prev?.[l];
      out[l] = this.list(raw[l].map((c, i) => {
        const key = sharedChunkKey(c);
        if (key !== undefined) return this.interner.shared(key, c);
        const p = before?.[i];
        return p !== undefined && this.interner.keyOf(p) === undefined ? this.interner.merge(p, c) : c;
      }));
    }
    return Object.freeze({ ...(out as Record<ListName, readonly ResourceChunk[]>), diagnostics: raw.diagnostics });
  }

  /**
   * One frozen list per sequence of chunks (a trie of WeakMaps keyed by chunk identity), so
   * proxies with the same chunks share the list and the cache's per-list memos hit.
   */
  private list(chunks: readonly ResourceChunk[]): readonly ResourceChunk[] {
    let node: WeakMap<ResourceChunk, unknown> = this.lists;
    let found: readonly ResourceChunk[] | undefined;
    for (let i = 0; i < chunks.length; i++) {
      let slot = node.get(chunks[i]!) as { next?: WeakMap<ResourceChunk, unknown>; list?: readonly ResourceChunk[] } | undefined;
      if (!slot) node.set(chunks[i]!, (slot = {}));
      if (i === chunks.length - 1) {
        found = slot.list ??= Object.freeze([...chunks]);
      } else {
        node = slot.next ??= new WeakMap();
      }
    }
    return found ?? EMPTY_LIST;
  }
}

const EMPTY_LIST: readonly ResourceChunk[] = Object.freeze([]);

/** A translation result as the ADS server takes it: chunk lists by type URL (the lists are not copied). */
export function byTypeUrl(res: ProxyResources): Partial<Record<ResourceTypeUrl, readonly ResourceChunk[]>> {
  return {
    [ResourceType.Cluster]: res.clusters,
    [ResourceType.Endpoint]: res.endpoints,
    [ResourceType.Listener]: res.listeners,
    [ResourceType.Route]: res.routes,
  };
}

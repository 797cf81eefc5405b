/**
 * List + watch of one resource type (an informer's reflector): a paginated list, then a watch
 * from its resourceVersion with bookmarks. `410 Gone` relists; a dropped connection or an API
 * error retries with capped exponential backoff. A relist diffs against what is held, so an
 * unchanged object (same resourceVersion) produces no event: a resync never storms.
 */
import { isRecord } from '../config/fields.js';
import type { Logger } from '../util/log.js';
import { KubeError, statusError, type KubeClient } from './kube-client.js';

export type RawObject = Record<string, unknown>;

export interface ReflectorHandlers {
  /** An object was added or changed (its resourceVersion differs from the one held). */
  upsert(obj: RawObject): void;
  /** An object is gone (watch DELETED, or missing from a relist). */
  remove(obj: RawObject): void;
  /** A list completed (the first one resolves `start()`). */
  synced?(): void;
  /** An API or connection problem; the reflector retries by itself. */
  error?(e: KubeError): void;
}

export interface ReflectorOptions {
  /** Server-side watch timeout; the watch is reopened from the last resourceVersion. */
  readonly watchTimeoutSeconds?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly pageSize?: number;
  readonly log?: Logger;
  /** Called for every watch event, with its type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR): for metrics. */
  readonly onWatchEvent?: (type: string) => void;
}

/** `namespace/name` (cluster-scoped: `/name`). */
export function rawKey(o: RawObject): string {
  const m = isRecord(o.metadata) ? o.metadata : {};
  return `${typeof m.namespace === 'string' ? m.namespace : ''}/${typeof m.name === 'string' ? m.name : ''}`;
}

function resourceVersion(o: unknown): string | undefined {
  return isRecord(o) && isRecord(o.metadata) && typeof o.metadata.resourceVersion === 'string' ? o.metadata.resourceVersion : undefined;
}

/** Keeps one resource type in sync; call `start()` once and `stop()` at the end. */
export class Reflector {
  private readonly objects = new Map<string, RawObject>();
  private rv = '';
  private stopped = false;
  private abortWatch?: () => void;
  private timer?: ReturnType<typeof setTimeout>;
  private wake?: () => void;
  private backoffMs: number;
  private everSynced = false;
  /** Lists done (first + relists); for tests and metrics. */
  lists = 0;
  lastError?: KubeError;

  constructor(
    private readonly client: KubeClient,
    /** Collection path, e.g. `/api/v1/pods` or `/apis/security.istio.io/v1/authorizationpolicies`. */
    readonly path: string,
    private readonly h: ReflectorHandlers,
    private readonly o: ReflectorOptions = {},
  ) {
    this.backoffMs = o.backoffInitialMs ?? 250;
  }

  /** Whether the first list has completed. */
  get synced(): boolean {
    return this.everSynced;
  }

  /** The objects held now (raw, as the API server sent them). */
  list(): RawObject[] {
    return [...this.objects.values()];
  }

  /** Starts the loop; resolves after the first successful list, or rejects on stop. */
  start(): Promise<void> {
    const first = new Promise<void>((resolve) => { this.onFirstSync = resolve; });
    void this.loop();
    return first;
  }

  private onFirstSync?: () => void;

  /** Stops watching; pending retries are cancelled. */
  stop(): void {
    this.stopped = true;
    this.abortWatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.rv) await this.relist();
        await this.watchOnce();
        this.backoffMs = this.o.backoffInitialMs ?? 250;
      } catch (e) {
        if (this.stopped) return;
        const err = KubeError.from(e);
        if (err.status === 410) { this.rv = ''; continue; }
        this.lastError = err;
        this.h.error?.(err);
        await this.sleep(this.backoffMs * (0.8 + Math.random() * 0.4));
        this.backoffMs = Math.min(this.backoffMs * 2, this.o.backoffMaxMs ?? 30_000);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  private async relist(): Promise<void> {
    const seen = new Map<string, RawObject>();
    let cont = '';
    let listRv = '';
    do {
      const q = new URLSearchParams({ limit: String(this.o.pageSize ?? 500) });
      if (cont) q.set('continue', cont);
      const r = await this.client.request('GET', `${this.path}?${q}`, { timeoutMs: 60_000 });
      if (r.status === 410 && cont) { cont = ''; seen.clear(); continue; } // continue token expired: start over
      if (r.status !== 200) throw statusError(r, `list ${this.path}`);
      const body = r.body;
      if (!isRecord(body) || !Array.isArray(body.items)) throw new KubeError(0, `list ${this.path}: the answer is not a list`);
      for (const it of body.items) if (isRecord(it)) seen.set(rawKey(it), it);
      const meta = isRecord(body.metadata) ? body.metadata : {};
      cont = typeof meta.continue === 'string' ? meta.continue : '';
      listRv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : listRv;
    } while (cont);
    for (const [k, old] of this.objects) {
      if (!seen.has(k)) { this.objects.delete(k); this.h.remove(old); }
    }
    for (const [k, obj] of seen) this.apply(k, obj);
    this.rv = listRv;
    this.lists++;
    this.lastError = undefined;
    this.everSynced = true;
    this.h.synced?.();
    this.onFirstSync?.();
    this.onFirstSync = undefined;
  }

  private apply(k: string, obj: RawObject): void {
    const old = this.objects.get(k);
    const rv = resourceVersion(obj);
    if (old && rv !== undefined && resourceVersion(old) === rv) return;
    this.objects.set(k, obj);
    this.h.upsert(obj);
  }

  private async watchOnce(): Promise<void> {
    const timeout = this.o.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 60);
    const q = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true', resourceVersion: this.rv, timeoutSeconds: String(timeout) });
    let gone = false;
    let abort: (() => void) | undefined;
    const s = await this.client.stream(`${this.path}?${q}`, (line) => {
      let ev: unknown;
      try { ev = JSON.parse(line); } catch { this.o.log?.warn('k8s: unparseable watch line ignored', { path: this.path }); return; }
      if (!isRecord(ev) || typeof ev.type !== 'string' || !isRecord(ev.object)) return;
      const obj = ev.object;
      this.o.onWatchEvent?.(ev.type);
      switch (ev.type) {
        case 'ADDED': case 'MODIFIED': this.apply(rawKey(obj), obj); break;
        case 'DELETED': {
          const k = rawKey(obj);
          const old = this.objects.get(k);
          if (old) { this.objects.delete(k); this.h.remove(old); }
          break;
        }
        case 'BOOKMARK': break;
        case 'ERROR':
          if (obj.code === 410) { gone = true; this.rv = ''; abort?.(); }
          else this.o.log?.warn('k8s: watch error event', { path: this.path, status: obj });
          return;
      }
      const rv = resourceVersion(obj);
      if (rv) this.rv = rv;
    }, (timeout + 30) * 1000);
    if (s.status === 410) throw new KubeError(410, 'resourceVersion too old');
    if (s.status !== 200) throw statusError({ status: s.status, body: s.body }, `watch ${this.path}`);
    abort = s.abort;
    this.abortWatch = s.abort;
    this.lastError = undefined;
    if (this.stopped || gone) s.abort();
    try {
      await s.done;
    } catch (e) {
      // Our own abort after a 410 ERROR event surfaces as an 'aborted' stream error.
      if (!gone) throw e;
    } finally {
      this.abortWatch = undefined;
    }
    if (gone) throw new KubeError(410, 'resourceVersion too old');
  }
}

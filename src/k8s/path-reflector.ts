/**
 * A reflector over alternative collection paths (the served versions of one kind, tried in
 * order): a 404 moves to the next version at once. When no version is served (CRD missing or
 * deleted) the kind is settled as empty, reported once, its held objects are removed, and the
 * versions are tried again from the first after a pause; its reappearance is logged too.
 */
import type { Logger } from '../util/log.js';
import type { KubeClient, KubeError } from './kube-client.js';
import { Reflector, rawKey, type RawObject } from './reflector.js';

/** One watched kind and the collection paths of its versions, preferred first. */
export interface WatchedResource {
  readonly kind: string;
  /** Collection paths to try in order (a 404 moves to the next: CRD served at v1 or v1beta1). */
  readonly paths: readonly { readonly path: string; readonly apiVersion: string }[];
}

export interface PathReflectorOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly watchTimeoutSeconds?: number;
  /** Called for every watch event per kind (Kubernetes events metric). */
  readonly onWatchEvent?: (kind: string, type: string) => void;
}

/** Follows the first served path of a resource; see the module comment. */
export class PathReflector {
  private idx = 0;
  private cur?: Reflector;
  private stopped = false;
  private notFound = false;
  private reportedMissing = false;
  private held: RawObject[] = [];
  private retry?: ReturnType<typeof setTimeout>;
  private firstSync?: () => void;
  constructor(
    private readonly o: PathReflectorOptions,
    private readonly r: WatchedResource,
    private readonly h: { upsert(apiVersion: string, obj: RawObject): void; remove(obj: RawObject): void },
  ) {}

  get path(): string { return this.r.paths[this.idx]!.path; }
  get synced(): boolean { return this.cur?.synced ?? false; }
  /** Synced, or known not to exist (CRD missing): start-up need not wait for it. */
  get settled(): boolean { return this.synced || this.notFound; }
  /** No version of the resource is served (as of the last attempt). */
  get missing(): boolean { return this.notFound; }
  get lists(): number { return this.cur?.lists ?? 0; }
  get lastError(): KubeError | undefined { return this.cur?.lastError; }
  get objectCount(): number { return this.cur?.list().length ?? 0; }

  start(): Promise<void> {
    const p = new Promise<void>((resolve) => { this.firstSync = resolve; });
    this.open();
    return p;
  }

  private settle(): void {
    this.firstSync?.();
    this.firstSync = undefined;
  }

  private open(): void {
    const { path, apiVersion } = this.r.paths[this.idx]!;
    this.held.push(...(this.cur?.list() ?? []));
    this.cur?.stop();
    let switched = false;
    const ref: Reflector = new Reflector(this.o.client, path, {
      upsert: (obj) => this.h.upsert(apiVersion, obj),
      remove: (obj) => this.h.remove(obj),
      synced: () => {
        if (this.reportedMissing) this.o.log.info('k8s: resource served now; reading it', { kind: this.r.kind, path });
        this.notFound = false;
        this.reportedMissing = false;
        // Objects held from another version's path and absent here are gone.
        const now = new Set(ref.list().map(rawKey));
        for (const old of this.held.splice(0)) if (!now.has(rawKey(old))) this.h.remove(old);
        this.settle();
      },
      error: (e) => {
        if (e.status === 404 && !switched) {
          switched = true;
          const last = this.idx === this.r.paths.length - 1;
          if (last) this.allMissing();
          else this.o.log.debug('k8s: resource not served at this version; trying the next', { path, kind: this.r.kind });
          this.idx = (this.idx + 1) % this.r.paths.length;
          if (this.stopped) return;
          this.retry = setTimeout(() => { if (!this.stopped) this.open(); }, last ? (this.o.backoffMaxMs ?? 30_000) / 3 : 0);
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

  /** No version answers: the kind has no objects (a deleted CRD takes its objects with it). */
  private allMissing(): void {
    this.notFound = true;
    // Stop the failing reflector now: its own retries would only repeat the 404.
    const gone = [...this.held.splice(0), ...(this.cur?.list() ?? [])];
    this.cur?.stop();
    this.cur = undefined;
    for (const old of gone) this.h.remove(old);
    if (!this.reportedMissing) {
      this.reportedMissing = true;
      this.o.log.warn('k8s: resource not served (its CRD is not installed): its objects are not read until it is; start-up does not wait for it', {
        kind: this.r.kind, tried: this.r.paths.map((p) => p.apiVersion),
      });
    }
    this.settle();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.cur?.stop();
  }
}

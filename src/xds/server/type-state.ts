/**
 * Per-stream, per-type protocol state, and the planning of the next response. State keeps
 * references to shared chunks (`base`: the content the client's resources were last
 * evaluated against) instead of per-name version maps, so a connected proxy stays small.
 */
import { isWildcardType, type ResourceTypeUrl } from '../resource-types.js';
import type { Chunk, Encoded, ResourceCache } from '../cache/resource-cache.js';
import type { Rejection } from './types.js';

export const WILDCARD = '*';
const EMPTY: ReadonlySet<string> = new Set();

/** What one type on one stream has asked for and been sent. */
export class TypeState {
  /** The client has sent at least one request for this type. */
  requested = false;
  wildcard = false;
  /**
   * Named subscriptions. Copy-on-write and possibly shared with other streams (SotW lists
   * that are byte-identical share one Set), so it is replaced, never mutated.
   */
  names: ReadonlySet<string> = EMPTY;
  /** Subscribed since the last response, not yet served. */
  newNames: ReadonlySet<string> | undefined;
  /** Wildcard was just switched on: the whole set is due. */
  newWildcard = false;
  /** Content the client was last brought up to date with; undefined before the first response. */
  base: readonly Chunk[] | undefined;
  /** Delta reconnect: versions the client already has (consumed by the first response). */
  initialVersions: ReadonlyMap<string, string> | undefined;
  /** After a NACK, the next content change re-sends every subscribed resource. */
  forceFull = false;
  /** SotW: the raw resource_names bytes of the current list (shared), to skip a repeated list cheaply. */
  namesBytes: Buffer | undefined;
  sentVersion: string | undefined;
  sentNonce: string | undefined;
  ackedVersion: string | undefined;
  awaitingAck = false;
  sentAt = 0;
  lastNack: Rejection | undefined;

  constructor(readonly typeUrl: ResourceTypeUrl) {}

  /** Whether `name` is wanted (wildcard or named). */
  wants(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** True when `names` / `newNames` were made by this state alone (Delta), so they may change in place. */
  private ownNames = false;
  private ownNew = false;

  private addNew(added: Iterable<string>): void {
    if (!this.ownNew) {
      this.newNames = new Set(this.newNames ?? []);
      this.ownNew = true;
    }
    const acc = this.newNames as Set<string>;
    for (const n of added) acc.add(n);
  }

  private mutableNames(): Set<string> {
    if (!this.ownNames) {
      this.names = new Set(this.names);
      this.ownNames = true;
    }
    return this.names as Set<string>;
  }

  /**
   * Adds named subscriptions (Delta); newly added ones are due for a response. `*` turns on
   * the wildcard. A shared Set is copied once; after that the stream's own Set changes in
   * place, so a client that subscribes and unsubscribes in a loop costs O(names it sends).
   */
  subscribe(names: Iterable<string>, intern: (n: string) => string): void {
    const added: string[] = [];
    for (const raw of names) {
      if (raw === WILDCARD) {
        if (!this.wildcard) this.newWildcard = true;
        this.wildcard = true;
        continue;
      }
      if (this.names.has(raw)) continue;
      const n = intern(raw);
      this.mutableNames().add(n);
      added.push(n);
    }
    if (added.length > 0) this.addNew(added);
  }

  /**
   * Marks already subscribed names as due again (Delta on demand: Envoy subscribes again to a
   * name it lost, for example a cluster another subscription removed, and waits for an answer).
   */
  resend(names: Iterable<string>): void {
    const again: string[] = [];
    for (const n of names) if (this.names.has(n)) again.push(n);
    if (again.length > 0) this.addNew(again);
  }

  /** Delta: names the server withdrew (on-demand scope shrank), due as `removed_resources`. */
  revoked: Set<string> | undefined;

  /** Unsubscribes `names` on the server's initiative and makes their removal due (Delta). */
  revoke(names: Iterable<string>): void {
    for (const n of names) {
      if (!this.names.has(n)) continue;
      this.unsubscribe([n]);
      (this.revoked ??= new Set()).add(n);
    }
  }

  /** Removes named subscriptions (Delta); `*` ends the wildcard. */
  unsubscribe(names: Iterable<string>): void {
    for (const n of names) {
      if (n === WILDCARD) {
        this.wildcard = false;
        continue;
      }
      if (!this.names.has(n)) continue;
      this.mutableNames().delete(n);
      if (this.newNames?.has(n)) {
        if (!this.ownNew) this.addNew([]);
        (this.newNames as Set<string>).delete(n);
      }
    }
  }

  /**
   * Replaces the subscription with a SotW request's full list, given as a (possibly shared)
   * Set without `*`; `star` tells whether the list held `*`. An empty list means wildcard
   * for LDS/CDS.
   */
  replaceWith(names: ReadonlySet<string>, star: boolean): void {
    const wildcard = star || (names.size === 0 && isWildcardType(this.typeUrl));
    if (wildcard && !this.wildcard) this.newWildcard = true;
    this.wildcard = wildcard;
    const old = this.names;
    this.names = names;
    this.ownNames = false;
    if (old.size === 0) {
      if (names.size > 0) {
        if (this.newNames) this.addNew(names);
        else {
          this.newNames = names;
          this.ownNew = false;
        }
      }
      return;
    }
    const added: string[] = [];
    for (const n of names) if (!old.has(n)) added.push(n);
    if (added.length > 0) this.addNew(added);
    if (this.newNames) {
      this.newNames = new Set([...this.newNames].filter((n) => names.has(n)));
      this.ownNew = true;
    }
  }

  /** Forgets the names due for a response (they were served). */
  clearNew(): void {
    this.newNames = undefined;
    this.ownNew = false;
  }

  /** True when a response may be due: new subscriptions, first response, or changed content. */
  pending(current: readonly Chunk[]): boolean {
    if (!this.requested) return false;
    if (this.revoked !== undefined && this.revoked.size > 0) return true;
    if (this.base === undefined || this.newWildcard || (this.newNames !== undefined && this.newNames.size > 0)) return true;
    if (this.base.length !== current.length) return true;
    for (let i = 0; i < current.length; i++) if (this.base[i] !== current[i]) return true;
    return false;
  }
}

/** A response to send: pre-framed resource fields, removed names, and the type version. */
export interface Plan {
  readonly version: string;
  /** SotW: `sotwField`s or whole-chunk bytes. Delta: `deltaField()`s. */
  readonly resources: readonly Buffer[];
  readonly removed: readonly string[];
  readonly count: number;
}

function selection(cache: ResourceCache, st: TypeState, current: readonly Chunk[]): Encoded[] {
  const out: Encoded[] = [];
  if (st.wildcard) {
    for (const e of cache.all(st.typeUrl, current)) out.push(e);
    return out;
  }
  const idx = cache.index(st.typeUrl, current);
  for (const n of st.names) {
    const e = idx.get(n);
    if (e) out.push(e);
  }
  return out;
}

function finish(st: TypeState, current: readonly Chunk[]): void {
  st.base = current;
  st.clearNew();
  st.newWildcard = false;
  st.initialVersions = undefined;
}

/**
 * Plans a SotW response and advances the state as if it were sent; undefined when nothing
 * is due. LDS/CDS responses carry the full subscribed set; EDS/RDS/SDS responses may carry
 * only changed or newly subscribed resources. A NACKed version is never planned again:
 * only content whose version differs from the last sent one is.
 */
export function planSotw(cache: ResourceCache, st: TypeState, current: readonly Chunk[]): Plan | undefined {
  const t = st.typeUrl;
  const version = cache.typeVersion(t, current);
  const first = st.base === undefined;
  const subscriptionChanged = st.newWildcard || (st.newNames?.size ?? 0) > 0;
  if (isWildcardType(t)) {
    const contentChanged = version !== st.sentVersion;
    const due = first || subscriptionChanged || contentChanged;
    finish(st, current);
    if (!due) return undefined;
    if (st.wildcard) {
      const resources = current.map((c) => cache.chunk(t, c).sotwBytes());
      const count = current.reduce((a, c) => a + c.length, 0);
      return { version, resources, removed: [], count };
    }
    const sel = selection(cache, st, current);
    return { version, resources: sel.map((e) => e.sotwField), removed: [], count: sel.length };
  }
  let picked: Encoded[];
  if (first) picked = selection(cache, st, current);
  else {
    const d = cache.diff(t, st.base!, current);
    const changed = d.changed.filter((e) => st.wants(e.name));
    if (st.forceFull && (changed.length > 0 || d.removed.length > 0)) picked = selection(cache, st, current);
    else {
      picked = changed;
      if (st.newWildcard) picked = selection(cache, st, current);
      else if (st.newNames) {
        const have = new Set(picked.map((e) => e.name));
        for (const n of st.newNames) {
          const e = have.has(n) ? undefined : cache.lookup(t, current, n);
          if (e) picked.push(e);
        }
      }
    }
  }
  finish(st, current);
  if (picked.length === 0) return undefined;
  return { version, resources: picked.map((e) => e.sotwField), removed: [], count: picked.length };
}

/**
 * Plans a Delta response and advances the state; undefined when nothing is due. The first
 * response skips what `initial_resource_versions` says the client already has and removes
 * what it has that no longer exists; later ones carry changed, newly subscribed and removed
 * resources (only those the client subscribes to).
 */
export function planDelta(cache: ResourceCache, st: TypeState, current: readonly Chunk[], missingAsRemoved = false): Plan | undefined {
  const t = st.typeUrl;
  const version = cache.typeVersion(t, current);
  let picked: Encoded[];
  let removed: string[];
  // On-demand: a newly named resource that does not exist is answered as removed (Envoy's
  // "not found"), so the request waiting for it fails at once instead of at its timeout.
  const missing = missingAsRemoved && st.newNames ? [...st.newNames].filter((n) => !cache.lookup(t, current, n)) : [];
  if (st.base === undefined) {
    const initial = st.initialVersions;
    if (st.wildcard && initial === undefined && (st.newNames === undefined || st.newNames.size === 0)) {
      // A fresh wildcard subscription: whole shared chunks, framed once for every proxy.
      const resources = current.map((c) => cache.chunk(t, c).deltaBytes());
      finish(st, current);
      const count = current.reduce((a, c) => a + c.length, 0);
      return count === 0 ? undefined : { version, resources, removed: [], count };
    }
    picked = selection(cache, st, current).filter((e) => initial?.get(e.name) !== e.version);
    removed = initial ? [...initial.keys()].filter((n) => st.wants(n) && !cache.lookup(t, current, n)) : [];
  } else {
    const d = cache.diff(t, st.base, current);
    const changed = d.changed.filter((e) => st.wants(e.name));
    removed = d.removed.filter((n) => st.wants(n));
    if (st.newWildcard || (st.forceFull && (changed.length > 0 || removed.length > 0))) {
      picked = selection(cache, st, current);
    } else {
      picked = changed;
      if (st.newNames) {
        const have = new Set(picked.map((e) => e.name));
        for (const n of st.newNames) {
          const e = have.has(n) ? undefined : cache.lookup(t, current, n);
          if (e) picked.push(e);
        }
      }
    }
  }
  finish(st, current);
  for (const n of missing) if (!removed.includes(n)) removed.push(n);
  if (st.revoked) { for (const n of st.revoked) if (!removed.includes(n)) removed.push(n); st.revoked = undefined; }
  if (picked.length === 0 && removed.length === 0) return undefined;
  return { version, resources: picked.map((e) => e.deltaField()), removed, count: picked.length };
}

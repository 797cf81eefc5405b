/**
 * Who called which service, within a window: the input of learned scoping. Each caller
 * workload keeps its dependencies (service hosts) with the time last seen; a dependency leaves
 * the scope only when it has not been seen for a whole window (so a scope shrinks only after
 * the window: make-before-break). Bounded: at most `maxPerWorkload` dependencies per workload
 * (a flood of fake records cannot grow one scope past it; the excess is counted, not kept) and
 * at most `maxWorkloads` callers (the least recently active is evicted). Time comes from the
 * caller (`now`, epoch ms), so tests drive the clock.
 */
import type { KeptDependency } from '../xds/translate/scoping.js';

export interface ObservedLimits {
  /** Dependencies kept per caller workload. */
  readonly maxPerWorkload: number;
  /** Caller workloads kept. */
  readonly maxWorkloads: number;
}

export const DEFAULT_OBSERVED_LIMITS: ObservedLimits = { maxPerWorkload: 256, maxWorkloads: 50_000 };

/** What one `record` did (the wiring counts these in `meshd_scoping_observations_total`). */
export type RecordResult = 'added' | 'refreshed' | 'dropped_cap';

interface Dep {
  readonly hostname: string;
  readonly namespace: string;
  source: KeptDependency['source'];
  lastSeen: number;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The observed dependencies of every caller workload. */
export class ObservedCalls {
  /** `ns/workload` → host key → dependency; Map order is recency of the caller (LRU). */
  private readonly callers = new Map<string, Map<string, Dep>>();
  /** Dependencies refused because a workload was at its cap, since start. */
  dropped = 0;

  constructor(readonly windowMs: number, readonly limits: ObservedLimits = DEFAULT_OBSERVED_LIMITS) {
    if (!(windowMs > 0)) throw new Error('ObservedCalls: windowMs must be positive');
  }

  /** Number of caller workloads tracked. */
  get size(): number { return this.callers.size; }

  /** Records that workload `ns/name` called `hostname` (defined in `hostNamespace`) at `now`. */
  record(callerNamespace: string, caller: string, hostNamespace: string, hostname: string, source: KeptDependency['source'], now: number): RecordResult {
    const ck = `${callerNamespace}/${caller}`;
    let deps = this.callers.get(ck);
    if (deps) this.callers.delete(ck);
    else deps = new Map();
    this.callers.set(ck, deps);
    while (this.callers.size > this.limits.maxWorkloads) this.callers.delete(this.callers.keys().next().value as string);
    const hk = `${hostNamespace}/${hostname}`;
    const d = deps.get(hk);
    if (d) {
      d.lastSeen = Math.max(d.lastSeen, now);
      if (source === 'observed') d.source = 'observed';
      return 'refreshed';
    }
    if (deps.size >= this.limits.maxPerWorkload) {
      this.expireOne(deps, now);
      if (deps.size >= this.limits.maxPerWorkload) {
        this.dropped++;
        return 'dropped_cap';
      }
    }
    deps.set(hk, { hostname, namespace: hostNamespace, source, lastSeen: now });
    return 'added';
  }

  private expireOne(deps: Map<string, Dep>, now: number): void {
    for (const [k, d] of deps) if (d.lastSeen + this.windowMs <= now) deps.delete(k);
  }

  /** The dependencies of `ns/name` still inside the window at `now`, sorted by hostname then namespace. */
  dependencies(callerNamespace: string, caller: string, now: number): KeptDependency[] {
    const deps = this.callers.get(`${callerNamespace}/${caller}`);
    if (!deps) return [];
    const out: KeptDependency[] = [];
    for (const d of deps.values()) {
      if (d.lastSeen + this.windowMs <= now) continue;
      out.push({ hostname: d.hostname, namespace: d.namespace, source: d.source, lastSeen: d.lastSeen, expiresAt: d.lastSeen + this.windowMs });
    }
    return out.sort((a, b) => cmp(a.hostname, b.hostname) || cmp(a.namespace, b.namespace));
  }

  /** Forgets dependencies outside the window (memory only: `dependencies` already ignores them). */
  expire(now: number): void {
    for (const [k, deps] of this.callers) {
      this.expireOne(deps, now);
      if (deps.size === 0) this.callers.delete(k);
    }
  }

  /** Every caller with dependencies in the window, for `/debug/scoping`. */
  callersAt(now: number): { namespace: string; workload: string; dependencies: KeptDependency[] }[] {
    const out: { namespace: string; workload: string; dependencies: KeptDependency[] }[] = [];
    for (const k of this.callers.keys()) {
      const [namespace, workload] = [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)];
      const dependencies = this.dependencies(namespace, workload, now);
      if (dependencies.length) out.push({ namespace, workload, dependencies });
    }
    return out.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.workload, b.workload));
  }
}

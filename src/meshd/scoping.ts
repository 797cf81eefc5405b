/**
 * Learned scoping in meshd: telemetry (inbound access logs, on-demand requests) → each
 * caller's dependencies within a window (src/telemetry/observed.ts) → a ScopeDecision per
 * proxy, handed to translation as data. A new dependency is pushed at once (make-before-break:
 * the cluster is there before it is needed again); a dependency leaves only after a whole
 * window without a call, checked by a periodic tick. Which proxies are scoped: all with
 * `--scoping observed`, or those in a namespace labelled `meshd.dev/scoping=observed` (a
 * namespace labelled `full` opts out of the flag).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { MeshSnapshot, Service, Workload } from '../model/types.js';
import type { ConnectedProxy } from '../xds/server/types.js';
import { parseOutboundClusterName } from '../xds/names.js';
import { findWorkload } from '../xds/translate/index.js';
import { cmp, selects, workloadPort } from '../xds/translate/common.js';
import type { ScopedWorkload } from '../analyze/types.js';
import { scopeReport, type KeptDependency, type ScopeDecision, type ScopeReport } from '../xds/translate/scoping.js';
import { ObservedCalls, DEFAULT_OBSERVED_LIMITS, type RecordResult } from '../telemetry/observed.js';
import type { LogRecord } from '../telemetry/records.js';
import type { EdgeRow, EdgeScope } from '../telemetry/reports.js';
import type { Destination } from '../telemetry/store.js';
import { resolveSource } from '../telemetry/resolve.js';
import { route } from '../admin/route-table.js';
import type { Logger } from '../util/log.js';

/** The namespace label that turns learned scoping on (`observed`) or off (`full`) for its proxies. */
export const SCOPING_LABEL = 'meshd.dev/scoping';

export interface ScopingOptions {
  readonly mode: 'full' | 'observed';
  readonly windowMs: number;
  /** Out-of-scope calls resolved by ODCDS (default true). */
  readonly onDemand: boolean;
  readonly maxPerWorkload: number;
}

export interface ScopingDeps {
  readonly options: ScopingOptions;
  readonly snapshot: () => MeshSnapshot;
  readonly registry: Registry;
  readonly log: Logger;
  /** Pushes to the proxies `filter` selects. */
  readonly push: (reason: string, filter: (p: ConnectedProxy) => boolean) => void;
  readonly proxies: () => readonly ConnectedProxy[];
  readonly now?: () => number;
}

const servicesByWorkload = new WeakMap<MeshSnapshot, Map<string, Service[]>>();

/** Services (sorted as the snapshot) that select workload `w`, memoized per snapshot. */
function servicesOf(snapshot: MeshSnapshot, w: Workload): readonly Service[] {
  let m = servicesByWorkload.get(snapshot);
  if (!m) {
    m = new Map();
    for (const s of snapshot.services) {
      for (const x of snapshot.workloads) {
        if (x.namespace !== s.meta.namespace || !selects(s.selector, x.labels)) continue;
        const k = `${x.namespace}/${x.name}`;
        const list = m.get(k) ?? [];
        list.push(s);
        m.set(k, list);
      }
    }
    servicesByWorkload.set(snapshot, m);
  }
  return m.get(`${w.namespace}/${w.name}`) ?? [];
}

/** Learned scoping: observations, decisions per proxy, the expiry tick, metrics and `/debug/scoping`. */
export class ScopingController {
  readonly observed: ObservedCalls;
  private readonly now: () => number;
  private readonly decisions = new Map<string, { key: string; decision: ScopeDecision }>();
  private readonly observations: Counter<'result'>;
  private readonly dependencyGauge: Gauge<string>;
  private readonly tickTimer: NodeJS.Timeout;
  /**
   * Hosts each on-demand stream (by connection) asked for, with its workload: kept in that
   * workload's scope while the stream lives. Withdrawing one would break its next call: Envoy
   * keeps the name subscribed on its ODCDS stream and never asks for it again.
   */
  private readonly pinned = new Map<string, { workload: string; hosts: Map<string, KeptDependency> }>();
  private pending = new Set<string>();
  private pendingTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ScopingDeps) {
    this.now = deps.now ?? Date.now;
    this.observed = new ObservedCalls(deps.options.windowMs, { ...DEFAULT_OBSERVED_LIMITS, maxPerWorkload: deps.options.maxPerWorkload });
    const registers = [deps.registry];
    this.observations = new Counter({ name: 'meshd_scoping_observations_total', help: 'Calls seen for learned scoping, by result (added, refreshed, dropped_cap: a workload at its dependency cap, unknown: caller or service not in the mesh)', labelNames: ['result'], registers });
    this.dependencyGauge = new Gauge({ name: 'meshd_scoping_dependencies', help: 'Dependencies kept in learned scopes (all workloads)', registers, collect: () => this.dependencyGauge.set(this.observed.callersAt(this.now()).reduce((a, c) => a + c.dependencies.length, 0)) });
    const every = Math.min(10_000, Math.max(250, Math.floor(deps.options.windowMs / 10)));
    this.tickTimer = setInterval(() => this.tick(), every);
    this.tickTimer.unref();
  }

  /** Whether learned scoping applies to proxies of `namespace`, and why. */
  private enabledFor(snapshot: MeshSnapshot, namespace: string): string | undefined {
    const label = snapshot.namespaces.find((n) => n.meta.name === namespace)?.meta.labels[SCOPING_LABEL];
    if (label === 'full') return undefined;
    if (label === 'observed') return `namespace ${namespace} is labelled ${SCOPING_LABEL}=observed`;
    return this.deps.options.mode === 'observed' ? 'meshd --scoping observed' : undefined;
  }

  /**
   * The scope decision for a proxy's main stream (undefined: full config). The same object
   * while its dependency set is unchanged, so the translation memo keeps hitting.
   */
  decisionFor(proxy: ConnectedProxy): ScopeDecision | undefined {
    const prev = this.decisions.get(proxy.connectionId);
    const next = this.compute(proxy, prev);
    if (next?.decision === prev?.decision) return next?.decision;
    if (next) this.decisions.set(proxy.connectionId, next);
    else this.decisions.delete(proxy.connectionId);
    return next?.decision;
  }

  /** The decision now (the previous object when its content is unchanged); stores nothing. */
  private compute(proxy: ConnectedProxy, prev: { key: string; decision: ScopeDecision } | undefined): { key: string; decision: ScopeDecision } | undefined {
    if (proxy.onDemand || proxy.info.proxyless) return undefined;
    const snapshot = this.deps.snapshot();
    const reason = this.enabledFor(snapshot, proxy.info.namespace);
    if (!reason) return undefined;
    const w = findWorkload(snapshot, proxy.info);
    const kept = w ? this.withPinned(`${w.namespace}/${w.name}`, this.observed.dependencies(w.namespace, w.name, this.now())).filter((d) => d.namespace !== proxy.info.namespace) : [];
    const key = `${reason}|${kept.map((d) => `${d.namespace}/${d.hostname}`).join(',')}`;
    if (prev && prev.key === key) return prev;
    return { key, decision: Object.freeze({ mode: 'observed', reason, kept: Object.freeze(kept), onDemand: this.deps.options.onDemand }) };
  }

  /** `deps` plus the hosts the workload's live on-demand streams hold (sorted by hostname, as `deps`). */
  private withPinned(workload: string, deps: readonly KeptDependency[]): readonly KeptDependency[] {
    const extra = new Map<string, KeptDependency>();
    for (const pin of this.pinned.values()) {
      if (pin.workload !== workload) continue;
      for (const [h, d] of pin.hosts) if (!extra.has(h)) extra.set(h, d);
    }
    if (extra.size === 0) return deps;
    // Within the window a dependency shows as seen (with its expiry); after it, as pinned.
    const out = [...deps];
    const have = new Set(deps.map((d) => d.hostname));
    for (const [h, d] of extra) if (!have.has(h)) out.push(d);
    return out.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  }

  /** `meshctl edges`' SCOPE: where `row`'s destination stands in its caller's learned scope (undefined: the caller is not scoped). */
  edgeScope(row: EdgeRow): EdgeScope | undefined {
    const snapshot = this.deps.snapshot();
    if (!this.enabledFor(snapshot, row.srcNamespace)) return undefined;
    if (row.dstNamespace === row.srcNamespace) return 'namespace';
    const dst = snapshot.workloads.find((x) => x.namespace === row.dstNamespace && x.name === row.dst);
    const hosts = new Set(dst ? servicesOf(snapshot, dst).map((s) => s.hostname) : []);
    const kept = this.withPinned(`${row.srcNamespace}/${row.src}`, this.observed.dependencies(row.srcNamespace, row.src, this.now()));
    return kept.find((d) => hosts.has(d.hostname))?.source ?? 'outside';
  }

  /** Forgets a stream's decision; an on-demand stream's pinned hosts leave its workload's scope. */
  forget(proxy: ConnectedProxy): void {
    this.decisions.delete(proxy.connectionId);
    const pin = this.pinned.get(proxy.connectionId);
    if (pin) {
      this.pinned.delete(proxy.connectionId);
      // Shrinking is safe here: that stream is gone; a reconnect names its clusters again.
      this.tick();
    }
  }

  private count(r: RecordResult | 'unknown', callerNs: string, caller: string): void {
    this.observations.inc({ result: r });
    if (r === 'added') this.schedulePush(`${callerNs}/${caller}`);
  }

  /** One inbound access-log record at `dst`: its caller called the services that select `dst` on that port. */
  onAccessLog(dst: Destination, r: LogRecord): void {
    const snapshot = this.deps.snapshot();
    const w = snapshot.workloads.find((x) => x.namespace === dst.namespace && x.name === dst.workload);
    const src = resolveSource(snapshot, r.peerUri, r.sourceAddress);
    if (!w || !src.namespace) return this.count('unknown', '', '');
    const services = servicesOf(snapshot, w).filter((s) => r.port === undefined || s.ports.some((sp) => workloadPort(w, sp) === r.port));
    if (services.length === 0) return this.count('unknown', '', '');
    // Several workloads share the caller's identity and none sits at its address: each may have called.
    const callers = src.name.split(',').filter((n) => snapshot.workloads.some((x) => x.namespace === src.namespace && x.name === n));
    if (callers.length === 0) return this.count('unknown', '', '');
    const now = this.now();
    for (const c of callers) for (const s of services) this.count(this.observed.record(src.namespace, c, s.meta.namespace, s.hostname, 'observed', now), src.namespace, c);
  }

  /** An on-demand stream asked for clusters: the ones that exist become dependencies of its workload now. */
  onDemandRequested(proxy: ConnectedProxy, names: readonly string[], found: readonly boolean[]): void {
    const snapshot = this.deps.snapshot();
    const w = findWorkload(snapshot, proxy.info);
    names.forEach((n, i) => {
      const parsed = found[i] ? parseOutboundClusterName(n) : undefined;
      const svc = parsed ? snapshot.services.find((s) => s.hostname === parsed.hostname) : undefined;
      if (!w || !svc) { this.count('unknown', '', ''); return; }
      const now = this.now();
      const key = `${w.namespace}/${w.name}`;
      let pin = this.pinned.get(proxy.connectionId);
      if (!pin) { pin = { workload: key, hosts: new Map() }; this.pinned.set(proxy.connectionId, pin); }
      // Bounded by the stream's own cap (--xds-max-on-demand-names): the stream ends past it.
      if (!pin.hosts.has(svc.hostname)) pin.hosts.set(svc.hostname, Object.freeze({ hostname: svc.hostname, namespace: svc.meta.namespace, source: 'pinned', lastSeen: now }));
      this.count(this.observed.record(w.namespace, w.name, svc.meta.namespace, svc.hostname, 'on-demand', now), w.namespace, w.name);
    });
  }

  private workloadKey(p: ConnectedProxy): string | undefined {
    const w = findWorkload(this.deps.snapshot(), p.info);
    return w ? `${w.namespace}/${w.name}` : undefined;
  }

  /** Pushes the main streams of callers with new dependencies (batched over 100 ms). */
  private schedulePush(caller: string): void {
    this.pending.add(caller);
    if (this.pendingTimer) return;
    this.pendingTimer = setTimeout(() => {
      this.pendingTimer = undefined;
      const callers = this.pending;
      this.pending = new Set();
      this.deps.push('scope grew (a new dependency was observed)', (p) => !p.onDemand && callers.has(this.workloadKey(p) ?? ''));
    }, 100);
    this.pendingTimer.unref();
  }

  /** Re-decides every scoped proxy; pushes those whose dependency set changed (expiry). */
  tick(): void {
    this.observed.expire(this.now());
    const changed = new Set<string>();
    for (const p of this.deps.proxies()) {
      if (p.onDemand) continue;
      const before = this.decisions.get(p.connectionId)?.decision;
      if (this.decisionFor(p) !== before) changed.add(p.connectionId);
    }
    if (changed.size) this.deps.push('scope changed (a dependency expired or scoping was switched)', (p) => changed.has(p.connectionId));
  }

  /** The scope of one proxy as `/debug/config_dump` shows it. */
  report(proxy: ConnectedProxy): ScopeReport | { readonly mode: 'on-demand-stream'; readonly reason: string } {
    if (proxy.onDemand) return { mode: 'on-demand-stream', reason: 'ODCDS stream: serves the clusters the proxy names, from the full translation' };
    const snapshot = this.deps.snapshot();
    const why = this.deps.options.mode === 'full' ? `scoping is off (meshd --scoping full; label a namespace ${SCOPING_LABEL}=observed to scope it)` : `namespace ${proxy.info.namespace} is labelled ${SCOPING_LABEL}=full`;
    // Computed afresh: the decision kept for translation holds the dependencies as first seen (its key is the host set).
    return scopeReport(snapshot, proxy.info, this.compute(proxy, undefined)?.decision, why);
  }

  /** For `meshctl analyze`: each workload whose connected sidecars are scoped, and what its scope keeps (computed afresh). */
  scopedWorkloads(): ScopedWorkload[] {
    const snapshot = this.deps.snapshot();
    const byWorkload = new Map<string, { namespace: string; workload: string; reason: string; onDemand: boolean; proxies: number; kept: readonly KeptDependency[] }>();
    for (const p of this.deps.proxies()) {
      const decision = this.compute(p, undefined)?.decision;
      const w = decision ? findWorkload(snapshot, p.info) : undefined;
      if (!decision || !w) continue;
      const k = `${w.namespace}/${w.name}`;
      const seen = byWorkload.get(k);
      if (seen) { seen.proxies++; continue; }
      const kept = [...decision.kept].sort((a, b) => (a.namespace === b.namespace ? cmp(a.hostname, b.hostname) : cmp(a.namespace, b.namespace)));
      byWorkload.set(k, { namespace: w.namespace, workload: w.name, reason: decision.reason, onDemand: decision.onDemand, proxies: 1, kept });
    }
    return [...byWorkload.entries()].sort(([a], [b]) => cmp(a, b)).map(([, v]) => v);
  }

  /** `/debug/scoping`: every caller's kept dependencies, and the scope of every connected proxy. */
  routes(): ((app: FastifyInstance) => void)[] {
    const SHOWS = { kind: 'read', resource: 'debug' } as const;
    return [
      (app) => app.get('/debug/scoping', route(SHOWS, 'learned scoping: the dependencies kept per workload (from access logs and on-demand requests, within the window) and each proxy\'s scope'), async () => ({
        mode: this.deps.options.mode, windowSeconds: Math.round(this.deps.options.windowMs / 1000), onDemand: this.deps.options.onDemand,
        maxPerWorkload: this.observed.limits.maxPerWorkload, dropped: this.observed.dropped,
        workloads: this.observed.callersAt(this.now()),
        proxies: this.deps.proxies().filter((p) => !p.onDemand).map((p) => ({ proxy: p.info.id, connection: p.connectionId, scope: this.report(p) })).sort((a, b) => (a.proxy < b.proxy ? -1 : a.proxy > b.proxy ? 1 : 0)),
      })),
    ];
  }

  close(): void {
    clearInterval(this.tickTimer);
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
  }
}

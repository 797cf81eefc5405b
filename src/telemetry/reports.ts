/**
 * The JSON behind `/debug/edges` and `/debug/plaintext`, computed from the store and the
 * current snapshot at request time (names follow the snapshot; counts follow the logs).
 */
import type { MeshSnapshot } from '../model/types.js';
import { effectiveMtls } from '../authz/index.js';
import { parseRbacKey } from '../authz/index.js';
import { authorizationPoliciesFor } from '../authz/index.js';
import { resolveSource } from './resolve.js';
import type { Destination, TelemetryStore } from './store.js';

/** One row of `/debug/edges`; `meshctl edges` reads exactly these keys. */
export interface EdgeRow {
  readonly src: string;
  readonly dst: string;
  readonly srcNamespace: string;
  readonly dstNamespace: string;
  readonly clientId: string;
  readonly serverId: string;
  readonly secured: boolean;
  readonly denied: number;
  readonly requests: number;
  /** ISO 8601. */
  readonly lastSeen: string;
  /** With learned scoping on for the caller: whether (and why) the destination is in its scope. */
  readonly scope?: EdgeScope;
}

/**
 * An edge under learned scoping: the destination is in the caller's own `namespace`, kept as
 * `observed` (access logs within the window), `on-demand` (asked for within the window) or
 * `pinned` (held by the caller's on-demand stream), or `outside` the scope (its next call goes
 * through on-demand discovery).
 */
export type EdgeScope = 'namespace' | 'observed' | 'on-demand' | 'pinned' | 'outside';

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Edges whose source or destination is in `namespace` (all without one), sorted by dst, then src. */
export function edgeRows(store: TelemetryStore, snapshot: MeshSnapshot, namespace?: string): EdgeRow[] {
  const rows: EdgeRow[] = [];
  for (const e of store.edges.values()) {
    const src = resolveSource(snapshot, e.clientId, e.sourceAddress);
    if (namespace && e.dst.namespace !== namespace && src.namespace !== namespace) continue;
    rows.push({
      src: src.name, dst: e.dst.workload, srcNamespace: src.namespace, dstNamespace: e.dst.namespace,
      clientId: e.clientId, serverId: e.dst.serverId, secured: e.secured, denied: e.denied, requests: e.requests,
      lastSeen: new Date(e.lastSeen).toISOString(),
    });
  }
  return rows.sort((a, b) => cmp(a.dstNamespace, b.dstNamespace) || cmp(a.dst, b.dst) || cmp(a.srcNamespace, b.srcNamespace) || cmp(a.src, b.src) || cmp(a.clientId, b.clientId));
}

/**
 * A readable name for an RBAC key: `production/backend-access` for a DENY rule's key; for
 * `none` (no ALLOW rule matched) the ALLOW policies that select the destination, joined by `,`.
 */
export function denyingPolicy(snapshot: MeshSnapshot, dst: Destination, rbacKey: string): string {
  const parsed = parseRbacKey(rbacKey);
  if (parsed) return parsed.policy;
  const w = snapshot.workloads.find((x) => x.namespace === dst.namespace && x.name === dst.workload);
  const allows = w ? authorizationPoliciesFor(snapshot, w).filter((p) => p.action === 'ALLOW').map((p) => `${p.meta.namespace}/${p.meta.name}`).sort() : [];
  return allows.length ? allows.join(',') : rbacKey;
}

export interface DenialRow {
  readonly namespace: string;
  readonly workload: string;
  /** The policy (`ns/name`) that denied, as `denyingPolicy` names it. */
  readonly policy: string;
  readonly rbacPolicy: string;
  readonly reason: string;
  readonly count: number;
  readonly lastClient: string;
  readonly lastSeen: string;
}

/** Denials per destination and policy, sorted. */
export function denialRows(store: TelemetryStore, snapshot: MeshSnapshot, namespace?: string): DenialRow[] {
  const rows: DenialRow[] = [];
  for (const d of store.denials.values()) {
    if (namespace && d.dst.namespace !== namespace) continue;
    const policy = denyingPolicy(snapshot, d.dst, d.rbacKey);
    rows.push({
      namespace: d.dst.namespace, workload: d.dst.workload, policy, rbacPolicy: d.rbacKey,
      reason: d.rbacKey === 'none' ? `no ALLOW rule of ${policy} matched` : `DENY rule ${d.rbacKey}`,
      count: d.count, lastClient: d.lastClient, lastSeen: new Date(d.lastSeen).toISOString(),
    });
  }
  return rows.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.workload, b.workload) || cmp(a.policy, b.policy) || cmp(a.rbacPolicy, b.rbacPolicy));
}

export interface PlaintextClient {
  /** The client's workload (resolved from its address), else its address. */
  readonly source: string;
  readonly sourceAddress: string;
  readonly namespace: string;
  readonly requests: number;
  readonly connections: number;
  /** Requests + connections in the window (minute resolution, at most the last 60 minutes). */
  readonly inWindow: number;
  readonly ports: readonly number[];
  readonly lastSeen: string;
}

export interface PlaintextWorkload {
  readonly workload: string;
  /** The workload's effective mTLS mode now (`STRICT` already refuses plaintext). */
  readonly mode: string;
  /** No plaintext seen in the window: switching to STRICT breaks no client seen. */
  readonly readyForStrict: boolean;
  readonly clients: readonly PlaintextClient[];
}

export interface PlaintextNamespace {
  readonly namespace: string;
  readonly readyForStrict: boolean;
  readonly workloads: readonly PlaintextWorkload[];
}

export interface PlaintextReport {
  readonly windowSeconds: number;
  /** How long meshd has been collecting; when shorter than the window, "ready" is provisional. */
  readonly observedSeconds: number;
  readonly complete: boolean;
  readonly namespaces: readonly PlaintextNamespace[];
}

/**
 * The "ready for STRICT" report: every meshed workload (and any that logged plaintext), per
 * namespace; a workload is ready when no plaintext request or connection reached it within
 * `windowMs` before `now`, and its clients are the ones that would break.
 */
export function plaintextReport(store: TelemetryStore, snapshot: MeshSnapshot, now: number, windowMs: number, namespace?: string): PlaintextReport {
  const since = now - windowMs;
  const fromMinute = Math.floor(since / 60000);
  const byDst = new Map<string, { ns: string; wl: string; clients: PlaintextClient[] }>();
  const slot = (ns: string, wl: string): PlaintextClient[] => {
    const k = `${ns}/${wl}`;
    let v = byDst.get(k);
    if (!v) { v = { ns, wl, clients: [] }; byDst.set(k, v); }
    return v.clients;
  };
  for (const w of snapshot.workloads) if (w.meshed && (!namespace || w.namespace === namespace)) slot(w.namespace, w.name);
  for (const p of store.plaintext.values()) {
    if (namespace && p.dst.namespace !== namespace) continue;
    const clients = slot(p.dst.namespace, p.dst.workload);
    if (p.lastSeen < since) continue;
    let inWindow = 0;
    for (const [m, c] of p.minutes) if (m >= fromMinute) inWindow += c;
    const src = resolveSource(snapshot, '', p.sourceAddress);
    clients.push({
      source: src.name, sourceAddress: p.sourceAddress, namespace: src.namespace, requests: p.requests, connections: p.connections,
      inWindow, ports: [...p.ports].sort((a, b) => a - b), lastSeen: new Date(p.lastSeen).toISOString(),
    });
  }
  const nss = new Map<string, PlaintextWorkload[]>();
  for (const v of [...byDst.values()].sort((a, b) => cmp(a.ns, b.ns) || cmp(a.wl, b.wl))) {
    const w = snapshot.workloads.find((x) => x.namespace === v.ns && x.name === v.wl);
    const mode = w ? effectiveMtls(snapshot, w).mode : 'unknown';
    const list = nss.get(v.ns) ?? [];
    list.push({ workload: v.wl, mode, readyForStrict: v.clients.length === 0, clients: v.clients.sort((a, b) => cmp(a.sourceAddress, b.sourceAddress)) });
    nss.set(v.ns, list);
  }
  const observedMs = now - store.startedAt;
  return {
    windowSeconds: Math.round(windowMs / 1000),
    observedSeconds: Math.round(observedMs / 1000),
    complete: observedMs >= windowMs,
    namespaces: [...nss].map(([ns, workloads]) => ({ namespace: ns, readyForStrict: workloads.every((w) => w.readyForStrict), workloads })),
  };
}

/**
 * Leader election on a `coordination.k8s.io/v1` Lease (as client-go's leaderelection): the
 * holder renews every `retryMs`; another replica takes over once `renewTime + leaseDuration`
 * has passed. Writes carry the Lease's resourceVersion, so two candidates cannot both win.
 * Used for the single-writer jobs: creating the CA Secret, policy status, root ConfigMaps.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isRecord } from '../config/fields.js';
import type { Logger } from '../util/log.js';
import type { KubeClient } from './kube-client.js';

export interface LeaderOptions {
  readonly namespace: string;
  readonly name?: string;
  readonly identity?: string;
  readonly leaseDurationSeconds?: number;
  readonly retryMs?: number;
  readonly log: Logger;
  readonly onStartedLeading?: () => void;
  readonly onStoppedLeading?: () => void;
}

export interface LeaderElector {
  readonly identity: string;
  isLeader(): boolean;
  /** Resolves after the first attempt (leader or not). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Creates a Lease-based elector; nothing happens before start(). */
export function leaderElector(client: KubeClient, o: LeaderOptions): LeaderElector {
  const name = o.name ?? 'meshd-leader';
  const identity = o.identity ?? `${hostname()}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const duration = o.leaseDurationSeconds ?? 15;
  const retryMs = o.retryMs ?? 2000;
  const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases`;
  let leader = false;
  let lastRenew = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const setLeader = (v: boolean): void => {
    if (v === leader) return;
    leader = v;
    o.log.info(v ? 'leader: acquired' : 'leader: lost', { lease: `${o.namespace}/${name}`, identity });
    if (v) o.onStartedLeading?.(); else o.onStoppedLeading?.();
  };

  const attempt = async (): Promise<void> => {
    const now = Date.now();
    const spec = (transitions: number, acquire: string): Record<string, unknown> => ({
      holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: acquire, renewTime: microTime(now), leaseTransitions: transitions,
    });
    try {
      const r = await client.request('GET', `${base}/${name}`, { timeoutMs: retryMs * 2 });
      if (r.status === 404) {
        const c = await client.request('POST', base, { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: o.namespace }, spec: spec(0, microTime(now)) } });
        if (c.status === 201) { lastRenew = now; setLeader(true); } else setLeader(false);
        return;
      }
      if (r.status !== 200 || !isRecord(r.body)) throw new Error(`GET lease: HTTP ${r.status}`);
      const lease = r.body;
      const s = isRecord(lease.spec) ? lease.spec : {};
      const holder = typeof s.holderIdentity === 'string' ? s.holderIdentity : '';
      const renew = typeof s.renewTime === 'string' ? Date.parse(s.renewTime) : 0;
      const dur = typeof s.leaseDurationSeconds === 'number' ? s.leaseDurationSeconds : duration;
      const transitions = typeof s.leaseTransitions === 'number' ? s.leaseTransitions : 0;
      const mine = holder === identity;
      // A foreign lease holds until renewTime + leaseDuration (clocks assumed roughly in sync).
      if (!mine && holder !== '' && now < renew + dur * 1000) { setLeader(false); return; }
      const acquire = mine && typeof s.acquireTime === 'string' ? s.acquireTime : microTime(now);
      const u = await client.request('PUT', `${base}/${name}`, { body: { ...lease, spec: spec(mine ? transitions : transitions + 1, acquire) }, timeoutMs: retryMs * 2 });
      if (u.status === 200) { lastRenew = now; setLeader(true); } else setLeader(false);
    } catch (e) {
      // Cannot reach the API server: keep leading only while our lease surely holds.
      if (leader && Date.now() - lastRenew > duration * 1000 * 0.8) setLeader(false);
      o.log.warn('leader: lease update failed', { error: e instanceof Error ? e.message : String(e) });
    }
  };

  const loop = async (): Promise<void> => {
    if (stopped) return;
    await attempt();
    if (!stopped) timer = setTimeout(() => { void loop(); }, retryMs);
  };

  return {
    identity,
    isLeader: () => leader,
    async start() { await attempt(); if (!stopped) timer = setTimeout(() => { void loop(); }, retryMs); },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (leader) {
        // Release: an empty holder lets another replica take over at once.
        try {
          const r = await client.request('GET', `${base}/${name}`, { timeoutMs: 2000 });
          if (r.status === 200 && isRecord(r.body) && isRecord(r.body.spec) && r.body.spec.holderIdentity === identity) {
            await client.request('PUT', `${base}/${name}`, { body: { ...r.body, spec: { ...r.body.spec, holderIdentity: '', leaseDurationSeconds: 1 } }, timeoutMs: 2000 });
          }
        } catch { /* best effort */ }
        setLeader(false);
      }
    },
  };
}

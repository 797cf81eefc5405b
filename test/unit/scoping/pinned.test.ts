/**
 * Learned scoping's controller: a host Envoy got on demand stays in its workload's scope while
 * that ODCDS stream lives (Envoy keeps the name subscribed and never asks again), past the
 * window that drops observed dependencies; the stream's end releases it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ScopingController } from '../../../src/meshd/scoping.js';
import { createLogger } from '../../../src/util/log.js';
import type { ConnectedProxy } from '../../../src/xds/server/types.js';
import type { EdgeRow } from '../../../src/telemetry/reports.js';
import { proxy, snap, svc } from '../traffic-xlate/snap.js';

const SNAP = snap(`${svc('web', 'apps', [8080])}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: orders, namespace: shop}
spec: {address: 10.0.0.2, labels: {app: orders}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: pay, namespace: bank}
spec: {address: 10.0.0.3, labels: {app: pay}}
---
${svc('orders', 'shop', [9090])}
---
${svc('pay', 'bank', [7070])}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web, namespace: apps}
spec: {address: 10.0.0.1, labels: {app: web}}
`);

function stream(id: string, onDemand: boolean): ConnectedProxy {
  return {
    connectionId: id, info: proxy({ id: 'sidecar~10.0.0.1~web.apps~apps.svc.cluster.local', ip: '10.0.0.1', workloadName: 'web', namespace: 'apps' }),
    node: {} as ConnectedProxy['node'], protocol: 'delta', peer: '', connectedAt: 0, ...(onDemand ? { onDemand: true } : {}),
  };
}

test('a host asked for on demand is pinned past the window; observed ones expire; the on-demand stream\'s end releases it', () => {
  let now = 1_000_000;
  const main = stream('ads-1', false);
  const odcds = stream('odcds-2', true);
  const pushes: string[] = [];
  const c = new ScopingController({
    options: { mode: 'observed', windowMs: 10_000, onDemand: true, maxPerWorkload: 100 },
    snapshot: () => SNAP, registry: new Registry(), log: createLogger({ level: 'error' }),
    push: (reason) => { pushes.push(reason); }, proxies: () => [main, odcds], now: () => now,
  });
  try {
    assert.deepEqual(c.decisionFor(main)?.kept, [], 'nothing kept at first');
    c.onDemandRequested(odcds, ['outbound|9090||orders.shop.svc.cluster.local'], [true]);
    c.observed.record('apps', 'web', 'bank', 'pay.bank.svc.cluster.local', 'observed', now);
    const kept = (): string[] => (c.decisionFor(main)?.kept ?? []).map((d) => `${d.hostname}:${d.source}`);
    assert.deepEqual(kept(), ['orders.shop.svc.cluster.local:on-demand', 'pay.bank.svc.cluster.local:observed']);
    const edge = (dst: string, dstNamespace: string): EdgeRow => ({ src: 'web', dst, srcNamespace: 'apps', dstNamespace, clientId: '', serverId: '', secured: true, denied: 0, requests: 1, lastSeen: '' });
    assert.equal(c.edgeScope(edge('pay', 'bank')), 'observed', 'meshctl edges: pay is kept, seen in access logs');
    now += 20_000; // past the window
    c.tick();
    assert.deepEqual(kept(), ['orders.shop.svc.cluster.local:pinned'], 'the observed one left; the on-demand one stays, pinned');
    assert.deepEqual([c.edgeScope(edge('orders', 'shop')), c.edgeScope(edge('pay', 'bank')), c.edgeScope(edge('web', 'apps'))], ['pinned', 'outside', 'namespace']);
    c.forget(odcds);
    assert.deepEqual(kept(), [], 'the on-demand stream ended: nothing pins it');
    assert.ok(pushes.length >= 2, 'scope changes were pushed');
  } finally {
    c.close();
  }
});

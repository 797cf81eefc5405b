/**
 * `meshctl analyze` under learned scoping: the controller lists each scoped workload once with
 * what its scope keeps, and the learned-scope analyzer names every kept dependency and why
 * (info, never an error), warning where on-demand discovery is off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ScopingController } from '../../../src/meshd/scoping.js';
import { analyze, ANALYZERS } from '../../../src/analyze/index.js';
import { formatFindings } from '../../../src/cli/analyze-command.js';
import { createLogger } from '../../../src/util/log.js';
import type { ConnectedProxy } from '../../../src/xds/server/types.js';
import { proxy, snap, svc } from '../traffic-xlate/snap.js';

const SNAP = snap(`${svc('web', 'apps', [8080])}
---
${svc('orders', 'shop', [9090])}
---
${svc('pay', 'bank', [7070])}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web, namespace: apps}
spec: {address: 10.0.0.1, labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: orders, namespace: shop}
spec: {address: 10.0.0.2, labels: {app: orders}}
`);

function stream(id: string, ip: string, workload: string, namespace: string, onDemand = false): ConnectedProxy {
  return {
    connectionId: id, info: proxy({ id: `sidecar~${ip}~${workload}.${namespace}~${namespace}.svc.cluster.local`, ip, workloadName: workload, namespace }),
    node: {} as ConnectedProxy['node'], protocol: 'delta', peer: '', connectedAt: 0, ...(onDemand ? { onDemand: true } : {}),
  };
}

function controller(onDemand: boolean, proxies: ConnectedProxy[], now: () => number): ScopingController {
  return new ScopingController({
    options: { mode: 'observed', windowMs: 600_000, onDemand, maxPerWorkload: 100 },
    snapshot: () => SNAP, registry: new Registry(), log: createLogger({ level: 'error' }),
    push: () => {}, proxies: () => proxies, now,
  });
}

test('analyze lists each scoped workload once with the dependencies its scope keeps and why', () => {
  const now = 5_000_000;
  const odcds = stream('odcds-3', '10.0.0.1', 'web', 'apps', true);
  const c = controller(true, [stream('ads-1', '10.0.0.1', 'web', 'apps'), stream('ads-2', '10.0.0.1', 'web', 'apps'), odcds, stream('ads-4', '10.0.0.2', 'orders', 'shop')], () => now);
  try {
    c.observed.record('apps', 'web', 'bank', 'pay.bank.svc.cluster.local', 'observed', now - 120_000);
    c.onDemandRequested(odcds, ['outbound|9090||orders.shop.svc.cluster.local'], [true]);
    const scopes = c.scopedWorkloads();
    assert.deepEqual(scopes.map((s) => `${s.namespace}/${s.workload}:${s.proxies}:${s.kept.map((d) => `${d.hostname}=${d.source}`).join(',')}`),
      ['apps/web:2:pay.bank.svc.cluster.local=observed,orders.shop.svc.cluster.local=on-demand', 'shop/orders:1:'],
      'the on-demand stream is not a second proxy; bank sorts before shop');
    const findings = analyze({ snapshot: SNAP, scopes, now });
    const mine = findings.filter((f) => f.analyzer === 'learned-scope');
    assert.deepEqual(mine.map((f) => `${f.severity} ${f.namespace}/${f.name} ${f.field}`), ['info apps/web scope', 'info shop/orders scope']);
    assert.match(mine[0]!.message, /meshd --scoping observed; 2 proxies\) keeps 2 dependencies outside its namespace: bank\/pay\.bank\.svc\.cluster\.local \(called 2m ago, leaves in 8m unless called again\), shop\/orders\.shop\.svc\.cluster\.local \(asked for on demand 0s ago/);
    assert.match(mine[1]!.message, /keeps no dependency outside its namespace/);
    const text = formatFindings(mine);
    assert.match(text, /^Info \[learned-scope\] \(Workload apps\/web scope\) learned scope/m);
    assert.ok(!findings.some((f) => f.severity === 'error'), 'info never makes meshctl analyze fail');
  } finally {
    c.close();
  }
});

test('without on-demand discovery each scoped workload also gets a warning; scoping off lists nothing', () => {
  const now = 5_000_000;
  const c = controller(false, [stream('ads-1', '10.0.0.1', 'web', 'apps')], () => now);
  try {
    const findings = analyze({ snapshot: SNAP, scopes: c.scopedWorkloads(), now }).filter((f) => f.analyzer === 'learned-scope');
    assert.deepEqual(findings.map((f) => f.severity), ['warning', 'info'], 'warnings sort before info');
    assert.match(findings[0]!.message, /on-demand discovery is off/);
  } finally {
    c.close();
  }
  assert.deepEqual(analyze({ snapshot: SNAP }).filter((f) => f.analyzer === 'learned-scope'), [], 'offline (no scopes): nothing');
  assert.ok(ANALYZERS.some((a) => a.name === 'learned-scope'));
});

/**
 * Real Envoy, destination side of Istio's traffic API: DestinationRule outlier detection and
 * connection pools, ServiceEntry + DestinationRule TLS origination to an "external" HTTPS app,
 * REGISTRY_ONLY vs ALLOW_ANY, Sidecar scoping, and make-before-break for a new subset.
 * Backends here are plain apps without sidecars (loopback 127.N.40.x), so the client's sidecar
 * is the Envoy under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshFixture, type WorkloadSpec } from '../helpers/mesh.js';
import { httpCall, type HttpResult } from '../helpers/apps.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { externalHttpsApp, listenerNames, outboundClusters, statusApp, type StatusApp as App } from '../helpers/traffic.js';

/** `127.N`: the fixture's own loopback /16. */
const net = (m: MeshFixture): string => m.get('client').appAddress.split('.').slice(0, 2).join('.');

/** A Service `name` (port `svcPort`, named http) and one sidecar-less WorkloadEntry per endpoint. */
function backend(name: string, svcPort: number, eps: readonly { id: string; address: string; port: number; labels?: Record<string, string> }[], ns = 'production'): unknown[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ name: 'http', port: svcPort }] } },
    ...eps.map((e) => ({
      apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
      metadata: { name: e.id, namespace: ns, labels: { 'sidecar.istio.io/inject': 'false' } },
      spec: { address: e.address, labels: { app: name, ...e.labels }, serviceAccount: name, ports: { http: e.port } },
    })),
  ];
}

/** The client calls `host` on `port` through its sidecar. */
function call(m: MeshFixture, host: string, port: number, path = '/'): Promise<HttpResult> {
  return httpCall({ host: m.get('client').outboundAddress, port, hostHeader: host, path, timeoutMs: 8000 });
}

async function started(specs: WorkloadSpec[], delta: boolean): Promise<MeshFixture> {
  const m = await MeshFixture.create(specs);
  await m.startMeshd();
  await m.startWorkloads({ delta });
  return m;
}

for (const delta of [false, true]) {
  const mode = delta ? 'Delta' : 'SotW';

  test(`outlierDetection ejects the endpoint that returns 5xx and traffic moves to the healthy one (${mode})`, async (t) => {
    const m = await started([{ name: 'client' }], delta);
    const apps: App[] = [];
    t.after(async () => { for (const a of apps) await a.close(); await m.close(); });
    const [pg, pb, svcPort] = [await freePort(), await freePort(), await freePort()];
    const good = await statusApp('good', `${net(m)}.40.1`, pg, 200);
    const bad = await statusApp('bad', `${net(m)}.40.2`, pb, 500);
    apps.push(good, bad);
    m.writeConfig('20-pool.yaml', [
      ...backend('pool', svcPort, [{ id: 'pool-good', address: `${net(m)}.40.1`, port: pg }, { id: 'pool-bad', address: `${net(m)}.40.2`, port: pb }]),
      {
        apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'pool', namespace: 'production' },
        spec: { host: 'pool', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '120s', maxEjectionPercent: 100 } } },
      },
    ]);
    const host = 'pool.production.svc.cluster.local';
    await waitFor('pool reachable', async () => { try { return (await call(m, host, svcPort)).status !== 404 || undefined; } catch { return undefined; } }, 20000, 200);
    // Round robin over both: the bad endpoint answers 500 once, is ejected, and every later request lands on the good one.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await call(m, host, svcPort)).status);
    const tail = statuses.slice(10);
    assert.deepEqual(tail.filter((s) => s !== 200), [], `after the ejection every request succeeds: ${statuses.join(',')}`);
    assert.ok(bad.hits >= 1 && bad.hits <= 3, `the bad endpoint was tried and then left alone (hits ${bad.hits})`);
    const stats = await m.get('client').envoy!.stats('outlier_detection');
    const ejected = [...stats].find(([k]) => k.includes(host) && k.endsWith('outlier_detection.ejections_enforced_total'));
    assert.ok(ejected && ejected[1] >= 1, `Envoy counted an ejection: ${[...stats].filter(([k]) => k.includes(host)).join(' ')}`);
  });

  test(`REGISTRY_ONLY answers 502 for a host not in the registry while ALLOW_ANY passes it (${mode})`, async (t) => {
    const m = await started([{ name: 'client' }, { name: 'backend' }], delta);
    t.after(() => m.close());
    const port = m.get('backend').port;
    await m.waitForCall('client', 'backend');
    // ALLOW_ANY (the mesh default): an unknown Host on a port one service owns still reaches it.
    assert.equal((await call(m, 'unknown.example.com', port)).status, 200);
    m.writeConfig('30-sidecar.yaml', [{ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'default', namespace: 'production' }, spec: { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } } }]);
    const r = await waitFor('unknown host blocked', async () => { const x = await call(m, 'unknown.example.com', port); return x.status === 502 ? x : undefined; }, 20000, 200);
    assert.equal(r.status, 502);
    // Registry hosts still pass.
    assert.equal((await m.call('client', 'backend')).status, 200);
  });
}

test('connectionPool limits trip: upstream_rq_pending_overflow counts the requests that did not fit', async (t) => {
  const m = await started([{ name: 'client' }], false);
  const apps: App[] = [];
  t.after(async () => { for (const a of apps) await a.close(); await m.close(); });
  const [pa, svcPort] = [await freePort(), await freePort()];
  apps.push(await statusApp('slow', `${net(m)}.40.1`, pa, 200, 1500));
  m.writeConfig('20-slow.yaml', [
    ...backend('slow', svcPort, [{ id: 'slow-1', address: `${net(m)}.40.1`, port: pa }]),
    {
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'slow', namespace: 'production' },
      spec: { host: 'slow', trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, http2MaxRequests: 1 } } } },
    },
  ]);
  const host = 'slow.production.svc.cluster.local';
  await waitFor('slow reachable', async () => { try { return (await call(m, host, svcPort)).status === 200 || undefined; } catch { return undefined; } }, 20000, 200);
  const results = await Promise.all(Array.from({ length: 8 }, () => call(m, host, svcPort)));
  const codes = results.map((r) => r.status);
  assert.ok(codes.includes(200), `some requests got through: ${codes.join(',')}`);
  assert.ok(codes.includes(503), `some requests overflowed: ${codes.join(',')}`);
  const stats = await m.get('client').envoy!.stats(host);
  const overflow = [...stats].find(([k]) => k === `cluster.outbound|${svcPort}||${host}.upstream_rq_pending_overflow`);
  assert.ok(overflow && overflow[1] > 0, `upstream_rq_pending_overflow > 0: ${[...stats].filter(([k]) => k.includes('overflow')).join(' ')}`);
});

test('ServiceEntry (resolution DNS) + DestinationRule tls SIMPLE: the sidecar originates TLS to the external HTTPS app', async (t) => {
  const m = await started([{ name: 'client' }], false);
  const ext = await externalHttpsApp(m.dir, 'api.external.example');
  const { cert, seen } = ext;
  const sePort = await freePort();
  t.after(async () => { await ext.close(); await m.close(); });
  const se = {
    apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'external', namespace: 'production' },
    spec: {
      hosts: ['api.external.example'], ports: [{ number: sePort, name: 'http', protocol: 'HTTP', targetPort: ext.port }],
      resolution: 'DNS', location: 'MESH_EXTERNAL', endpoints: [{ address: 'localhost' }],
    },
  };
  m.writeConfig('40-external.yaml', [se]);
  // Without a DestinationRule the sidecar speaks plaintext to a TLS port: no answer from the app.
  const plain = await waitFor('external host routed', async () => { try { const r = await call(m, 'api.external.example', sePort); return r.status !== 404 ? r : undefined; } catch { return undefined; } }, 20000, 200);
  assert.notEqual(plain.status, 200, `plaintext to the HTTPS app fails: ${plain.status} ${plain.body.slice(0, 200)}`);
  assert.equal(seen.length, 0);
  m.writeConfig('40-external.yaml', [se, {
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'external', namespace: 'production' },
    spec: { host: 'api.external.example', trafficPolicy: { tls: { mode: 'SIMPLE', caCertificates: cert, subjectAltNames: ['api.external.example'] } } },
  }]);
  let last: HttpResult | undefined;
  const r = await waitFor('TLS origination', async () => { last = await call(m, 'api.external.example', sePort); return last.status === 200 ? last : undefined; }, 20000, 200)
    .catch((e: unknown) => { throw new Error(`${String(e)}; last answer ${last?.status} ${last?.body.slice(0, 300)}\n${m.get('client').envoy!.log().slice(-3000)}`); });
  assert.deepEqual(JSON.parse(r.body), { tls: true, sni: 'api.external.example' });
  assert.ok(seen.every((s) => s.encrypted && s.servername === 'api.external.example'));
});

test('Sidecar egress.hosts ["./*"]: the proxy gets only its namespace\'s clusters and still reaches them', async (t) => {
  const m = await started([{ name: 'client' }, { name: 'backend' }, { name: 'elsewhere', namespace: 'other' }], false);
  t.after(() => m.close());
  await m.waitForCall('client', 'backend');
  const before = await outboundClusters(m.get('client').envoy!);
  assert.equal(before.length, 3, `every service before the Sidecar: ${before.join(' ')}`);
  m.writeConfig('30-sidecar.yaml', [{ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'default', namespace: 'production' }, spec: { egress: [{ hosts: ['./*'] }] } }]);
  const after = await waitFor('scoped clusters', async () => { const c = await outboundClusters(m.get('client').envoy!); return c.length === 2 ? c : undefined; }, 20000, 200);
  assert.ok(after.every((n) => n.endsWith('.production.svc.cluster.local')), after.join(' '));
  assert.equal((await m.call('client', 'backend')).status, 200);
  // The hidden service's listener went with its cluster.
  const hidden = m.get('elsewhere').port;
  let names: string[] = [];
  await waitFor('hidden listener removed', async () => {
    names = await listenerNames(m.get('client').envoy!);
    return (names.length > 0 && !names.some((n) => n.endsWith(`_${hidden}`))) || undefined;
  }, 10000, 200).catch(() => assert.fail(`no listener for the hidden service port ${hidden}: ${names.join(' ')}\n${m.meshd!.log().slice(-2000)}`));
});

for (const order of ['together', 'DestinationRule first'] as const) {
  test(`make-before-break: a new subset and a VirtualService naming it, applied ${order}, lose no request`, async (t) => {
    const m = await started([{ name: 'client' }], false);
    const apps: App[] = [];
    t.after(async () => { for (const a of apps) await a.close(); await m.close(); });
    const [p1, p2, svcPort] = [await freePort(), await freePort(), await freePort()];
    const v1 = await statusApp('v1', `${net(m)}.40.1`, p1, 200);
    const v2 = await statusApp('v2', `${net(m)}.40.2`, p2, 200);
    apps.push(v1, v2);
    m.writeConfig('20-reviews.yaml', backend('reviews', svcPort, [
      { id: 'reviews-v1', address: `${net(m)}.40.1`, port: p1, labels: { version: 'v1' } },
      { id: 'reviews-v2', address: `${net(m)}.40.2`, port: p2, labels: { version: 'v2' } },
    ]));
    const host = 'reviews.production.svc.cluster.local';
    await waitFor('reviews reachable', async () => { try { return (await call(m, host, svcPort)).status === 200 || undefined; } catch { return undefined; } }, 20000, 200);
    const dr = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'production' }, spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } };
    const vs = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'production' }, spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }] } };
    // Continuous traffic from two callers while the config changes.
    const failures: string[] = [];
    let total = 0;
    let stop = false;
    const loop = async (): Promise<void> => {
      while (!stop) {
        try {
          const r = await call(m, host, svcPort);
          total++;
          if (r.status !== 200) failures.push(`${r.status} ${String(r.headers['x-envoy-response-flags'] ?? '')} ${r.body.slice(0, 80)}`);
        } catch (e) { failures.push(String(e)); }
      }
    };
    const loops = [loop(), loop()];
    await new Promise((r) => setTimeout(r, 500));
    if (order === 'together') {
      m.writeConfig('30-canary.yaml', [dr, vs]);
    } else {
      m.writeConfig('30-dr.yaml', [dr]);
      await new Promise((r) => setTimeout(r, 1500));
      m.writeConfig('31-vs.yaml', [vs]);
    }
    // Wait until the VirtualService is in force (only v2 answers), then keep the traffic going a little.
    // Round robin answers v2 half the time anyway: wait for 10 v2 answers in a row.
    let streak = 0;
    await waitFor('all traffic on v2', async () => {
      const r = await call(m, host, svcPort);
      streak = r.status === 200 && (JSON.parse(r.body) as { app: string }).app === 'v2' ? streak + 1 : 0;
      return streak >= 10 || undefined;
    }, 20000, 20);
    const v1Hits = v1.hits;
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, [], `no failed request out of ${total}`);
    assert.ok(total > 20, `traffic kept flowing during the change (${total} requests)`);
    assert.equal(v1.hits, v1Hits, 'once the route is in force, v1 gets nothing');
  });
}

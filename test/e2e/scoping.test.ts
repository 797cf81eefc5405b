/**
 * Real Envoy, learned scoping (`meshd --scoping observed`): a scoped sidecar holds only its
 * own namespace's clusters (counted in Envoy's config dump); a call outside the scope works on
 * the first request through on-demand cluster discovery (ODCDS) and then joins the scope; a
 * host that does not exist is answered "not found" at once and counted; what Envoy got on demand
 * stays (pinned); a dependency that leaves the scope never breaks a request in flight on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import { httpCall } from '../helpers/apps.js';

type Rec = Record<string, unknown>;

/** Outbound cluster names Envoy holds (static and dynamic, active). */
async function envoyClusters(mesh: MeshFixture, name: string): Promise<string[]> {
  const dump = await mesh.get(name).envoy!.configDump('dynamic_active_clusters');
  const names: string[] = [];
  for (const c of dump.configs) {
    for (const dc of (c.dynamic_active_clusters as Rec[] | undefined) ?? []) names.push(String((dc.cluster as Rec).name));
    if (c.cluster) names.push(String((c.cluster as Rec).name));
  }
  return names.filter((n) => n.startsWith('outbound|')).sort();
}

const cluster = (mesh: MeshFixture, name: string): string => {
  const w = mesh.get(name);
  return `outbound|${w.port}||${name}.${w.namespace}.svc.cluster.local`;
};

/** A POST whose body trickles for `ms`: in flight on its route and cluster all that time. */
function slowPost(host: string, port: number, hostHeader: string, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method: 'POST', path: '/slow', headers: { host: hostHeader, 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    const start = Date.now();
    const tick = setInterval(() => {
      req.write('x'.repeat(16));
      if (Date.now() - start >= ms) { clearInterval(tick); req.end(); }
    }, 250);
  });
}

test('observed scoping: only the own namespace at first, out-of-scope calls work on first use (ODCDS), unknown hosts are not found, removal never breaks a request in flight', async (t) => {
  const mesh = await MeshFixture.create([
    { name: 'web', namespace: 'apps' },
    { name: 'orders', namespace: 'shop' },
    { name: 'stock', namespace: 'shop' },
    { name: 'pay', namespace: 'bank' },
  ]);
  t.after(async () => { if (process.env.SCOPING_DEBUG) console.log(mesh.meshd?.log().split('\n').filter((l) => l.includes('odcds-trace')).join('\n'), mesh.get('web').envoy?.log().split('\n').filter((l) => /odcds|outbound "|cds:/.test(l)).join('\n')); await mesh.close(); });
  await mesh.startMeshd(['--scoping', 'observed', '--scoping-window', '3s']);
  await mesh.startWorkloads();
  const web = mesh.get('web');
  // Every sidecar's inbound is up (plaintext is allowed: PERMISSIVE by default).
  for (const n of ['web', 'orders', 'stock', 'pay']) await waitFor(`${n} inbound`, async () => (await mesh.callDirect(n).catch(() => ({ status: 0 }))).status === 200, 20000);

  // 1. The scope: web's own namespace only (its own service), none of the others.
  await waitFor('web has its clusters', async () => (await envoyClusters(mesh, 'web')).includes(cluster(mesh, 'web')), 20000);
  assert.deepEqual(await envoyClusters(mesh, 'web'), [cluster(mesh, 'web')], 'a scoped sidecar holds only its scope');
  const dump = await mesh.meshd!.adminJson<{ scope: { mode: string; reason: string; kept: unknown[]; visibleHosts: number; meshHosts: number } }>(`/debug/config_dump?proxy=${encodeURIComponent(`sidecar~${web.address}~web.apps~apps.svc.cluster.local`)}`);
  assert.equal(dump.scope.mode, 'observed', 'config_dump says which scope the proxy got');
  assert.match(dump.scope.reason, /--scoping observed/, '...and why');
  assert.deepEqual([dump.scope.visibleHosts, dump.scope.meshHosts, dump.scope.kept.length], [1, 4, 0]);

  // 2. A call inside the scope works (web calls itself through its sidecar).
  assert.equal((await mesh.call('web', 'web')).status, 200, 'a call inside the scope works');

  // 3. Outside the scope: the very first request succeeds, by on-demand discovery.
  const first = await mesh.call('web', 'orders');
  assert.equal(first.status, 200, `first request outside the scope: ${first.status} ${first.body}`);
  assert.equal(JSON.parse(first.body).app, 'orders');
  // ...and the dependency joins the scope (make-before-break), visible in /debug/scoping.
  const scoping = await waitFor('orders kept in web\'s scope', async () => {
    const s = await mesh.meshd!.adminJson<{ workloads: { namespace: string; workload: string; dependencies: { hostname: string; source: string }[] }[] }>('/debug/scoping');
    return s.workloads.find((w) => w.workload === 'web')?.dependencies.some((d) => d.hostname === 'orders.shop.svc.cluster.local') ? s : undefined;
  }, 10000);
  assert.ok(scoping.workloads.find((w) => w.workload === 'web'));
  assert.ok(!(await envoyClusters(mesh, 'web')).includes(cluster(mesh, 'stock')), 'stock was never called: not in scope');

  // 4. A host that does not exist: answered at once (not after the on-demand timeout), counted.
  const t0 = Date.now();
  const missing = await httpCall({ host: web.outboundAddress, port: mesh.get('orders').port, hostHeader: 'nosuch.shop.svc.cluster.local', path: '/' });
  assert.equal(missing.status, 503, 'a host that does not exist gets 503');
  assert.ok(Date.now() - t0 < 4500, `answered before the 5 s on-demand timeout (${Date.now() - t0} ms)`);
  const metrics = await (await mesh.meshd!.admin('/metrics')).text();
  assert.match(metrics, /meshd_xds_on_demand_clusters_total\{result="not_found"\} [1-9]/);
  assert.match(metrics, /meshd_xds_on_demand_clusters_total\{result="found"\} [1-9]/);

  // 5. What Envoy got on demand stays: Envoy keeps the name subscribed on its ODCDS stream and
  // would never ask for it again, so a withdrawn one would hang its next call. orders outlives
  // the 3 s window (pinned), and calling it again answers at once.
  await new Promise((r) => setTimeout(r, 4500));
  assert.ok((await envoyClusters(mesh, 'web')).includes(cluster(mesh, 'orders')), 'orders, got on demand, is still in web\'s Envoy after the window');
  const pinned = await mesh.meshd!.adminJson<{ proxies: { proxy: string; scope: { kept?: { hostname: string; source: string }[] } }[] }>('/debug/scoping');
  assert.equal(pinned.proxies.find((x) => x.proxy.includes('web'))?.scope.kept?.find((d) => d.hostname.startsWith('orders.'))?.source, 'pinned', '/debug/scoping says why orders stays');
  // meshctl analyze (its /debug/analyze) names what web's scope keeps and why, as info.
  const findings = await mesh.meshd!.adminJson<{ analyzer: string; severity: string; namespace?: string; name?: string; message: string }[]>('/debug/analyze');
  const webScope = findings.find((f) => f.analyzer === 'learned-scope' && f.namespace === 'apps' && f.name === 'web');
  assert.equal(webScope?.severity, 'info', `analyze lists web's learned scope: ${JSON.stringify(findings.filter((f) => f.analyzer === 'learned-scope'))}`);
  assert.match(webScope!.message, /shop\/orders\.shop\.svc\.cluster\.local \(held by the on-demand stream, kept while that stream lives\)/);
  const t1 = Date.now();
  assert.equal((await mesh.call('web', 'orders')).status, 200, 'orders again after the window');
  assert.ok(Date.now() - t1 < 3000, `answered at once (${Date.now() - t1} ms)`);

  // 6. In flight while its dependency leaves the scope: web's workload calls pay's sidecar
  // directly (plaintext from web's address: an observed call, not an on-demand one), so pay
  // joins web's scope through ADS; a slow request to pay through web's sidecar outlives the
  // 3 s window, and pay leaves the scope (its cluster goes from web's Envoy) meanwhile.
  const pay = mesh.get('pay');
  assert.equal((await httpCall({ host: pay.address, port: pay.port, path: '/', localAddress: web.address })).status, 200, 'web → pay sidecar, plaintext');
  await waitFor('pay in web\'s Envoy (observed)', async () => (await envoyClusters(mesh, 'web')).includes(cluster(mesh, 'pay')), 10000, 100);
  const inFlight = slowPost(web.outboundAddress, pay.port, `pay.${pay.namespace}.svc.cluster.local`, 7000);
  await waitFor('pay\'s cluster removed from web\'s Envoy while the request is in flight', async () => !(await envoyClusters(mesh, 'web')).includes(cluster(mesh, 'pay')), 6500, 200);
  assert.equal(await inFlight, 200, 'the request in flight when its dependency left the scope completed');
  // The completed request is an observed call: pay comes back into web's scope.
  await waitFor('pay back in web\'s scope after the request completed', async () => {
    const s = await mesh.meshd!.adminJson<{ proxies: { proxy: string; scope: { kept?: { hostname: string }[] } }[] }>('/debug/scoping');
    return s.proxies.find((x) => x.proxy.includes('web'))?.scope.kept?.some((d) => d.hostname.startsWith('pay.'));
  }, 10000, 200);
});

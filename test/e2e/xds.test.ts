/**
 * Real Envoy against meshd: versions, config edits, NACKs, and meshd restarts.
 */
import { test } from 'node:test';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { MeshFixture } from '../helpers/mesh.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { ResourceType } from '../../src/xds/resource-types.js';
import type { ProxySyncStatus, Rejection } from '../../src/xds/server/types.js';

interface Syncz { proxies: ProxySyncStatus[]; rejections: Rejection[] }

function listenerVersion(dump: { configs: Record<string, unknown>[] }): string | undefined {
  const l = dump.configs.find((c) => String(c['@type']).endsWith('ListenersConfigDump'));
  return l?.version_info as string | undefined;
}

test('config_dump shows the version meshd sent; YAML edits reach Envoy and move traffic', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'backend-v2', serviceAccount: 'backend' }]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  await mesh.startWorkloads();
  const fe = mesh.get('frontend').envoy!;
  await mesh.waitForCall('frontend', 'backend');

  const syncz = await mesh.meshd!.adminJson<Syncz>('/debug/syncz');
  const mine = syncz.proxies.find((p) => p.proxyId.includes('~frontend.production~'));
  assert.ok(mine, 'frontend is listed in /debug/syncz');
  const sent = mine.types[ResourceType.Listener]?.sentVersion;
  assert.equal(mine.types[ResourceType.Listener]?.ackedVersion, sent);
  assert.equal(listenerVersion(await fe.configDump()), sent, 'Envoy holds the listener version meshd sent');

  // A new endpoint: backend-v2's workload joins the backend service (label app=backend).
  const v2 = mesh.get('backend-v2');
  const docs = [...mesh.workloads.values()].flatMap((w) => w.spec.name === 'backend-v2' ? [] : [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: w.spec.name, namespace: 'production' }, spec: { selector: { app: w.spec.name }, ports: [{ name: 'http', port: w.port }] } },
  ]);
  const entries = [...mesh.workloads.values()].map((w) => ({
    apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
    metadata: { name: w.spec.name, namespace: 'production', annotations: { 'meshd.dev/app-address': w.appAddress, 'meshd.dev/outbound-address': w.outboundAddress } },
    // backend-v2 serves the backend service on backend's port
    spec: { address: w.address, labels: { app: w.spec.name === 'backend-v2' ? 'backend' : w.spec.name }, serviceAccount: w.serviceAccount, ports: { http: w.spec.name === 'backend-v2' ? mesh.get('backend').port : w.port } },
  }));
  // backend-v2's app listens on backend's port at its own app address
  await v2.app!.close();
  const { startEchoApp } = await import('../helpers/apps.js');
  v2.app = await startEchoApp('backend-v2', v2.appAddress, mesh.get('backend').port);
  mesh.writeConfig('10-workloads.yaml', [...docs, ...entries]);
  const seen = new Set<string>();
  await waitFor('traffic reaching backend-v2', async () => {
    const r = await mesh.call('frontend', 'backend');
    if (r.status === 200) seen.add((JSON.parse(r.body) as { app: string }).app);
    return seen.has('backend-v2');
  }, 20000, 50);
  const after = listenerVersion(await fe.configDump());
  assert.ok(after, 'listeners still present');

  // A removed service: its cluster leaves Envoy and calls stop working.
  mesh.writeConfig('10-workloads.yaml', [...docs.filter((d) => d.metadata.name !== 'backend'), ...entries]);
  await waitFor('backend cluster removed from Envoy', async () => {
    const d = JSON.stringify(await fe.configDump('dynamic_active_clusters'));
    return !d.includes('||backend.production.svc.cluster.local');
  }, 20000);
  const r = await mesh.call('frontend', 'backend').catch((e: Error) => ({ status: -1, body: e.message }));
  assert.notEqual(r.status, 200, 'a removed service is not reachable');
});

test('a resource Envoy rejects is NACKed once, recorded, not resent; Envoy keeps serving', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  // A new service whose port is already taken on frontend's outbound address: Envoy cannot
  // bind that one listener, NACKs, and keeps the rest; meshd records the rejection.
  const fe = mesh.get('frontend');
  const port = await freePort();
  const blocker = createServer(() => undefined);
  await new Promise<void>((res) => blocker.listen(port, fe.outboundAddress, res));
  t.after(() => blocker.close());
  const extra = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'extra', namespace: 'production' }, spec: { selector: { app: 'extra' }, ports: [{ name: 'http-extra', port }] } };
  mesh.writeConfig('20-extra.yaml', [extra]);
  const rejection = await waitFor('a recorded NACK', async () => {
    const s = await mesh.meshd!.adminJson<Syncz>('/debug/syncz');
    return s.rejections.find((r) => r.proxyId.includes('~frontend.production~') && r.typeUrl === ResourceType.Listener);
  }, 20000);
  assert.match(rejection.message, /bind|address already in use/i);
  // Envoy keeps serving on its last good listeners.
  const r = await mesh.call('frontend', 'backend');
  assert.equal(r.status, 200);
  // Not resent in a loop: NACK count stays put.
  const count = async (): Promise<number> => (await mesh.meshd!.adminJson<Syncz>('/debug/syncz')).rejections.filter((x) => x.proxyId.includes('~frontend.production~')).length;
  const n1 = await count();
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(await count(), n1, 'no NACK loop');
  const metrics = await (await mesh.meshd!.admin('/metrics')).text();
  assert.match(metrics, /meshd_xds_nacks_total\{[^}]*LDS[^}]*\} [1-9]/);
  // Fixing the config: a new version is accepted.
  mesh.removeConfig('20-extra.yaml');
  await waitFor('LDS acked again', async () => {
    const s = await mesh.meshd!.adminJson<Syncz>('/debug/syncz');
    const p = s.proxies.find((x) => x.proxyId.includes('~frontend.production~'));
    const l = p?.types[ResourceType.Listener];
    return l && l.sentVersion === l.ackedVersion && !l.awaitingAck;
  }, 20000);
});

test('meshd killed while traffic flows: Envoy keeps serving; restarted: Envoy resyncs', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'extra' }]);
  t.after(() => mesh.close());
  const ports = { xds: await freePort(), secureXds: await freePort(), admin: await freePort() };
  await mesh.startMeshd([], ports);
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  await mesh.meshd!.stop('SIGKILL');
  let ok = 0;
  for (let i = 0; i < 20; i++) {
    const r = await mesh.call('frontend', 'backend');
    if (r.status === 200) ok++;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(ok, 20, 'every request served while meshd is down');
  // A change made while meshd was down is picked up after the restart.
  const extra = mesh.get('extra');
  await extra.envoy?.stop();
  await extra.app?.close();
  mesh.workloads.delete('extra');
  mesh.writeConfig('10-workloads.yaml', '');
  mesh.writeWorkloads();
  await mesh.startMeshd([], ports);
  await waitFor('frontend reconnected', async () => {
    const s = await mesh.meshd!.adminJson<Syncz>('/debug/syncz');
    return s.proxies.some((p) => p.proxyId.includes('~frontend.production~') && p.types[ResourceType.Cluster]?.ackedVersion);
  }, 30000);
  await waitFor('the removed service gone from Envoy after resync', async () => {
    const d = JSON.stringify(await mesh.get('frontend').envoy!.configDump('dynamic_active_clusters'));
    return !d.includes('||extra.production.svc.cluster.local');
  }, 20000);
  assert.equal((await mesh.call('frontend', 'backend')).status, 200);
});

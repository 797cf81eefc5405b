/**
 * Real Envoy, certificate lifetime: 20 s certificates rotate under steady load with no
 * failed request, and a meshd restart keeps the root and causes no re-issue storm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CaStatus } from '../../src/ca/ca.js';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import { caSerials, envoyCerts, leafSerials, metric, normSerial, statSum, steadyLoad } from './identity-support.js';

const uri = (sa: string): string => `spiffe://cluster.local/ns/production/sa/${sa}`;

test('20 s certificates under 20 req/s for 60 s: the serial changes each rotation, 0 requests fail', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  await mesh.startMeshd(['--cert-ttl', '20s', '--rotation-fraction', '0.5']);
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  const seen: Record<string, string[]> = { frontend: [], backend: [] };
  let badExpiry = '';
  const poll = setInterval(() => {
    for (const name of ['frontend', 'backend'] as const) {
      envoyCerts(mesh.get(name).envoy!).then((certs) => {
        for (const leaf of certs.map((c) => c.chain[0]).filter((d) => d?.uris.includes(uri(name)))) {
          const list = seen[name]!;
          if (list[list.length - 1] !== leaf!.serial) list.push(leaf!.serial);
          const left = Date.parse(leaf!.expiration) - Date.now();
          if (left > 21_000) badExpiry = `${name}: ${leaf!.expiration} is more than 20 s away`;
        }
      }, () => undefined);
    }
  }, 250);
  const cxBefore = statSum(await mesh.get('frontend').envoy!.stats('upstream_cx_total'), 'cluster.outbound', 'upstream_cx_total');
  const load = steadyLoad(() => mesh.call('frontend', 'backend', { path: '/steady' }), 20);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 60_000));
  const result = await load.stop();
  clearInterval(poll);
  const cxAfter = statSum(await mesh.get('frontend').envoy!.stats('upstream_cx_total'), 'cluster.outbound', 'upstream_cx_total');
  const metrics = await (await mesh.meshd!.admin('/metrics')).text();
  const issued = metric(metrics, 'meshd_ca_issuance_seconds_count');
  console.log(`# ${((Date.now() - t0) / 1000).toFixed(0)} s: sent ${result.sent}, ok ${result.ok}, failed ${result.failed}; serials frontend ${seen.frontend!.length}, backend ${seen.backend!.length}; meshd issued ${issued}; frontend→backend upstream connections opened during the run: ${cxAfter - cxBefore}`);
  assert.equal(result.failed, 0, `failed requests: ${result.failures.join('; ')}`);
  assert.ok(result.ok >= 1100, `steady load actually ran: ${result.ok} ok`);
  assert.equal(badExpiry, '', badExpiry);
  for (const name of ['frontend', 'backend']) {
    const serials = seen[name]!;
    assert.ok(serials.length >= 3, `${name}: at least 2 rotations seen in /certs: ${serials.join(' → ')}`);
    assert.equal(new Set(serials).size, serials.length, `${name}: every rotation is a new serial`);
  }
  // Half of 20 s (± 10% jitter) over 60 s: about 6 rotations per proxy, never a storm.
  assert.ok(issued <= 2 * 9, `no rotation storm: meshd issued ${issued} certificates in 60 s for 2 proxies`);
  // Rotation does not drop connections: the pooled upstream connections carry on.
  assert.ok(cxAfter - cxBefore <= 4, `connections were not re-opened at each rotation: ${cxAfter - cxBefore} new`);
});

test('meshd restarted on the same state dir: same root, traffic keeps flowing, no re-issue storm', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  const first = await mesh.startMeshd();
  const ports = { xds: first.xdsPort, secureXds: first.secureXdsPort, admin: first.adminPort };
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  const before = await first.adminJson<CaStatus>('/ca/status');
  const caDir = join(mesh.stateDir, 'ca');
  const files = (): Record<string, string> => Object.fromEntries(readdirSync(caDir).sort().map((f) => [f, readFileSync(join(caDir, f), 'utf8')]));
  const filesBefore = files();
  const frontend = mesh.get('frontend').envoy!;
  const rootInEnvoy = await caSerials(frontend);
  const leafBefore = await leafSerials(frontend, uri('frontend'));
  assert.deepEqual([...rootInEnvoy], [normSerial(before.roots[0]!.serial)]);

  const load = steadyLoad(() => mesh.call('frontend', 'backend', { path: '/during-restart' }), 10);
  await new Promise((r) => setTimeout(r, 1000));
  await first.stop();
  await new Promise((r) => setTimeout(r, 2000)); // meshd down: the data plane keeps its config
  const second = await mesh.startMeshd([], ports);
  const after = await second.adminJson<CaStatus>('/ca/status');
  assert.deepEqual(after.roots.map((r) => r.sha256), before.roots.map((r) => r.sha256), 'same root after restart');
  assert.deepEqual(files(), filesBefore, 'CA files untouched');

  // Both sidecars reconnect and get a certificate from the new process, under the same root.
  await waitFor('both proxies reconnected', async () => {
    const s = JSON.stringify(await second.adminJson('/debug/syncz'));
    return s.includes('frontend.production') && s.includes('backend.production');
  }, 30000);
  await waitFor('frontend holds a certificate from the new meshd', async () => {
    const now = await leafSerials(frontend, uri('frontend'));
    return [...now].some((s) => !leafBefore.has(s));
  }, 30000);
  assert.deepEqual(await caSerials(frontend), rootInEnvoy, 'Envoy trusts the same root');
  await new Promise((r) => setTimeout(r, 3000));
  const result = await load.stop();
  assert.equal(result.failed, 0, `failed requests across the restart: ${result.failures.join('; ')}`);
  assert.ok(result.ok >= 50, `load ran: ${result.ok}`);
  const r = await mesh.call('frontend', 'backend');
  assert.equal(r.status, 200);
  // What is due: one certificate per reconnected proxy (meshd keeps no workload keys on disk).
  const metrics = await (await second.admin('/metrics')).text();
  const issued = metric(metrics, 'meshd_ca_issuance_seconds_count');
  console.log(`# restart: sent ${result.sent}, ok ${result.ok}, failed ${result.failed}; new meshd issued ${issued}`);
  assert.equal(issued, 2, `one certificate per proxy after the restart, got ${issued}`);
  assert.equal(second.logLines().filter((l) => String(l.msg ?? '').includes('stream authenticated')).length, 2, 'one stream per proxy');
});

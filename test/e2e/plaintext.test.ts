/**
 * Real Envoy: plaintext under PERMISSIVE passes and is counted (metric, /debug/plaintext,
 * `meshctl plaintext`); the seed's STRICT refuses it at the connection; a workload-level DISABLE
 * beats the namespace STRICT; a port-level exception opens one port only.
 */
import { seedYaml } from '../helpers/seed.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT } from '../helpers/meshd.js';
import { startEchoApp } from '../helpers/apps.js';
import { freePort, waitFor } from '../helpers/ports.js';
import type { PlaintextReport } from '../../src/telemetry/index.js';

const SEED = seedYaml();
/** The seed's first document (PeerAuthentication STRICT for the namespace), verbatim. */
const SEED_PEER_AUTHN = SEED.split(/^---$/m)[0]!;

/** A plaintext GET from a given source address (a client without a sidecar); status, or -1 when the connection is refused. */
function plainGet(host: string, port: number, localAddress: string, path = '/'): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, localAddress, agent: false, timeout: 3000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(-1));
    req.end();
  });
}

const metricValue = (text: string, re: RegExp): number => {
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
};

test('PERMISSIVE: plaintext passes, is counted per workload and client, and the report names who would break; the seed\'s STRICT then refuses it', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'legacy', noSidecar: true }]);
  t.after(() => mesh.close());
  mesh.writeConfig('20-peer.yaml', SEED_PEER_AUTHN.replace('mode: STRICT', 'mode: PERMISSIVE'));
  await mesh.startMeshd();
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  const be = mesh.get('backend');
  const legacy = mesh.get('legacy');
  for (let i = 0; i < 3; i++) assert.equal(await plainGet(be.address, be.port, legacy.appAddress, '/api/users'), 200, 'plaintext passes under PERMISSIVE');

  const metrics = await waitFor('plaintext counted', async () => {
    const m = await (await mesh.meshd!.admin('/metrics')).text();
    return metricValue(m, /meshd_plaintext_requests_total\{namespace="production",workload="backend"\} (\d+)/) >= 3 ? m : undefined;
  }, 15000);
  assert.equal(metricValue(metrics, /meshd_plaintext_requests_total\{namespace="production",workload="frontend"\} (\d+)/), 0, 'mTLS traffic is not plaintext');

  const report = await mesh.meshd!.adminJson<PlaintextReport>('/debug/plaintext?namespace=production&window=10m');
  const ns = report.namespaces.find((n) => n.namespace === 'production')!;
  assert.equal(ns.readyForStrict, false);
  const beRow = ns.workloads.find((w) => w.workload === 'backend')!;
  assert.equal(beRow.readyForStrict, false);
  assert.equal(beRow.mode, 'PERMISSIVE');
  assert.deepEqual(beRow.clients.map((c) => [c.source, c.sourceAddress, c.requests, c.ports]), [['legacy', legacy.appAddress, 3, [be.port]]]);
  assert.equal(ns.workloads.find((w) => w.workload === 'frontend')!.readyForStrict, true, 'frontend only ever got mTLS');

  const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'plaintext', '-n', 'production', '--window', '10m'], { encoding: 'utf8', env: { ...process.env, MESHD_ADDR: `http://127.0.0.1:${mesh.meshd!.adminPort}` } });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /namespace production: NOT ready for STRICT/);
  assert.match(cli.stdout, new RegExp(`backend\\s+PERMISSIVE\\s+NOT ready.*\\n\\s+- production/legacy \\(${legacy.appAddress.replace(/\./g, '\\.')}\\): 3 requests`));
  assert.match(cli.stdout, /frontend\s+PERMISSIVE\s+ready \(no plaintext in 10m\)/);
  const json = JSON.parse(spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'plaintext', '-o', 'json', '--meshd', `http://127.0.0.1:${mesh.meshd!.adminPort}`], { encoding: 'utf8' }).stdout) as PlaintextReport;
  assert.deepEqual(json.namespaces.map((n) => n.namespace), ['production']);

  // The seed's PeerAuthentication, verbatim: STRICT refuses plaintext at the connection.
  mesh.writeConfig('20-peer.yaml', SEED_PEER_AUTHN);
  await waitFor('plaintext refused under STRICT', async () => (await plainGet(be.address, be.port, legacy.appAddress)) === -1, 20000);
  assert.equal((await mesh.call('frontend', 'backend')).status, 200, 'mTLS still passes');
});

test('a workload-level DISABLE beats the namespace STRICT (and callers\' auto-mTLS follows it)', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'legacy', noSidecar: true }]);
  t.after(() => mesh.close());
  mesh.writeConfig('20-seed.yaml', SEED_PEER_AUTHN);
  mesh.writeConfig('30-backend-disable.yaml', [{
    apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'backend-plain', namespace: 'production' },
    spec: { selector: { matchLabels: { app: 'backend' } }, mtls: { mode: 'DISABLE' } },
  }]);
  await mesh.startMeshd();
  await mesh.startWorkloads();
  const be = mesh.get('backend');
  const fe = mesh.get('frontend');
  const legacy = mesh.get('legacy');
  await waitFor('plaintext to backend', async () => (await plainGet(be.address, be.port, legacy.appAddress)) === 200, 20000);
  assert.equal(await plainGet(fe.address, fe.port, legacy.appAddress), -1, 'frontend keeps the namespace STRICT');
  const r = await mesh.waitForCall('frontend', 'backend', 200);
  assert.equal((JSON.parse(r.body) as { xfcc?: string }).xfcc, undefined, 'frontend → backend is plaintext: no client certificate reached backend');
  const report = await waitFor('backend plaintext reported', async () => {
    const rep = await mesh.meshd!.adminJson<PlaintextReport>('/debug/plaintext?namespace=production');
    const w = rep.namespaces[0]?.workloads.find((x) => x.workload === 'backend');
    return w && w.clients.some((c) => c.source === 'legacy') ? rep : undefined;
  }, 15000);
  const rows = report.namespaces[0]!.workloads;
  assert.equal(rows.find((w) => w.workload === 'backend')!.mode, 'DISABLE');
  assert.equal(rows.find((w) => w.workload === 'frontend')!.mode, 'STRICT');
});

test('a port-level exception: STRICT for the namespace, PERMISSIVE on one port of backend only', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'legacy', noSidecar: true }]);
  t.after(() => mesh.close());
  const be = mesh.get('backend');
  const extraPort = await freePort();
  // backend serves a second port, `http-metrics`.
  const docs = [...mesh.workloads.values()].flatMap((w) => {
    const ports: Record<string, number> = w.spec.name === 'backend' ? { http: w.port, 'http-metrics': extraPort } : { http: w.port };
    return [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: w.spec.name, namespace: 'production' }, spec: { selector: { app: w.spec.name }, ports: Object.entries(ports).map(([name, port]) => ({ name, port })) } },
      {
        apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
        metadata: { name: w.spec.name, namespace: 'production', annotations: { 'meshd.dev/app-address': w.appAddress, 'meshd.dev/outbound-address': w.outboundAddress }, ...(w.spec.noSidecar ? { labels: { 'sidecar.istio.io/inject': 'false' } } : {}) },
        spec: { address: w.spec.noSidecar ? w.appAddress : w.address, labels: { app: w.spec.name }, serviceAccount: w.serviceAccount, ports },
      },
    ];
  });
  mesh.writeConfig('10-workloads.yaml', docs);
  mesh.writeConfig('20-seed.yaml', SEED_PEER_AUTHN);
  mesh.writeConfig('30-port.yaml', [{
    apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'backend-metrics', namespace: 'production' },
    spec: { selector: { matchLabels: { app: 'backend' } }, portLevelMtls: { [String(extraPort)]: { mode: 'PERMISSIVE' } } },
  }]);
  await mesh.startMeshd();
  await mesh.startWorkloads();
  const extraApp = await startEchoApp('backend-metrics', be.appAddress, extraPort);
  t.after(() => extraApp.close());
  const legacy = mesh.get('legacy');
  await waitFor('plaintext to the excepted port', async () => (await plainGet(be.address, extraPort, legacy.appAddress, '/metrics')) === 200, 20000);
  assert.equal(await plainGet(be.address, be.port, legacy.appAddress), -1, 'the other port stays STRICT');
  assert.equal((await mesh.waitForCall('frontend', 'backend', 200)).status, 200);
  const rep = await waitFor('the excepted port in the report', async () => {
    const r = await mesh.meshd!.adminJson<PlaintextReport>('/debug/plaintext?namespace=production');
    const c = r.namespaces[0]?.workloads.find((w) => w.workload === 'backend')?.clients.find((x) => x.source === 'legacy');
    return c ? c : undefined;
  }, 15000);
  assert.deepEqual(rep.ports, [extraPort]);
});

test('a TCP port: plaintext connections are counted from tcp_proxy\'s connection logs', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'db', portName: 'tcp' }, { name: 'legacy', noSidecar: true }]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  await mesh.startWorkloads();
  const db = mesh.get('db');
  const legacy = mesh.get('legacy');
  await waitFor('plaintext TCP to db', async () => (await plainGet(db.address, db.port, legacy.appAddress)) === 200, 20000);
  assert.equal(await plainGet(db.address, db.port, legacy.appAddress), 200);
  const m = await waitFor('connections counted', async () => {
    const text = await (await mesh.meshd!.admin('/metrics')).text();
    return metricValue(text, /meshd_plaintext_connections_total\{namespace="production",workload="db"\} (\d+)/) >= 2 ? text : undefined;
  }, 15000);
  assert.equal(metricValue(m, /meshd_plaintext_requests_total\{namespace="production",workload="db"\} (\d+)/), 0, 'a TCP port has connections, not requests');
  const rep = await mesh.meshd!.adminJson<PlaintextReport>('/debug/plaintext?namespace=production');
  const c = rep.namespaces[0]!.workloads.find((w) => w.workload === 'db')!.clients[0]!;
  assert.equal(c.source, 'legacy');
  assert.ok(c.connections >= 2 && c.requests === 0, JSON.stringify(c));
});

/**
 * Real Envoy with the node agent (`meshctl agent`): the workload key stays in the agent,
 * Envoy's ADS stream to meshd is mTLS with the agent's certificate, and the root rotation
 * sequence (introduce → activate → retire) runs under load with no failed request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { CaStatus } from '../../src/ca/ca.js';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT } from '../helpers/meshd.js';
import { startEchoApp } from '../helpers/apps.js';
import { startEnvoy, type RunningEnvoy } from '../helpers/envoy.js';
import { waitFor } from '../helpers/ports.js';
import { caSerials, envoySecrets, leafSerials, metric, normSerial, statSum, steadyLoad } from './identity-support.js';

const uri = (sa: string): string => `spiffe://cluster.local/ns/production/sa/${sa}`;

test('agent path: Envoy gets a certificate whose key never left the agent; ADS over mTLS; traffic to a peer', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend', agent: true }, { name: 'backend' }]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  await mesh.startWorkloads();
  const meshd = mesh.meshd!;
  const fe = mesh.get('frontend');
  const r = await mesh.waitForCall('frontend', 'backend');
  assert.match((JSON.parse(r.body) as { xfcc?: string }).xfcc ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/production\/sa\/frontend/);
  const back = await mesh.waitForCall('backend', 'frontend');
  assert.match((JSON.parse(back.body) as { xfcc?: string }).xfcc ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/production\/sa\/backend/, 'and the other way round');

  // The bootstrap: secrets from the agent's Unix socket; ADS over TLS with the agent's certificate.
  const dump = JSON.stringify(await fe.envoy!.configDump());
  assert.ok(dump.includes(fe.agent!.socket), 'sds-grpc cluster points at the agent socket');
  assert.ok(dump.includes(`"port_value":${meshd.secureXdsPort}`), 'ADS goes to the secure port');
  // The certificate Envoy holds is the one the agent obtained by CSR.
  const agentSerials = [...fe.agent!.log().matchAll(/certificate serial ([0-9a-f]+) for spiffe:\/\/cluster\.local\/ns\/production\/sa\/frontend/g)].map((m) => normSerial(m[1]!));
  assert.ok(agentSerials.length >= 1, fe.agent!.log());
  const inEnvoy = await leafSerials(fe.envoy!, uri('frontend'));
  assert.ok(inEnvoy.size >= 1 && [...inEnvoy].every((s) => s === agentSerials[agentSerials.length - 1]), `Envoy ${[...inEnvoy]} = agent ${agentSerials.at(-1)}`);
  const secrets = await envoySecrets(fe.envoy!);
  assert.doesNotMatch(JSON.stringify(secrets.map((s) => s.privateKey)), /PRIVATE KEY/);

  // meshd authenticated the stream with the agent's client certificate (mTLS), ...
  const auth = meshd.logLines().filter((l) => l.msg === 'xds: stream authenticated');
  assert.ok(auth.some((l) => l.identity === 'production/frontend' && l.method === 'client-certificate'), JSON.stringify(auth));
  // ... signed the agent's CSR, and never generated a key for that proxy: it holds
  // server-side certificates for backend only, and sends frontend no Secret.
  const metrics = await (await meshd.admin('/metrics')).text();
  assert.ok(metric(metrics, 'meshd_ca_csr_total') >= 1, 'the agent used the CSR API');
  const held = metrics.split('\n').filter((l) => l.startsWith('meshd_ca_workload_cert_expiry_timestamp_seconds{'));
  assert.equal(held.length, 1, `meshd holds one server-side key (backend's): ${held.join(' | ')}`);
  const syncz = JSON.stringify(await meshd.adminJson('/debug/syncz'));
  const feId = syncz.match(/sidecar~[^"]*~frontend\.production~[^"]*/)?.[0];
  assert.ok(feId);
  const feDump = await meshd.adminJson<{ identity?: { serviceAccount: string }; resources: Record<string, unknown[]> }>(`/debug/config_dump?proxy=${encodeURIComponent(feId)}`);
  assert.equal(feDump.identity?.serviceAccount, 'frontend');
  assert.equal(Object.keys(feDump.resources).filter((k) => k.endsWith('Secret')).length, 0, `no Secret for the agent's proxy: ${Object.keys(feDump.resources).join(',')}`);
  assert.ok(JSON.stringify(feDump.resources).includes('sds-grpc'), 'its TLS contexts point at the agent');
  // The agent stops cleanly and removes its socket.
  await fe.agent!.stop();
  assert.equal(fe.agent!.process.exitCode, 0);
  assert.match(fe.agent!.log(), /SIGTERM: stopping/);
  const { existsSync } = await import('node:fs');
  assert.ok(!existsSync(fe.agent!.socket), 'socket removed');
});

function meshctl(args: string[], env: Record<string, string>): { code: number; out: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

test('root rotation under load (introduce → 2-root bundle everywhere → activate → re-issued → retire): 0 failed requests', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend', agent: true }, { name: 'backend' }, { name: 'late' }]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  const meshd = mesh.meshd!;
  // meshctl finds meshd's admin token in the state dir, as an operator's does.
  const env = { MESHD_ADDR: `http://127.0.0.1:${meshd.adminPort}`, MESHD_STATE_DIR: mesh.stateDir };
  // 'late' joins after the rotation; start the other two now.
  for (const name of ['frontend', 'backend']) {
    const w = mesh.get(name);
    w.app = await startEchoApp(name, w.appAddress, w.port);
    if (w.spec.agent) {
      const a = await mesh.startAgent(name, ['--bundle-refresh', '2s']);
      w.envoy = await startEnvoy(name, mesh.bootstrap(name, { agentSocket: a.socket }));
    } else w.envoy = await startEnvoy(name, mesh.bootstrap(name));
  }
  await mesh.waitForCall('frontend', 'backend');
  await mesh.waitForCall('backend', 'frontend');
  const envoys = (): [string, RunningEnvoy][] => [...mesh.workloads.values()].filter((w) => w.envoy).map((w) => [w.spec.name, w.envoy!]);
  const status = (): Promise<CaStatus> => meshd.adminJson<CaStatus>('/ca/status');
  const old = (await status()).roots[0]!;

  const loads = [
    steadyLoad(() => mesh.call('frontend', 'backend', { path: '/rotation' }), 10),
    steadyLoad(() => mesh.call('backend', 'frontend', { path: '/rotation' }), 10),
  ];
  const t0 = Date.now();
  const mark = (what: string): void => console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  await new Promise((r) => setTimeout(r, 1000));

  const intro = meshctl(['ca', 'rotate-root', '--step', 'introduce'], env);
  assert.equal(intro.code, 0, intro.out);
  assert.match(intro.out, /phase: +introduced/);
  const both = (await status()).roots;
  assert.equal(both.length, 2);
  const fresh = both[1]!;
  const bundle2 = new Set(both.map((r) => normSerial(r.serial)));
  await waitFor('every proxy trusts both roots', async () => {
    for (const [, e] of envoys()) { const s = await caSerials(e); if (s.size !== 2 || ![...bundle2].every((x) => s.has(x))) return false; }
    return true;
  }, 20000, 200);
  mark('every proxy has the 2-root bundle');
  // Not yet: nothing is signed by the new root before activation.
  for (const [name, e] of envoys()) assert.match((await envoySecrets(e)).find((s) => s.name === 'default')!.leaf!.issuer, /meshd root-1/, name);

  const act = meshctl(['ca', 'rotate-root', '--step', 'activate'], env);
  assert.equal(act.code, 0, act.out);
  await waitFor('every proxy re-issued under the new root', async () => {
    for (const [, e] of envoys()) {
      const d = (await envoySecrets(e)).find((s) => s.name === 'default');
      if (!d?.leaf || !/meshd root-2/.test(d.leaf.issuer)) return false;
    }
    return true;
  }, 30000, 200);
  mark('every proxy holds a certificate from the new root');

  const ret = meshctl(['ca', 'rotate-root', '--step', 'retire'], env);
  assert.equal(ret.code, 0, ret.out);
  assert.match(ret.out, /phase: +steady/);
  await waitFor('every proxy trusts only the new root', async () => {
    for (const [, e] of envoys()) { const s = await caSerials(e); if (s.size !== 1 || !s.has(normSerial(fresh.serial))) return false; }
    return true;
  }, 20000, 200);
  mark('old root retired everywhere');
  const csrBefore = metric(await (await meshd.admin('/metrics')).text(), 'meshd_ca_csr_total');
  await new Promise((r) => setTimeout(r, 3000));
  const results = await Promise.all(loads.map((l) => l.stop()));
  mark(`load: ${results.map((r) => `sent ${r.sent} ok ${r.ok} failed ${r.failed}`).join('; ')}`);
  for (const r of results) {
    assert.equal(r.failed, 0, `failed requests during rotation: ${r.failures.join('; ')}`);
    assert.ok(r.ok > 50);
  }
  // The agent still reaches meshd (whose server certificate moved to the new root).
  const csrAfter = metric(await (await meshd.admin('/metrics')).text(), 'meshd_ca_csr_total');
  assert.ok(csrAfter > csrBefore, `agent keeps talking to meshd after retire: CSRs ${csrBefore} → ${csrAfter}`);
  assert.doesNotMatch(mesh.get('frontend').agent!.log(), /retrying/, 'no failed CSR calls');

  // New handshakes under the new root only: a sidecar that joins now talks to both.
  const late = mesh.get('late');
  late.app = await startEchoApp('late', late.appAddress, late.port);
  late.envoy = await startEnvoy('late', mesh.bootstrap('late'));
  await mesh.waitForCall('late', 'frontend');
  await mesh.waitForCall('late', 'backend');
  await mesh.waitForCall('frontend', 'late');
  for (const [name, e] of envoys()) {
    const st = await e.stats('ssl');
    assert.equal(statSum(st, 'ssl.fail_verify') + statSum(st, 'ssl.connection_error'), 0, `${name}: no TLS verification failures: ${[...st].filter(([k, v]) => v > 0 && /fail|error/.test(k)).join(' ')}`);
  }
  const final = await status();
  assert.equal(final.phase, 'steady');
  assert.deepEqual(final.roots.map((r) => r.sha256), [fresh.sha256]);
  assert.notEqual(fresh.sha256, old.sha256);
});

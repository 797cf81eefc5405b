/**
 * The admin port lets no one in: every registered route walked as an anonymous client and
 * with wrong credentials (a workload's join token, a random token), on loopback, exposed
 * (--listen-address 0.0.0.0) and exposed with --admin-open; the root rotation refused without
 * the admin token (401 saying what to present), with a wrong one (403), cross-site or with a
 * non-JSON body even with the right token; nothing changed, every refusal counted, the token
 * never logged; meshctl finds the token in the state dir by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { walkAdminRoutes } from '../helpers/admin-walk.js';
import { metricSum } from '../../src/cli/check-command.js';

function meshctl(args: readonly string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** Everything a write could change: the CA's state and files, the state dir, the config. */
function stateOf(mesh: MeshFixture, m: RunningMeshd): () => Promise<string> {
  return async () => {
    const files = (dir: string): string[] => readdirSync(dir).sort().flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)).map((x) => `${f}/${x}`) : [`${f}:${statSync(join(dir, f)).size}`]));
    const ca = await (await fetch(`http://127.0.0.1:${m.adminPort}/ca/status`, { headers: { authorization: `Bearer ${adminToken(mesh)}` } })).text();
    return JSON.stringify({ ca, state: files(mesh.stateDir), config: files(mesh.configDir) });
  };
}

const adminToken = (mesh: MeshFixture): string => readFileSync(join(mesh.stateDir, 'admin-token'), 'utf8').trim();

async function rotate(m: RunningMeshd, headers: Record<string, string>, body = '{}'): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${m.adminPort}/ca/rotate-root?step=introduce`, { method: 'POST', headers, body });
  return { status: r.status, text: await r.text() };
}

test('loopback: every route walked anonymously and with wrong credentials; root rotation needs the admin token', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  const m = await mesh.startMeshd();
  const token = adminToken(mesh);
  assert.equal(statSync(join(mesh.stateDir, 'admin-token')).mode & 0o777, 0o600, 'admin token file is 0600');
  const wrongTokens = [mesh.token('production', 'frontend'), 'A'.repeat(43)];
  const walk = await walkAdminRoutes({ base: `http://127.0.0.1:${m.adminPort}`, readsClosed: false, wrongTokens, state: stateOf(mesh, m) });
  console.log(`# loopback walk: ${walk.routes} routes, ${walk.requests} requests`);

  const json = { 'content-type': 'application/json' };
  const anon = await rotate(m, json);
  assert.equal(anon.status, 401);
  assert.match(anon.text, /needs a credential.*Authorization: Bearer <token>.*admin-token/);
  assert.equal((await rotate(m, { ...json, authorization: `Bearer ${wrongTokens[0]}` })).status, 403);
  // Cross-site simple requests are refused before authentication, even with the right token.
  const good = { authorization: `Bearer ${token}` };
  assert.equal((await rotate(m, { ...good, 'content-type': 'text/plain', origin: 'http://evil.example' })).status, 403);
  assert.equal((await rotate(m, { ...good, ...json, origin: 'http://evil.example' })).status, 403);
  assert.equal((await rotate(m, { ...good, ...json, 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal((await rotate(m, { ...good, 'content-type': 'text/plain' })).status, 415);
  assert.equal((await rotate(m, { ...good, 'content-type': 'application/x-www-form-urlencoded' }, 'a=b')).status, 415);
  assert.equal((await m.adminJson<{ phase: string }>('/ca/status')).phase, 'steady', 'nothing changed');
  const metrics = await (await m.admin('/metrics')).text();
  for (const reason of ['no-credential', 'bad-credential', 'cross-origin', 'content-type']) {
    assert.ok(metricSum(metrics, `meshd_admin_requests_refused_total{reason="${reason}"}`) >= 1, `refusals counted: ${reason}`);
  }
  // The right token, same origin, JSON: the step runs.
  const ok = await rotate(m, { ...good, ...json, origin: `http://127.0.0.1:${m.adminPort}` });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await m.adminJson<{ phase: string }>('/ca/status')).phase, 'introduced');

  // meshctl reads the token from --state-dir by itself; without it, one line saying what to present.
  const env = { MESHD_ADDR: `http://127.0.0.1:${m.adminPort}` };
  const act = meshctl(['ca', 'rotate-root', '--step', 'activate', '--state-dir', mesh.stateDir], env);
  assert.equal(act.status, 0, act.stderr);
  const none = meshctl(['ca', 'rotate-root', '--step', 'retire', '--state-dir', join(mesh.dir, 'nowhere')], env);
  assert.equal(none.status, 1);
  assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
  assert.match(none.stderr, /401.*admin-token/);
  assert.equal((await m.adminJson<{ phase: string }>('/ca/status')).phase, 'activated');
  assert.ok(!m.log().includes(token), 'the admin token is never logged');
  assert.ok(m.logLines().some((l) => l.msg === 'admin: token minted' && l.path === join(mesh.stateDir, 'admin-token')));
});

test('--listen-address 0.0.0.0: a warning at start; debug views closed without a credential; --admin-open opens reads only', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }]);
  t.after(() => mesh.close());
  const m = await mesh.startMeshd(['--listen-address', '0.0.0.0']);
  const warn = m.logLines().find((l) => l.msg === 'admin: --listen-address is not loopback: the admin port is reachable from the network');
  assert.ok(warn && warn.level === 'warn', 'warned at start');
  const walk = await walkAdminRoutes({ base: `http://127.0.0.1:${m.adminPort}`, readsClosed: true, wrongTokens: [mesh.token('production', 'frontend'), 'B'.repeat(43)], state: stateOf(mesh, m) });
  console.log(`# exposed walk: ${walk.routes} routes, ${walk.requests} requests`);
  const dump = await fetch(`http://127.0.0.1:${m.adminPort}/debug/syncz`, { headers: { authorization: `Bearer ${adminToken(mesh)}` } });
  assert.equal(dump.status, 200, 'the admin token opens the debug views');
  const cli = meshctl(['proxy-status', '--meshd', `http://127.0.0.1:${m.adminPort}`, '--state-dir', mesh.stateDir]);
  assert.equal(cli.status, 0, cli.stderr);
  await m.stop();

  const open = await mesh.startMeshd(['--listen-address', '0.0.0.0', '--admin-open']);
  const walk2 = await walkAdminRoutes({ base: `http://127.0.0.1:${open.adminPort}`, readsClosed: false, wrongTokens: ['C'.repeat(43)], state: stateOf(mesh, open) });
  assert.equal(walk2.routes, walk.routes);
});

/**
 * `npm run demo` with bad input: a port already taken, a missing Envoy, an Envoy that will
 * not start, a broken file in the config folder. Each gives a message that says what to do,
 * exit code 1, and no process of the demo left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, loopbackPlan } from '../../src/demo/topology.js';
import { prepareConfigFolder } from '../../src/demo/run.js';

const OCTET = 190 + (process.pid % 25);

function runDemo(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'demo', 'main.js'), '--dir', dir, '--loopback-octet', String(OCTET),
    '--xds-port', '0', '--secure-xds-port', '0', ...args], { encoding: 'utf8', timeout: 90000, env: { ...process.env, ...env } });
}

/** Processes whose command line mentions `needle` (the test's own folder). */
function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) found.push(`${pid}: ${cmd}`);
    } catch { /* gone */ }
  }
  return found;
}

function listen(port: number, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, host, () => resolve(s));
  });
}

test('a port already taken: says which, how to find the holder and how to move; nothing started', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-bad-'));
  const taken = await listen(0);
  t.after(() => { taken.close(); rmSync(dir, { recursive: true, force: true }); });
  const port = (taken.address() as { port: number }).port;
  const r = runDemo(dir, ['--admin-port', String(port)]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port} \\(meshd admin, --admin-port\\) is already in use`));
  assert.match(r.stderr, /ss -ltnp/);
  assert.match(r.stderr, /npm run demo -- --admin-port 25014/);
  assert.match(r.stderr, /Nothing was started/);
  assert.deepEqual(processesMentioning(dir), []);
});

test('a workload address already taken (another demo running) is found before anything starts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-bad-'));
  const backendApp = loopbackPlan(OCTET).workloads.backend!.appAddress;
  const taken = await listen(8080, backendApp);
  t.after(() => { taken.close(); rmSync(dir, { recursive: true, force: true }); });
  const r = runDemo(dir, ['--admin-port', '0']);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`${backendApp.replace(/\./g, '\\.')}:8080 \\(backend app\\) is already in use`));
  assert.deepEqual(processesMentioning(dir), []);
});

test('a missing Envoy: says how to install it; nothing started', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = runDemo(dir, ['--admin-port', '0'], { MESH_ENVOY_BIN: join(dir, 'no-envoy'), MESH_CACHE_DIR: join(dir, 'empty-cache') });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /Envoy 1\.40\.0 was not found/);
  assert.match(r.stderr, /bash scripts\/ensure-envoy\.sh/);
  assert.match(r.stderr, /MESH_ENVOY_BIN/);
  assert.deepEqual(processesMentioning(dir), []);
});

test('an Envoy that dies at start: its output is shown and meshd, already running, is stopped', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'broken-envoy');
  writeFileSync(fake, '#!/bin/sh\necho "envoy: cannot allocate the shared memory region" >&2\nexit 1\n');
  chmodSync(fake, 0o755);
  const r = runDemo(dir, ['--admin-port', '0'], { MESH_ENVOY_BIN: fake });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /backend-envoy exited while starting/);
  assert.match(r.stderr, /cannot allocate the shared memory region/);
  assert.deepEqual(processesMentioning(dir), []);
});

test('a broken file in the config folder: names the file and line, says how to fix or reset; nothing started', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  prepareConfigFolder(join(dir, 'mesh'), loopbackPlan(OCTET), false);
  writeFileSync(join(dir, 'mesh', '30-security.yaml'), 'apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: production\nspec: {mtls: {mode: STRICT}}\n');
  const r = runDemo(dir, ['--admin-port', '0']);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /config folder .* has 1 error/);
  assert.match(r.stderr, /30-security\.yaml/);
  assert.match(r.stderr, /line \d+/);
  assert.match(r.stderr, /npm run demo -- --reset/);
  assert.deepEqual(processesMentioning(dir), []);
  // --reset rewrites the folder from the topology, so the same check then passes.
  prepareConfigFolder(join(dir, 'mesh'), loopbackPlan(OCTET), true);
  assert.match(readFileSync(join(dir, 'mesh', '30-security.yaml'), 'utf8'), /mode: STRICT/);
});

/**
 * Acceptance for the local mesh: the demo topology, started through the same `startDemo` as
 * `npm run demo` (free meshd ports, loopback addresses of its own), with real Envoys, asserted
 * through `meshctl edges` against meshd's live telemetry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo, type RunningDemo } from '../../src/demo/run.js';
import type { CallEvent } from '../../src/demo/app.js';
import { REPO_ROOT } from '../../src/demo/topology.js';
import { waitFor } from '../helpers/ports.js';

interface EdgeJson { src: string; dst: string; srcNamespace: string; dstNamespace: string; clientId: string; serverId: string; secured: boolean; denied: number }

function meshctl(demo: RunningDemo, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', env: { ...process.env, MESHD_ADDR: demo.meshdUrl } });
}

function edges(demo: RunningDemo): EdgeJson[] {
  const r = meshctl(demo, 'edges', '-n', 'production', '-o', 'json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as EdgeJson[];
}

/** Resolves with the next call from `from` that satisfies `ok` (calls keep coming every 1-2 s). */
function nextCall(demo: RunningDemo, from: string, ok: (e: CallEvent) => boolean, timeoutMs = 20000): Promise<CallEvent> {
  return new Promise((resolve, reject) => {
    let last: CallEvent | undefined;
    const t = setTimeout(() => { done = true; reject(new Error(`no matching call from ${from} in ${timeoutMs} ms; last: ${JSON.stringify(last)}`)); }, timeoutMs);
    let done = false;
    demo.onCall((e) => {
      if (done || e.from !== from) return;
      last = e;
      if (ok(e)) { done = true; clearTimeout(t); resolve(e); }
    });
  });
}

function editFile(path: string, from: string | RegExp, to: string): void {
  const before = readFileSync(path, 'utf8');
  const after = before.replace(from, to);
  assert.notEqual(after, before, `edit of ${path} changed nothing`);
  writeFileSync(path, after);
}

test('demo mesh: frontend → backend over mTLS, legacy client refused under STRICT and plaintext under PERMISSIVE, policy edits apply live', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-'));
  const demo = await startDemo({
    dir, xdsPort: 0, secureXdsPort: 0, adminPort: 0, fixedEnvoyAdminPorts: false,
    octet: 220 + (process.pid % 30), meshdArgs: ['--debounce-quiet', '20ms', '--debounce-max', '200ms'],
  });
  let stopped = false;
  t.after(async () => { if (!stopped) await demo.stop(); rmSync(dir, { recursive: true, force: true }); });
  const meshdPid = demo.meshd.pid;
  const security = join(demo.configDir, '30-security.yaml');

  // frontend → backend: 200 through both sidecars, backend sees frontend's SPIFFE id.
  const ok = await nextCall(demo, 'frontend', (e) => e.status === 200);
  assert.equal(ok.callerId, 'spiffe://cluster.local/ns/production/sa/frontend');
  const secured = await waitFor('frontend → backend edge', () => edges(demo).find((e) => e.src === 'frontend' && e.dst === 'backend'), 20000, 300);
  assert.deepEqual(secured, {
    src: 'frontend', dst: 'backend', srcNamespace: 'production', dstNamespace: 'production',
    clientId: 'spiffe://cluster.local/ns/production/sa/frontend', serverId: 'spiffe://cluster.local/ns/production/sa/backend',
    secured: true, denied: 0,
  });

  // STRICT (the seed's policy): the legacy client cannot even connect, and no plaintext edge appears.
  const refused = await nextCall(demo, 'legacy-client', (e) => e.error !== undefined);
  assert.ok(['ECONNRESET', 'EPIPE'].includes(refused.error!), `refused with ${refused.error}`);
  assert.ok(!edges(demo).some((e) => e.src === 'legacy-client' && !e.secured), 'no plaintext edge under STRICT');

  // PERMISSIVE: the legacy client gets in, and the edge says plaintext.
  editFile(security, 'mode: STRICT', 'mode: PERMISSIVE');
  const accepted = await nextCall(demo, 'legacy-client', (e) => e.status === 200);
  assert.equal(accepted.callerId, undefined);
  const plain = await waitFor('legacy-client → backend plaintext edge', () => edges(demo).find((e) => e.src === 'legacy-client' && e.dst === 'backend'), 20000, 300);
  assert.equal(plain.secured, false);
  assert.equal(plain.clientId, '');
  assert.equal(plain.serverId, 'spiffe://cluster.local/ns/production/sa/backend');
  const table = meshctl(demo, 'edges', '-n', 'production');
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^SRC\s+DST\s+SRC_NS\s+DST_NS\s+CLIENT_ID\s+SERVER_ID\s+SECURED\s+DENIED$/m);
  assert.match(table.stdout, /^frontend\s+backend\s+production\s+production\s+spiffe:\S+\/sa\/frontend\s+spiffe:\S+\/sa\/backend\s+√ \(mTLS\)\s+0$/m);
  assert.match(table.stdout, /^legacy-client\s+backend\s+production\s+production\s+-\s+spiffe:\S+\/sa\/backend\s+plaintext\s+0$/m);

  // A policy edit in the folder: backend-access now allows POST only, so frontend's GETs are denied...
  editFile(security, 'methods: ["GET", "POST"]', 'methods: ["POST"]');
  await nextCall(demo, 'frontend', (e) => e.status === 403);
  await waitFor('denials counted on the edge', () => edges(demo).find((e) => e.src === 'frontend' && e.dst === 'backend' && e.denied > 0), 20000, 300);
  // ...and back, and STRICT again: the legacy client is refused once more.
  editFile(security, 'methods: ["POST"]', 'methods: ["GET", "POST"]');
  editFile(security, 'mode: PERMISSIVE', 'mode: STRICT');
  await nextCall(demo, 'frontend', (e) => e.status === 200);
  await nextCall(demo, 'legacy-client', (e) => e.error !== undefined);
  assert.equal(demo.meshd.pid, meshdPid);
  assert.ok(!demo.meshd.exited(), 'meshd was never restarted');

  // Stopping leaves nothing running.
  const pids = demo.pids();
  assert.equal(pids.length, 10, 'meshd, 4 Envoys (frontend, backend, reviews v1 and v2), 5 apps');
  await demo.stop();
  stopped = true;
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `process ${pid} is gone`);
});

/**
 * docker-compose.yml for real: the images built here (scripts/build-images.sh), the compose
 * file and its folder as committed (copied, so the policy edit does not touch the repository),
 * the local Envoy tag through docker-compose.override.yml, on a Docker engine started by the
 * test bed. The checks are the process demo's (test/e2e/demo.test.ts): frontend → backend over
 * mTLS with both SPIFFE ids, the legacy client refused under STRICT and plaintext under
 * PERMISSIVE, a policy edit in the mounted folder applied without a restart, `meshctl edges`
 * against the containerised meshd; the reviews canary (90/10, shifted to 0/100 by an edit of
 * the mounted VirtualService) counted from inside frontend's container through its sidecar;
 * then `docker-compose down` leaves nothing behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallEvent } from '../../src/demo/app.js';
import { MESHD_COMPOSE_ADDRESS, MESHD_PORTS, composeOverride, writeComposeFiles } from '../../src/demo/compose.js';
import { CANARY_FILE, REPO_ROOT, composePlan, demoWorkload, serviceTarget } from '../../src/demo/topology.js';
import { composeProject, dockerWithImages, type ComposeProject, type DockerEngine } from '../helpers/docker.js';
import { waitFor } from '../helpers/ports.js';

interface EdgeJson { src: string; dst: string; clientId: string; serverId: string; secured: boolean; denied: number }
const MESHD_URL = `http://${MESHD_COMPOSE_ADDRESS}:${MESHD_PORTS.admin}`;

let engine: DockerEngine | undefined;
after(() => engine?.down());

/** `meshctl edges` on this host against the containerised meshd (its address on the internal network). */
function edges(): EdgeJson[] {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'edges', '-n', 'production', '-o', 'json'], { encoding: 'utf8', env: { ...process.env, MESHD_ADDR: MESHD_URL } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as EdgeJson[];
}

function calls(p: ComposeProject): { next(from: string, ok: (e: CallEvent) => boolean, timeoutMs?: number): Promise<CallEvent>; stop(): void } {
  const waiters = new Set<(e: CallEvent) => void>();
  const stop = p.follow(['frontend', 'legacy-client'], (line) => {
    if (!line.startsWith('{')) return;
    let e: CallEvent;
    try { e = JSON.parse(line) as CallEvent; } catch { return; }
    if (e.event === 'call') for (const w of [...waiters]) w(e);
  });
  return {
    stop,
    // Only calls made from now on count: `logs -f` replays the past first, so a waiter also
    // needs the event to be new (its arrival after the waiter, with a fresh call counter).
    next: (from, ok, timeoutMs = 60_000) => new Promise((resolve, reject) => {
      let last: CallEvent | undefined;
      let seen = 0;
      const skip = 3; // the replayed tail and calls in flight during an edit
      const w = (e: CallEvent): void => {
        if (e.from !== from) return;
        last = e;
        if (++seen <= skip || !ok(e)) return;
        waiters.delete(w); clearTimeout(t); resolve(e);
      };
      const t = setTimeout(() => { waiters.delete(w); reject(new Error(`no matching call from ${from} in ${timeoutMs} ms; last: ${JSON.stringify(last)}`)); }, timeoutMs);
      waiters.add(w);
    }),
  };
}

/** `n` GETs to reviews from inside frontend's container, through its sidecar, counted by the app that answered. */
function reviewsFromFrontend(p: ComposeProject, n: number): { byApp: Record<string, number>; failed: number } {
  const t = serviceTarget(composePlan(), demoWorkload('frontend'), 'reviews');
  const script = `const http = require('node:http'); const byApp = {}; let failed = 0;
const one = () => new Promise((done) => {
  const q = http.get({ host: '${t.host}', port: ${t.port}, path: '/reviews/1', agent: false, timeout: 5000, headers: { host: '${t.hostHeader}' } }, (res) => {
    let b = ''; res.on('data', (c) => { b += c; });
    res.on('end', () => { let a; try { a = JSON.parse(b).app; } catch {} if (res.statusCode === 200 && a) byApp[a] = (byApp[a] || 0) + 1; else failed++; done(); });
  });
  q.on('timeout', () => q.destroy(new Error('timeout'))); q.on('error', () => { failed++; done(); });
});
(async () => { for (let i = 0; i < ${n}; i++) await one(); console.log(JSON.stringify({ byApp, failed })); })();`;
  const r = p.run(['exec', '-T', 'frontend', 'node', '-e', script], 120_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { byApp: Record<string, number>; failed: number };
}

function editFile(path: string, from: string, to: string): void {
  const before = readFileSync(path, 'utf8');
  const next = before.replace(from, to);
  assert.notEqual(next, before, `edit of ${path} changed nothing`);
  writeFileSync(path, next);
}

test('docker-compose up: the compose mesh on a real engine, same checks as the process demo; down leaves nothing', { timeout: 1_800_000 }, async (t) => {
  engine = dockerWithImages();
  const dir = mkdtempSync(join(tmpdir(), 'meshd-compose-'));
  writeComposeFiles(dir);
  writeFileSync(join(dir, 'docker-compose.override.yml'), composeOverride('meshd/envoy:v1.40.0'));
  const p = composeProject(engine, dir, `meshde2e${process.pid}`);
  let down = false;
  t.after(() => { if (!down) p.run(['down', '-v', '--remove-orphans']); rmSync(dir, { recursive: true, force: true }); });

  const up = p.run(['up', '-d', '--no-build']);
  assert.equal(up.code, 0, `docker-compose up failed:\n${up.stderr}`);
  const meshdId = p.run(['ps', '-q', 'meshd']).stdout.trim();
  assert.ok(meshdId, 'meshd container');
  const c = calls(p);
  t.after(() => c.stop());
  const security = join(dir, 'deploy', 'compose', 'mesh', '30-security.yaml');

  // frontend → backend: 200 through both sidecars; backend saw frontend's SPIFFE id.
  const ok = await c.next('frontend', (e) => e.status === 200);
  assert.equal(ok.callerId, 'spiffe://cluster.local/ns/production/sa/frontend');
  const secured = await waitFor('frontend → backend edge', () => edges().find((e) => e.src === 'frontend' && e.dst === 'backend'), 30_000, 500);
  assert.equal(secured.clientId, 'spiffe://cluster.local/ns/production/sa/frontend');
  assert.equal(secured.serverId, 'spiffe://cluster.local/ns/production/sa/backend');
  assert.equal(secured.secured, true);

  // STRICT: the legacy client (no sidecar) cannot connect; no plaintext edge.
  const refused = await c.next('legacy-client', (e) => e.error !== undefined);
  assert.ok(['ECONNRESET', 'EPIPE'].includes(refused.error!), `refused with ${refused.error}`);
  assert.ok(!edges().some((e) => e.src === 'legacy-client' && !e.secured), 'no plaintext edge under STRICT');

  // PERMISSIVE, edited in the mounted folder: the legacy client gets in, in plaintext.
  editFile(security, 'mode: STRICT', 'mode: PERMISSIVE');
  const accepted = await c.next('legacy-client', (e) => e.status === 200);
  assert.equal(accepted.callerId, undefined);
  const plain = await waitFor('legacy-client → backend plaintext edge', () => edges().find((e) => e.src === 'legacy-client' && e.dst === 'backend'), 30_000, 500);
  assert.equal(plain.secured, false);
  assert.equal(plain.serverId, 'spiffe://cluster.local/ns/production/sa/backend');
  // The table, from meshctl inside the meshd container too.
  const table = p.run(['exec', '-T', 'meshd', 'meshctl', 'edges', '-n', 'production']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^frontend\s+backend\s+production\s+production\s+spiffe:\S+\/sa\/frontend\s+spiffe:\S+\/sa\/backend\s+√ \(mTLS\)\s+0$/m);
  assert.match(table.stdout, /^legacy-client\s+backend\s+production\s+production\s+-\s+spiffe:\S+\/sa\/backend\s+plaintext\s+0$/m);

  // An AuthorizationPolicy edit: GET no longer allowed, so frontend gets 403; then back.
  editFile(security, 'methods: ["GET", "POST"]', 'methods: ["POST"]');
  await c.next('frontend', (e) => e.status === 403);
  await waitFor('denials on the edge', () => edges().find((e) => e.src === 'frontend' && e.dst === 'backend' && e.denied > 0), 30_000, 500);
  editFile(security, 'methods: ["POST"]', 'methods: ["GET", "POST"]');
  editFile(security, 'mode: PERMISSIVE', 'mode: STRICT');
  await c.next('frontend', (e) => e.status === 200);
  await c.next('legacy-client', (e) => e.error !== undefined);
  // Applied without a restart: the same meshd container, never restarted.
  assert.equal(p.run(['ps', '-q', 'meshd']).stdout.trim(), meshdId);
  assert.equal(engine.docker(['inspect', '-f', '{{.RestartCount}} {{.State.StartedAt}}', meshdId]).stdout.split(' ')[0], '0');

  // The reviews canary: both versions answer at 90/10; an edit of the mounted file sends all to v2.
  await waitFor('reviews v1 and v2 answer through frontend\'s sidecar', () => {
    const r = reviewsFromFrontend(p, 40);
    return r.byApp['reviews-v1'] && r.byApp['reviews-v2'] ? true : undefined;
  }, 60_000, 1000);
  const split = reviewsFromFrontend(p, 200);
  assert.equal(split.failed, 0, JSON.stringify(split));
  const v2 = ((split.byApp['reviews-v2'] ?? 0) * 100) / 200;
  assert.ok(v2 >= 2 && v2 <= 18, `v2 got ${v2} % of 200 at 90/10 (want 10 ± 8): ${JSON.stringify(split)}`);
  const canary = join(dir, 'deploy', 'compose', 'mesh', CANARY_FILE);
  editFile(canary, 'weight: 90\n', 'weight: 0\n');
  editFile(canary, 'weight: 10\n', 'weight: 100\n');
  await waitFor('all of reviews on v2', () => (reviewsFromFrontend(p, 20).byApp['reviews-v1'] === undefined ? true : undefined), 60_000, 500);
  const shifted = reviewsFromFrontend(p, 100);
  assert.deepEqual(shifted, { byApp: { 'reviews-v2': 100 }, failed: 0 });
  assert.equal(p.run(['ps', '-q', 'meshd']).stdout.trim(), meshdId);

  c.stop();
  const d = p.run(['down', '-v', '--remove-orphans']);
  down = true;
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(p.leftovers(), { containers: [], networks: [], volumes: [] });
});

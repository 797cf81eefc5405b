/**
 * Traffic management in the demo: the process demo (the same `startDemo` as `npm run demo`)
 * runs reviews v1 and v2 behind one Service with a 90/10 VirtualService. Real requests through
 * frontend's Envoy: both versions answer, the split is about 90/10, an edit of the mesh file
 * to 0/100 (under traffic) moves everything to v2 without a failed request, and
 * `npm run demo:canary`'s program shifts it back. The seed's policies still hold for reviews:
 * mTLS with the reviews identity, and only frontend may call it. Bounds are loose: the
 * machine is shared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countReviews, readCanaryWeights, reviewsOnce, runCanary } from '../../src/demo/canary.js';
import { startDemo, type RunningDemo } from '../../src/demo/run.js';
import { CANARY_START, REPO_ROOT, demoWorkload, serviceTarget } from '../../src/demo/topology.js';
import { waitFor } from '../helpers/ports.js';

interface EdgeJson { src: string; dst: string; clientId: string; serverId: string; secured: boolean }

function edges(demo: RunningDemo): EdgeJson[] {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'edges', '-n', 'production', '-o', 'json'], { encoding: 'utf8', env: { ...process.env, MESHD_ADDR: demo.meshdUrl } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as EdgeJson[];
}

test('demo reviews canary: 90/10 through frontend\'s Envoy, shifted to 0/100 by a file edit under traffic with no failed request, and back with demo:canary', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-demo-canary-'));
  const octet = 190 + (process.pid % 30);
  const demo = await startDemo({
    dir, xdsPort: 0, secureXdsPort: 0, adminPort: 0, fixedEnvoyAdminPorts: false,
    octet, meshdArgs: ['--debounce-quiet', '20ms', '--debounce-max', '200ms'],
  });
  t.after(async () => { await demo.stop(); rmSync(dir, { recursive: true, force: true }); });
  const target = serviceTarget(demo.plan, demoWorkload('frontend'), 'reviews');
  const frontendAdmin = demo.workloads.find((w) => w.name === 'frontend')!.envoyAdmin!;
  assert.deepEqual(readCanaryWeights(demo.configDir), CANARY_START);

  // Both versions answer through frontend's sidecar (their clusters and endpoints arrived).
  await waitFor('reviews-v1 and reviews-v2 both answer', async () => {
    const c = await countReviews(target, 40);
    return c.byApp['reviews-v1'] && c.byApp['reviews-v2'] ? true : undefined;
  }, 30000, 200);

  // The canary and the shift, as npm run demo:canary does them.
  const lines: string[] = [];
  const run = await runCanary({ configDir: demo.configDir, frontendAdmin, target, requests: 200, to: { v1: 0, v2: 100 }, print: (l) => lines.push(l) });
  const report = lines.join('\n');
  assert.equal(run.before.failed, 0, report);
  assert.equal(run.before.total, 200);
  const v2 = ((run.before.byApp['reviews-v2'] ?? 0) * 100) / 200;
  assert.ok(v2 >= 2 && v2 <= 18, `v2 got ${v2} % of 200 requests at 90/10 (want 10 ± 8)\n${report}`);
  assert.equal((run.before.byApp['reviews-v1'] ?? 0) + (run.before.byApp['reviews-v2'] ?? 0), 200, report);
  assert.ok(run.during.total > 0, `traffic flowed during the shift\n${report}`);
  assert.equal(run.during.failed, 0, `no failed request during the shift\n${report}`);
  assert.deepEqual(run.after.byApp, { 'reviews-v2': 200 }, `after the shift everything goes to v2\n${report}`);
  assert.equal(run.after.failed, 0, report);
  assert.deepEqual(readCanaryWeights(demo.configDir), { v1: 0, v2: 100 });
  const diags = await (await fetch(`${demo.meshdUrl}/debug/diagnostics`)).json() as unknown[];
  assert.deepEqual(diags, [], 'the edited file is clean config');

  // The seed's policies apply to reviews: mTLS with reviews' identity; only frontend may call it.
  const edge = await waitFor('frontend → reviews-v2 edge', () => edges(demo).find((e) => e.src === 'frontend' && e.dst === 'reviews-v2'), 20000, 300);
  assert.equal(edge.secured, true);
  assert.equal(edge.clientId, 'spiffe://cluster.local/ns/production/sa/frontend');
  assert.equal(edge.serverId, 'spiffe://cluster.local/ns/production/sa/reviews');
  const fromBackend = await reviewsOnce(serviceTarget(demo.plan, demoWorkload('backend'), 'reviews'));
  assert.match(fromBackend.failure ?? '', /^403 /, `backend's sidecar is denied by reviews-access: ${JSON.stringify(fromBackend)}`);

  // The command users run, back to the canary: exit 0 means no failed request.
  const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'demo', 'canary-main.js'), '--dir', dir, '--loopback-octet', String(octet), '--to', '90/10', '--requests', '100'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(cli.status, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /^VirtualService reviews \(50-reviews-canary\.yaml\): v1 0, v2 100$/m);
  assert.match(cli.stdout, /^100 requests through frontend's sidecar .*:\n {2}reviews-v1 +0 +0\.0 %\n {2}reviews-v2 +100 +100\.0 %\n {2}failed +0$/m);
  assert.match(cli.stdout, /^frontend's Envoy had the new split \d+\.\d\d s after the save/m);
  assert.match(cli.stdout, /^no failed request \(\d+ in all\)$/m);
  assert.deepEqual(readCanaryWeights(demo.configDir), CANARY_START);
  const back = await countReviews(target, 200);
  assert.equal(back.failed, 0);
  assert.ok((back.byApp['reviews-v1'] ?? 0) >= 160, `back at 90/10: ${JSON.stringify(back.byApp)}`);

  // Against no demo at all, the command says so.
  const none = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'demo', 'canary-main.js'), '--dir', join(dir, 'nothing-here')], { encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no running demo with a reviews canary/);
});

/**
 * The dashboard end to end in headless Chromium, against a running demo mesh (real meshd,
 * real Envoys, the demo apps): it shows the workloads, the secured frontend → backend edge,
 * proxies SYNCED and a certificate countdown; its one state-changing button gets a 401
 * without the admin token and works with it. A screenshot is saved to test-results/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo } from '../../src/demo/run.js';
import { REPO_ROOT } from '../../src/demo/topology.js';
import { waitFor } from '../helpers/ports.js';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';

interface Edge { src: string; dst: string; secured: boolean }

test('dashboard: workloads, a secured edge, sync status and certificate countdown, live; a write needs the token', async (t) => {
  const missing = chromiumMissing();
  if (missing) {
    if (process.env.CI === 'true') assert.fail(missing);
    t.skip(missing);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dashboard-'));
  const demo = await startDemo({
    dir, xdsPort: 0, secureXdsPort: 0, adminPort: 0, fixedEnvoyAdminPorts: false,
    octet: 250 + (process.pid % 5), meshdArgs: ['--debounce-quiet', '20ms', '--debounce-max', '200ms'],
  });
  const browser = await launchChromium();
  t.after(async () => { await browser.close(); await demo.stop(); rmSync(dir, { recursive: true, force: true }); });
  await waitFor('frontend → backend edge in meshd', async () => {
    const edges = await (await fetch(`${demo.meshdUrl}/debug/edges`)).json() as Edge[];
    return edges.some((e) => e.src === 'frontend' && e.dst === 'backend' && e.secured);
  }, 30_000, 300);

  const page = await browser.context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('dialog', (d) => { void d.accept(); });
  await page.goto(`${demo.meshdUrl}/`);
  assert.match(page.url(), /\/dashboard\/$/);
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
  for (const w of ['production/frontend', 'production/backend', 'production/legacy-client', 'production/reviews-v1', 'production/reviews-v2']) {
    await page.waitForSelector(`#graph .node[data-id="${w}"]`, { timeout: 10_000 });
  }
  const edge = await page.waitForSelector('#graph .edge.mtls[data-from="production/frontend"][data-to="production/backend"]', { timeout: 15_000 });
  assert.match(await edge.textContent() ?? '', /mTLS/);
  const proxies = await page.$$eval('#proxies tbody tr', (rows) => rows.map((r) => r.textContent ?? ''));
  assert.equal(proxies.length, 4, `four sidecars: ${proxies.join(' | ')}`);
  for (const p of proxies) assert.match(p, /^(frontend|backend|reviews-v1|reviews-v2)\.production(SYNCED){5}$/);
  const certs = await page.$$eval('#certs tbody tr', (rows) => rows.map((r) => r.textContent ?? ''));
  assert.ok(certs.some((c) => c.includes('spiffe://cluster.local/ns/production/sa/backend') && /in 23h \d+m \d+s/.test(c)), `backend's certificate with a countdown: ${certs.join(' | ')}`);
  assert.ok(certs.some((c) => /root root-1 \(signs\)/.test(c)), 'the root is listed');
  const policies = await page.$$eval('#policies tbody tr', (rows) => rows.map((r) => r.textContent ?? ''));
  assert.ok(policies.some((p) => p.includes('production/backend-access') && p.includes('production/backend')), `policy with its workload: ${policies.join(' | ')}`);

  // Live: the countdown moves without a reload.
  const before = await page.$eval('#certs tbody tr td.countdown', (c) => c.textContent);
  await page.waitForFunction((b) => document.querySelector('#certs tbody tr td.countdown')?.textContent !== b, before, { timeout: 5000 });

  mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
  const shot = join(REPO_ROOT, 'test-results', 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`# screenshot: ${shot}`);

  // The one write the dashboard can do: without the token, 401 and nothing changes.
  await page.click('#rotate');
  await page.waitForFunction(() => /401/.test(document.querySelector('#rotate-result')?.textContent ?? ''), undefined, { timeout: 5000 });
  assert.equal((await (await fetch(`${demo.meshdUrl}/ca/status`)).json() as { phase: string }).phase, 'steady');
  // With the admin token from the demo's state dir, the step runs.
  await page.fill('#token', readFileSync(join(dir, 'state', 'admin-token'), 'utf8').trim());
  await page.click('#token-form button');
  await page.click('#rotate');
  await page.waitForFunction(() => /introduce: done/.test(document.querySelector('#rotate-result')?.textContent ?? ''), undefined, { timeout: 5000 });
  assert.equal((await (await fetch(`${demo.meshdUrl}/ca/status`)).json() as { phase: string }).phase, 'introduced');
  assert.deepEqual(consoleErrors.filter((e) => !/401|Unauthorized/.test(e)), [], 'no script errors');
});

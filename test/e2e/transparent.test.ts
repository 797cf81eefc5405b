/**
 * Acceptance for `npm run demo -- --transparent`: each workload in a network namespace of its
 * own, Istio-style iptables redirection, real Envoys as uid 1337. Apps call ClusterIPs that
 * exist on no interface; only the redirect and the sidecars make those calls work. This test
 * needs root, `ip netns` and iptables (scripts/netns-prereqs.sh installs iptables): where they
 * are missing it fails and says why; it never skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallEvent } from '../../src/demo/app.js';
import { DemoError } from '../../src/demo/checks.js';
import { REPO_ROOT } from '../../src/demo/topology.js';
import { createNetwork, findLeftovers, isClean, netnsFetch, transparentUnavailable } from '../../src/demo/transparent-netns.js';
import { netnsPlan } from '../../src/demo/transparent-plan.js';
import { startTransparentDemo, type RunningTransparentDemo } from '../../src/demo/transparent-run.js';
import { waitFor } from '../helpers/ports.js';

const execFileAsync = promisify(execFile);

interface EdgeJson { src: string; dst: string; clientId: string; serverId: string; secured: boolean; denied: number }

// Octets of their own (names meshd-N-*, addresses 10.250.N.x): never the user's demo (0).
const OCTET = 100 + (process.pid % 50);

function requireTransparent(octet: number): void {
  const pre = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'netns-prereqs.sh')], { encoding: 'utf8' });
  assert.equal(pre.status, 0, `scripts/netns-prereqs.sh failed, so transparent mode cannot be tested here:\n${pre.stdout}${pre.stderr}`);
  const why = transparentUnavailable(octet);
  assert.equal(why, undefined, `transparent mode cannot run on this machine: ${why}`);
}

/** `meshctl edges` through the demo's 127.0.0.1 forward (async: the forward lives in this process). */
async function edges(demo: RunningTransparentDemo): Promise<EdgeJson[]> {
  const r = await execFileAsync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'edges', '-n', 'production', '-o', 'json'], { encoding: 'utf8', env: { ...process.env, MESHD_ADDR: demo.meshdUrl, MESHD_STATE_DIR: join(demo.dir, 'state') } });
  return JSON.parse(r.stdout) as EdgeJson[];
}

function nextCall(demo: RunningTransparentDemo, from: string, ok: (e: CallEvent) => boolean, timeoutMs = 20000): Promise<CallEvent> {
  return new Promise((resolve, reject) => {
    let last: CallEvent | undefined;
    let done = false;
    const t = setTimeout(() => { done = true; reject(new Error(`no matching call from ${from} in ${timeoutMs} ms; last: ${JSON.stringify(last)}`)); }, timeoutMs);
    demo.onCall((e) => {
      if (done || e.from !== from) return;
      last = e;
      if (ok(e)) { done = true; clearTimeout(t); resolve(e); }
    });
  });
}

async function envoyStat(ns: string, name: string): Promise<number> {
  const r = await netnsFetch(ns, 'http://127.0.0.1:15000/stats');
  const m = new RegExp(`^${name.replace(/[.|]/g, '\\$&')}: (\\d+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : -1;
}

function assertGone(pids: readonly number[], octet: number): void {
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `process ${pid} is gone`);
  const left = findLeftovers(netnsPlan(octet));
  assert.ok(isClean(left), `nothing of the network is left: ${JSON.stringify(left)}`);
}

test('transparent demo: frontend → backend ClusterIP through both sidecars with mTLS; legacy client refused under STRICT, plaintext under PERMISSIVE; all removed', async (t) => {
  requireTransparent(OCTET);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-transparent-'));
  const started = Date.now();
  const demo = await startTransparentDemo({
    dir, xdsPort: 0, secureXdsPort: 0, adminPort: 0, octet: OCTET, meshdArgs: ['--debounce-quiet', '20ms', '--debounce-max', '200ms'],
  });
  const startMs = Date.now() - started;
  let stopped = false;
  t.after(async () => { if (!stopped) await demo.stop(); rmSync(dir, { recursive: true, force: true }); });
  const fe = demo.network.workloads.find((w) => w.name === 'frontend')!;
  const be = demo.network.workloads.find((w) => w.name === 'backend')!;

  // The sidecars run as the proxy user, inside their namespaces.
  for (const w of demo.workloads.filter((x) => x.envoy)) {
    const status = readFileSync(`/proc/${w.envoy!.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+1337\s/m, `${w.name}'s Envoy runs as uid 1337`);
    const ns = spawnSync('ip', ['netns', 'identify', String(w.envoy!.pid)], { encoding: 'utf8' }).stdout.trim();
    assert.equal(ns, demo.network.workloads.find((x) => x.name === w.name)!.netns);
  }

  // frontend's app calls backend's ClusterIP (on no interface): the redirect and both sidecars make it work, with mTLS.
  const ok = await nextCall(demo, 'frontend', (e) => e.status === 200);
  assert.equal(ok.callerId, 'spiffe://cluster.local/ns/production/sa/frontend');
  // 0.0.0.0_8080 does not bind: only virtualOutbound's original-destination hand-off reaches it.
  assert.ok(await envoyStat(fe.netns, 'listener.0.0.0.0_8080.downstream_cx_total') > 0, 'frontend\'s app was redirected to virtualOutbound, then 0.0.0.0_8080');
  assert.ok(await envoyStat(fe.netns, 'cluster.outbound|8080||backend.production.svc.cluster.local.ssl.handshake') > 0, 'frontend\'s sidecar originated mTLS');
  const counters = spawnSync('ip', ['netns', 'exec', fe.netns, 'iptables', '-t', 'nat', '-L', 'MESHD_OUTPUT', '-n', '-v', '-x'], { encoding: 'utf8' }).stdout;
  const redirected = /^\s*(\d+)\s+\d+\s+REDIRECT\b.*redir ports 15001/m.exec(counters);
  assert.ok(redirected && Number(redirected[1]) > 0, `the nat rule redirected frontend's calls:\n${counters}`);
  assert.ok(await envoyStat(be.netns, 'listener.0.0.0.0_15006.ssl.handshake') > 0, 'backend\'s virtualInbound terminated mTLS');
  const secured = await waitFor('frontend → backend edge', async () => (await edges(demo)).find((e) => e.src === 'frontend' && e.dst === 'backend'), 20000, 300);
  assert.equal(secured.secured, true);
  assert.equal(secured.serverId, 'spiffe://cluster.local/ns/production/sa/backend');

  // STRICT: the legacy client (no sidecar, no redirect) calls backend's address in plaintext and is refused.
  const refused = await nextCall(demo, 'legacy-client', (e) => e.error !== undefined);
  assert.ok(['ECONNRESET', 'EPIPE'].includes(refused.error!), `refused with ${refused.error}`);

  // PERMISSIVE: accepted, and shown as plaintext.
  const security = join(demo.configDir, '30-security.yaml');
  writeFileSync(security, readFileSync(security, 'utf8').replace('mode: STRICT', 'mode: PERMISSIVE'));
  const accepted = await nextCall(demo, 'legacy-client', (e) => e.status === 200);
  assert.equal(accepted.callerId, undefined);
  const plain = await waitFor('legacy-client → backend plaintext edge', async () => (await edges(demo)).find((e) => e.src === 'legacy-client' && e.dst === 'backend'), 20000, 300);
  assert.equal(plain.secured, false);

  const pids = demo.pids();
  assert.equal(pids.length, 10, 'meshd, 4 Envoys (frontend, backend, reviews v1 and v2), 5 apps');
  const stopAt = Date.now();
  await demo.stop();
  stopped = true;
  assertGone(pids, OCTET);
  t.diagnostic(`start ${startMs} ms, stop ${Date.now() - stopAt} ms`);
});

test('transparent demo: a failed start removes everything it made, including leftovers of an earlier run', async () => {
  requireTransparent(OCTET + 50);
  const octet = OCTET + 50;
  createNetwork(netnsPlan(octet)); // what a killed run leaves behind
  const dir = mkdtempSync(join(tmpdir(), 'mesh-transparent-'));
  const said: string[] = [];
  try {
    await assert.rejects(
      startTransparentDemo({ dir, xdsPort: 0, secureXdsPort: 0, adminPort: 0, octet, meshdArgs: ['--no-such-flag'], log: (l) => said.push(l) }),
      (e: unknown) => e instanceof DemoError && /meshd exited while starting/.test(e.message),
    );
    assert.ok(said.some((l) => l.includes(`namespace meshd-${octet}-backend`)), `said what it removed first: ${said.join(' / ')}`);
    assertGone([], octet);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run demo -- --transparent: a second run refuses to start; Ctrl-C stops every process and removes the namespaces and the bridge', async () => {
  const octet = OCTET + 25;
  requireTransparent(octet);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-transparent-'));
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'demo', 'main.js'), '--transparent', '--dir', dir,
    '--xds-port', '0', '--secure-xds-port', '0', '--admin-port', '0', '--loopback-octet', String(octet)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitFor('the banner and a first mTLS call', () => /transparent mode/.test(out) && /200 OK, backend saw spiffe:/.test(out), 60000, 200);
    const inside = findLeftovers(netnsPlan(octet));
    assert.equal(inside.namespaces.length, 5, out);
    // A second demo with the same octet refuses to start and leaves the running one alone.
    await assert.rejects(startTransparentDemo({ dir, xdsPort: 0, secureXdsPort: 0, adminPort: 0, octet }),
      (e: unknown) => e instanceof DemoError && /another transparent demo is running/.test(e.message));
    assert.deepEqual(findLeftovers(netnsPlan(octet)).pids, inside.pids);
    child.kill('SIGINT');
    assert.equal(await exited, 0, out);
    assert.match(out, /removed its network namespaces and bridge; nothing of the demo is left running/);
    assertGone(inside.pids, octet);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

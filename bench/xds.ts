/**
 * `npm run bench -- xds [--json] [--proxies N] [--delta] [--tls] [--translate [--no-memo]] [--no-meshd-runtime] [--profile FILE [--profile-phase endpoint|all]] [--runs N]`: the ADS server under the "mesh-1k" workload
 * (run with bin/meshd's malloc environment and node flags unless `--no-meshd-runtime`)
 * (1,000 services in 20 namespaces, 2 endpoints each, 1,000 sidecars in a child process).
 * Keys: xds.connect_storm_s, xds.endpoint_change_p50_ms/p99_ms, xds.all_proxy_change_p50_ms/
 * p99_ms, xds.rss_kb_per_proxy, xds.cpu_s_per_full_push. Change times are from `push()` to
 * the last affected sidecar's ACK, as the server sees it.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import type { ResourceTypeUrl } from '../src/xds/resource-types.js';
import { XdsServer } from '../src/xds/server/server.js';
import { MESH_1K, MeshWorkload } from './xds-workload.js';
import { TranslatedWorkload } from './xds-model.js';
import { startCpuProfile } from './cpu-profile.js';

type Msg = { hello?: boolean; ready?: number; ms?: number; errors?: number; stopped?: boolean; profiled?: string };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function waitFor(child: ChildProcess, pred: (m: Msg) => boolean, ms: number): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`load generator: no answer within ${ms} ms`)), ms);
    const on = (m: Msg): void => {
      if (!pred(m)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
}

/** RSS and live JS memory (heap + Buffers) after a few GCs. */
async function settleRss(): Promise<{ rss: number; live: number; m: NodeJS.MemoryUsage }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(200);
  }
  const m = process.memoryUsage();
  return { rss: m.rss, live: m.heapUsed + m.external, m };
}

/** Per-proxy growth of each memoryUsage() field, in KB. */
function memBreakdown(a: NodeJS.MemoryUsage, b: NodeJS.MemoryUsage, n: number): string {
  const keys = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const;
  return keys.map((k) => `${k} ${((b[k] - a[k]) / 1024 / Math.max(1, n)).toFixed(1)}`).join(', ');
}

/**
 * meshd's production runtime settings: the environment assignments and node flags on
 * bin/meshd's `#!/usr/bin/env -S ... node ...` line, so the bench measures the server as
 * meshd runs it.
 */
function meshdRuntime(): { env: Record<string, string>; flags: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  const line = readFileSync(join(here, '..', '..', 'bin', 'meshd'), 'utf8').split('\n')[0] ?? '';
  const words = line.replace(/^#!\S*env\s+(-S\s+)?/, '').split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  const flags: string[] = [];
  let seenNode = false;
  for (const w of words) {
    if (!seenNode && /^[A-Z_][A-Z0-9_]*=/.test(w)) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
    else if (!seenNode) seenNode = true;
    else if (w.startsWith('--')) flags.push(w);
  }
  return { env, flags };
}

/** Re-runs this process with meshd's runtime settings unless it already has them; resolves to the exit code, or undefined to go on here. */
async function underMeshdRuntime(): Promise<number | undefined> {
  if (process.env['MESHD_XDS_BENCH_RUNTIME'] === '1') return undefined;
  const rt = meshdRuntime();
  const child = spawn(process.execPath, [...process.execArgv, ...rt.flags, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, ...rt.env, MESHD_XDS_BENCH_RUNTIME: '1' },
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

/** Unmeasured endpoint changes right after the storm, then measured ones (p99 of 40 ≈ the 2nd largest). */
const WARMUP_CHANGES = 3;
const ENDPOINT_CHANGES = 40;

/** Runs the bench; prints `key value` lines (and a JSON line with `--json`). */
export async function main(args: readonly string[]): Promise<void> {
  const ri = args.indexOf('--runs');
  if (ri >= 0) return repeated(args.filter((_, i) => i !== ri && i !== ri + 1), Number(args[ri + 1]));
  if (!args.includes('--no-meshd-runtime')) {
    const code = await underMeshdRuntime();
    if (code !== undefined) {
      if (code !== 0) throw new Error(`xds bench exited with ${code}`);
      return;
    }
  }
  const json = args.includes('--json');
  const delta = args.includes('--delta');
  const pi = args.indexOf('--proxies');
  const proxies = pi >= 0 ? Number(args[pi + 1]) : 1000;
  const reps = 20;
  const log = (s: string): void => void process.stderr.write(s + '\n');

  // --translate: meshd's real translation of a model mesh (with the incremental memo unless --no-memo).
  const workload = args.includes('--translate')
    ? new TranslatedWorkload({ namespaces: MESH_1K.namespaces, servicesPerNamespace: MESH_1K.servicesPerNamespace, endpointsPerService: MESH_1K.endpointsPerService }, !args.includes('--no-memo'))
    : new MeshWorkload({ ...MESH_1K, tls: args.includes('--tls') });
  const server = new XdsServer({ generate: (p) => workload.generate(p), registry: new Registry(), convergenceTimeoutMs: 30_000 });
  const port = await server.listen('127.0.0.1:0');
  // Shared chunks are encoded once whatever the proxy count; do it before the baseline.
  const shared = workload.sharedChunks();
  for (const [t, chunks] of Object.entries(shared)) for (const c of chunks ?? []) server.cache.chunk(t as ResourceTypeUrl, c).sotwBytes();
  const rss0 = await settleRss();

  const here = dirname(fileURLToPath(import.meta.url));
  const child = fork(join(here, 'xds-loadgen.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await waitFor(child, (m) => m.hello === true, 30_000);
    log(`xds bench: ${proxies} ${delta ? 'Delta' : 'SotW'} sidecars connecting to 127.0.0.1:${port}`);
    const { monitorEventLoopDelay } = await import('node:perf_hooks');
    const eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
    const t0 = performance.now();
    // Storm timeline (stderr): connected streams and responses sent, every 250 ms.
    const timeline: string[] = [];
    const tick = setInterval(() => timeline.push(`${Math.round(performance.now() - t0)}:${server.connectedProxies().length}/${server.counts().responses}`), 250);
    child.send({ cmd: 'start', address: `127.0.0.1:${port}`, count: proxies, delta });
    const ready = await waitFor(child, (m) => m.ready !== undefined, 120_000);
    clearInterval(tick);
    log(`  storm timeline (ms:connected/responses): ${timeline.join(' ')}`);
    const stormS = (performance.now() - t0) / 1000;
    log(`  connect storm: ${stormS.toFixed(2)} s (load generator: ${((ready.ms ?? 0) / 1000).toFixed(2)} s, errors ${ready.errors})`);
    await sleep(1000);
    const rss1 = await settleRss();
    const connected = server.connectedProxies().length;
    log(`  memory per proxy (KB): ${memBreakdown(rss0.m, rss1.m, connected)}`);

    log(`  after storm: ${JSON.stringify(server.counts())}`);
    log(`  server event loop delay: p50 ${Math.round(eld.percentile(50) / 1e6)} p99 ${Math.round(eld.percentile(99) / 1e6)} max ${Math.round(eld.max / 1e6)} ms`);
    if (args.includes('--storm-only')) {
      console.log(`xds.connect_storm_s ${round(stormS, 2)}`);
      console.log(`xds.rss_kb_per_proxy ${round((rss1.rss - rss0.rss) / 1024 / Math.max(1, connected), 1)}`);
      console.log(`xds.live_kb_per_proxy ${round((rss1.live - rss0.live) / 1024 / Math.max(1, connected), 1)}`);
      child.send({ cmd: 'stop' });
      await new Promise((r) => setTimeout(r, 2000));
      return;
    }
    // Warm-up: the first changes after the storm pay for its garbage and for JIT; they are
    // measured and printed separately, never mixed into the steady-state percentiles.
    const warmupMs: number[] = [];
    for (let i = 0; i < WARMUP_CHANGES; i++) {
      workload.changeOneEndpoint();
      warmupMs.push((await server.push()).ms);
      await sleep(50);
    }
    log(`  warm-up endpoint changes (not in the percentiles): ${warmupMs.map((x) => x.toFixed(0)).join(' ')} ms`);
    const pi2 = args.indexOf('--profile');
    const pp = args.indexOf('--profile-phase');
    const profilePhase = pp >= 0 ? args[pp + 1] : 'endpoint';
    const profileFile = args[pi2 + 1] ?? 'xds.cpuprofile';
    /** Profiles one phase (server and load generator) when `--profile` asks for it. */
    const profiled = async (phase: string, run: () => Promise<void>): Promise<void> => {
      if (pi2 < 0 || phase !== profilePhase) return run();
      const stop = await startCpuProfile();
      child.send({ cmd: 'profile-start' });
      await run();
      log(`  server CPU profile of the ${phase} changes: ${await stop(profileFile)}`);
      child.send({ cmd: 'profile-stop', file: profileFile.replace(/(\.cpuprofile)?$/, '.loadgen.cpuprofile') });
      log(`  load generator CPU profile: ${(await waitFor(child, (m) => m.profiled !== undefined, 30_000)).profiled}`);
    };
    const endpointMs: number[] = [];
    const endpointCpuS: number[] = [];
    await profiled('endpoint', async () => {
      for (let i = 0; i < ENDPOINT_CHANGES; i++) {
        const e0 = process.cpuUsage();
        workload.changeOneEndpoint();
        const out = await server.push();
        const e = process.cpuUsage(e0);
        endpointCpuS.push((e.user + e.system) / 1e6);
        if (!out.converged) log(`  endpoint change ${i} did not converge`);
        endpointMs.push(out.ms);
        await sleep(50);
      }
    });
    log(`  endpoint change: ${endpointMs.map((x) => x.toFixed(0)).join(' ')} ms`);

    const allMs: number[] = [];
    const cpuS: number[] = [];
    await profiled('all', async () => {
      for (let i = 0; i < Math.max(10, reps / 2); i++) {
        workload.changeOneCluster();
        const c0 = process.cpuUsage();
        const out = await server.push();
        const c = process.cpuUsage(c0);
        if (!out.converged) log(`  all-proxy change ${i} did not converge`);
        allMs.push(out.ms);
        cpuS.push((c.user + c.system) / 1e6);
        await sleep(100);
      }
    });
    log(`  all-proxy change (one cluster → full CDS to every sidecar): ${allMs.map((x) => x.toFixed(0)).join(' ')} ms`);

    const routeMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      workload.changeRoutes();
      const out = await server.push();
      routeMs.push(out.ms);
      await sleep(100);
    }
    log(`  shared route config change (RDS to every sidecar): ${routeMs.map((x) => x.toFixed(0)).join(' ')} ms`);
    const counts = server.counts();
    log(`  connected ${connected}, responses ${counts.responses}, nacks ${counts.nacks}, stale nonces ${counts.staleNonces}`);

    const result: Record<string, number> = {
      'xds.proxies': connected,
      'xds.delta': delta ? 1 : 0,
      'xds.connect_storm_s': round(stormS, 2),
      'xds.endpoint_change_p50_ms': round(quantile(endpointMs, 0.5), 1),
      'xds.endpoint_change_p99_ms': round(quantile(endpointMs, 0.99), 1),
      'xds.endpoint_change_warmup_max_ms': round(Math.max(...warmupMs), 1),
      'xds.all_proxy_change_p50_ms': round(quantile(allMs, 0.5), 1),
      'xds.all_proxy_change_p99_ms': round(quantile(allMs, 0.99), 1),
      'xds.route_change_p50_ms': round(quantile(routeMs, 0.5), 1),
      'xds.rss_kb_per_proxy': round((rss1.rss - rss0.rss) / 1024 / Math.max(1, connected), 1),
      // Live JS heap + Buffers: what the server actually holds per proxy (RSS also keeps freed I/O buffers).
      'xds.live_kb_per_proxy': round((rss1.live - rss0.live) / 1024 / Math.max(1, connected), 1),
      'xds.cpu_s_per_full_push': round(quantile(cpuS, 0.5), 3),
      // Server CPU from the model change to the last ACK of an endpoint change (median).
      'xds.cpu_s_per_endpoint_change': round(quantile(endpointCpuS, 0.5), 3),
    };
    for (const [k, v] of Object.entries(result)) console.log(`${k} ${v}`);
    if (json) console.log(JSON.stringify(result));
    child.send({ cmd: 'stop' });
    await waitFor(child, (m) => m.stopped === true, 10_000).catch(() => undefined);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    child.kill();
    await server.close();
  }
}

/**
 * `--runs N`: the whole bench N times, each in a fresh process (sequentially); prints each
 * run's JSON, then per key the median and range, and with `--json` a last line of medians
 * (plus `xds.runs`). One run's p99 is nearly its maximum, so on a noisy machine the median
 * of several runs is the figure to report.
 */
async function repeated(args: readonly string[], runs: number): Promise<void> {
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs needs a positive integer');
  const here = dirname(fileURLToPath(import.meta.url));
  const rows: Record<string, number>[] = [];
  for (let i = 0; i < runs; i++) {
    const child = spawn(process.execPath, [join(here, 'index.js'), 'xds', ...args.filter((a) => a !== '--json'), '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
    if (code !== 0) throw new Error(`xds bench run ${i + 1} exited with ${code}`);
    const last = out.trim().split('\n').pop() ?? '';
    rows.push(JSON.parse(last) as Record<string, number>);
    process.stderr.write(`run ${i + 1}/${runs}: ${last}\n`);
  }
  const median: Record<string, number> = { 'xds.runs': runs };
  for (const k of Object.keys(rows[0]!)) {
    const v = rows.map((r) => r[k]!).sort((a, b) => a - b);
    median[k] = v.length % 2 === 1 ? v[(v.length - 1) / 2]! : round((v[v.length / 2 - 1]! + v[v.length / 2]!) / 2, 2);
    console.log(`${k} ${median[k]} (min ${v[0]}, max ${v[v.length - 1]})`);
  }
  if (args.includes('--json')) console.log(JSON.stringify(median));
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

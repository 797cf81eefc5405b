/**
 * One server's measurement in the xDS bench, the same for every server: connect storm, then
 * endpoint changes, cluster changes every sidecar receives, and added services, each timed
 * from the moment the bench applies it to the last affected sidecar's receipt (as the load
 * generator sees it, on the shared monotonic clock), with the server's and the load
 * generator's CPU seconds and the server's RSS.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { SHORT_NAME, isResourceTypeUrl } from '../src/xds/resource-types.js';
import { startCpuProfile } from './cpu-profile.js';
import type { ConfigStats, LoadgenPool } from './xds-loadgens.js';
import type { ServerUnderTest } from './xds-servers.js';
import type { BenchWorkload, MeshChange } from './xds-workload.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => void process.stderr.write(s + '\n');

/** The p-quantile (nearest rank) of a list. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Machine-wide CPU time from /proc/stat (seconds summed over cores): busy, idle (+iowait), steal. */
function machineCpu(): { busy: number; idle: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  // USER_HZ is 100 on Linux.
  return { busy: (user + nice + system + irq + softirq) / 100, idle: (idle + iowait) / 100, steal: steal / 100 };
}

/**
 * Who used the machine's cores during a phase: the server, the load generator, and the rest
 * (other processes on a shared machine), with steal time (a busy hypervisor).
 */
function machineLine(m0: ReturnType<typeof machineCpu>, wallS: number, serverS: number, loadgenS: number): { line: string; others: number; steal: number } {
  const m1 = machineCpu();
  const cores = cpus().length;
  const busy = m1.busy - m0.busy;
  const others = Math.max(0, busy - serverS - loadgenS);
  const steal = m1.steal - m0.steal;
  const pct = (x: number): string => `${((100 * x) / (wallS * cores)).toFixed(0)}%`;
  return {
    line: `machine (${cores} cores × ${wallS.toFixed(1)} s): server ${pct(serverS)}, load generator ${pct(loadgenS)}, other processes ${pct(others)}, idle ${pct(m1.idle - m0.idle)}, steal ${pct(steal)}`,
    others: others / (wallS * cores),
    steal,
  };
}

export interface RunOptions {
  readonly proxies: number;
  readonly delta: boolean;
  readonly warmup: number;
  readonly endpointChanges: number;
  readonly clusterChanges: number;
  readonly serviceAdds: number;
  readonly stormTimeoutMs: number;
  readonly changeTimeoutMs: number;
  /** `--profile FILE` and its phase (endpoint | all | storm). */
  readonly profile?: { readonly file: string; readonly phase: string; readonly seconds: number };
  /** `--storm-only`: the storm and memory figures, no changes. */
  readonly stormOnly?: boolean;
}

/** One server's figures (keys without the `xds.` prefix), its sample sidecar's config, and notes. */
export interface RunResult {
  readonly figures: Record<string, number>;
  readonly config: ConfigStats;
  readonly notes: string[];
}

interface Timed {
  ms: number[];
  serverMs: number[];
  cpuS: number;
  loadgenCpuS: number;
  wallS: number;
  responses: Record<string, number>;
  bytes: Record<string, number>;
  failed: number;
}

/** Applies `n` changes one after another, each awaited at the sidecars (a short pause between). */
async function timedChanges(sut: ServerUnderTest, pool: LoadgenPool, n: number, make: () => MeshChange, o: RunOptions, pauseMs: number): Promise<Timed> {
  const t: Timed = { ms: [], serverMs: [], cpuS: 0, loadgenCpuS: 0, wallS: 0, responses: {}, bytes: {}, failed: 0 };
  const cpu0 = sut.cpuSeconds();
  const lg0 = await pool.cpuSeconds();
  const w0 = performance.now();
  for (let i = 0; i < n; i++) {
    const change = make();
    const base = { cluster: change.cluster, timeoutMs: o.changeTimeoutMs };
    const x =
      change.kind === 'endpoints'
        ? { ...base, kind: 'endpoints' as const, newAddress: change.newAddress }
        : change.kind === 'cluster'
          ? { ...base, kind: 'cluster' as const, connectTimeoutS: change.service.connectTimeoutS }
          : { ...base, kind: 'service' as const };
    const { arrival } = await pool.expect(x);
    const start = process.hrtime.bigint();
    const [applied, got] = await Promise.all([sut.apply(change), arrival]);
    if (!got.done) {
      t.failed++;
      log(`  ${sut.name}: ${change.kind} change ${i} reached ${got.seen}/${got.affected} sidecars within ${o.changeTimeoutMs} ms`);
    }
    // A change that did not arrive everywhere counts as the timeout (a lower bound), and is counted in failed_changes.
    t.ms.push(!got.done ? o.changeTimeoutMs : got.lastNs > start ? Number(got.lastNs - start) / 1e6 : 0);
    if (applied.serverMs !== undefined) t.serverMs.push(applied.serverMs);
    for (const [k, v] of Object.entries(got.responses)) t.responses[k] = (t.responses[k] ?? 0) + v;
    for (const [k, v] of Object.entries(got.bytes)) t.bytes[k] = (t.bytes[k] ?? 0) + v;
    await sleep(pauseMs);
  }
  t.wallS = (performance.now() - w0) / 1000;
  t.cpuS = sut.cpuSeconds() - cpu0;
  t.loadgenCpuS = (await pool.cpuSeconds()) - lg0;
  return t;
}

const short = (type: string): string => type.replace(/^.*\.(\w+)$/, '$1');

/** "Cluster 1000 (120 KB)" per type URL of a response/bytes tally, per change. */
function tally(t: Timed, n: number): string {
  return Object.keys(t.bytes)
    .sort()
    .map((k) => `${short(k)} ${Math.round((t.responses[k] ?? 0) / n)} responses ${Math.round((t.bytes[k] ?? 0) / n / 1024)} KB`)
    .join(', ');
}

/** Runs the whole sequence against one server (already started, its mesh loaded). */
export async function measure(sut: ServerUnderTest, workload: BenchWorkload, pool: LoadgenPool, o: RunOptions): Promise<RunResult> {
  const notes: string[] = [];
  const profiled = async <R>(phase: string, run: () => Promise<R>): Promise<R> => {
    if (!o.profile || o.profile.phase !== phase) return run();
    const base = o.profile.file.replace(/(\.cpuprofile)?$/, `.${sut.name}`);
    const stop = sut.meshd ? await startCpuProfile() : undefined;
    // A Go peer's pprof runs for a fixed time from the phase's start (it cannot be stopped early).
    const go = !sut.meshd && sut.profile ? sut.profile(o.profile.seconds, base + '.pprof.pb.gz') : undefined;
    go?.catch(() => undefined);
    pool.profileStart();
    const r = await run();
    if (stop) log(`  server CPU profile of the ${phase} phase: ${await stop(base + '.cpuprofile')}`);
    if (go) log(`  server CPU profile of the first ${o.profile.seconds} s of the ${phase} phase: ${await go.catch((e: unknown) => String(e))}`);
    log(`  load generator CPU profiles: ${(await pool.profileStop(base)).join(' ')}`);
    return r;
  };
  await sleep(1000);
  const rss0 = await sut.rss();
  const cpu0 = sut.cpuSeconds();
  const lg0 = await pool.cpuSeconds();
  const m0 = machineCpu();
  log(`xds bench: ${sut.label}`);
  log(`  ${o.proxies} ${o.delta ? 'Delta' : 'SotW'} sidecars (${pool.size} load generator process${pool.size > 1 ? 'es' : ''}) connecting to ${sut.address}`);
  const t0 = performance.now();
  const storm = await profiled('storm', () => pool.storm(sut.address, o.proxies, o.delta, o.stormTimeoutMs));
  const stormS = (performance.now() - t0) / 1000;
  const stormCpu = sut.cpuSeconds() - cpu0;
  const stormLg = (await pool.cpuSeconds()) - lg0;
  log(`  connect storm: ${stormS.toFixed(2)} s, ${storm.retries} refused/broken streams retried; sidecar ready times ${storm.spreads.join(' | ')}`);
  const stormMachine = machineLine(m0, stormS, stormCpu, stormLg);
  log(`  CPU during the storm: server ${stormCpu.toFixed(1)} s, load generator ${stormLg.toFixed(1)} s; ${stormMachine.line}`);
  await sleep(1000);
  const rss1 = await sut.rss();
  const { config } = await pool.config();
  const n = Math.max(1, o.proxies);
  const configBytes = Object.values(config).reduce((a, c) => a + c.bytes, 0);
  const stormFigures = {
    proxies: o.proxies,
    connect_storm_s: round(stormS, 2),
    storm_retries: storm.retries,
    rss_kb_per_proxy: round((rss1 - rss0) / 1024 / n, 1),
    rss_mb: round(rss1 / 1024 / 1024, 1),
    cpu_s_storm: round(stormCpu, 2),
    config_kb_per_proxy: round(configBytes / 1024, 1),
    // Per type (config_kb_lds, ...): telemetry's cost is mostly in one type.
    ...Object.fromEntries(Object.entries(config).map(([t, c]) => [`config_kb_${(isResourceTypeUrl(t) ? SHORT_NAME[t] : short(t)).toLowerCase()}`, round(c.bytes / 1024, 2)])),
    loadgen_cpu_s_storm: round(stormLg, 2),
    others_core_share_storm: round(stormMachine.others, 3),
    steal_s_storm: round(stormMachine.steal, 2),
  };
  if (o.stormOnly) return { figures: stormFigures, config, notes };

  for (let i = 0; i < o.warmup; i++) await timedChanges(sut, pool, 1, () => workload.changeOneEndpoint(), o, 50);
  const m1 = machineCpu();
  const ep = await profiled('endpoint', () => timedChanges(sut, pool, o.endpointChanges, () => workload.changeOneEndpoint(), o, 50));
  log(`  endpoint change → last sidecar: ${ep.ms.map((x) => x.toFixed(0)).join(' ')} ms`);
  log(`    per change the sidecars received: ${tally(ep, o.endpointChanges)}`);
  const all = await profiled('all', () => timedChanges(sut, pool, o.clusterChanges, () => workload.changeOneCluster(), o, 100));
  log(`  cluster change (every sidecar's CDS) → last sidecar: ${all.ms.map((x) => x.toFixed(0)).join(' ')} ms`);
  log(`    per change the sidecars received: ${tally(all, o.clusterChanges)}`);
  const add = await timedChanges(sut, pool, o.serviceAdds, () => workload.addService(), o, 200);
  log(`  service added → last sidecar's CDS: ${add.ms.map((x) => x.toFixed(0)).join(' ')} ms`);
  log(`    per change the sidecars received: ${tally(add, o.serviceAdds)}`);
  const changesS = ep.wallS + all.wallS + add.wallS;
  const lgShare = (ep.loadgenCpuS + all.loadgenCpuS + add.loadgenCpuS) / changesS / cpus().length;
  const changesMachine = machineLine(m1, changesS, ep.cpuS + all.cpuS + add.cpuS, ep.loadgenCpuS + all.loadgenCpuS + add.loadgenCpuS);
  log(`  CPU over the changes: server ${(ep.cpuS + all.cpuS + add.cpuS).toFixed(1)} s, load generator ${(ep.loadgenCpuS + all.loadgenCpuS + add.loadgenCpuS).toFixed(1)} s; ${changesMachine.line}`);
  const failed = ep.failed + all.failed + add.failed;
  if (failed > 0) notes.push(`${sut.name}: ${failed} changes did not reach every affected sidecar in time`);

  const figures: Record<string, number> = {
    ...stormFigures,
    endpoint_change_p50_ms: round(quantile(ep.ms, 0.5), 1),
    endpoint_change_p99_ms: round(quantile(ep.ms, 0.99), 1),
    all_proxy_change_p50_ms: round(quantile(all.ms, 0.5), 1),
    all_proxy_change_p99_ms: round(quantile(all.ms, 0.99), 1),
    add_service_p50_ms: round(quantile(add.ms, 0.5), 1),
    add_service_p99_ms: round(quantile(add.ms, 0.99), 1),
    cpu_s_per_endpoint_change: round(ep.cpuS / o.endpointChanges, 3),
    cpu_s_per_full_push: round(all.cpuS / o.clusterChanges, 3),
    push_kb_per_endpoint_change: round(Object.values(ep.bytes).reduce((a, b) => a + b, 0) / 1024 / o.endpointChanges, 1),
    loadgen_core_share_changes: round(lgShare, 3),
    others_core_share_changes: round(changesMachine.others, 3),
    failed_changes: failed,
  };
  Object.assign(figures, sut.figures?.() ?? {});
  if (ep.serverMs.length > 0) {
    figures['endpoint_change_server_p50_ms'] = round(quantile(ep.serverMs, 0.5), 1);
    figures['endpoint_change_server_p99_ms'] = round(quantile(ep.serverMs, 0.99), 1);
    figures['all_proxy_change_server_p99_ms'] = round(quantile(all.serverMs, 0.99), 1);
  }
  return { figures, config, notes };
}

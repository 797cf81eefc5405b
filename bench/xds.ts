/**
 * `npm run bench -- xds [--json] [--mesh 1k|10k] [--proxies N] [--peers istiod,reference]
 * [--delta] [--tls] [--translate [--no-memo] [--telemetry off|metrics|full] [--telemetry-cost] [--traffic] [--traffic-cost]] [--loadgen-procs N] [--no-meshd-runtime] [--storm-only]
 * [--profile FILE [--profile-phase endpoint|all|storm] [--profile-seconds S]] [--runs N]`: ADS servers under the
 * "mesh-1k" workload (1,000 services in 20 namespaces, 2 endpoints each, 1,000 sidecars) or
 * "mesh-10k" (10,000 services in 100 namespaces, 3 endpoints each, 2,000 sidecars), the
 * sidecars in child processes. meshd's server runs in this process (with bin/meshd's malloc
 * environment and node flags unless `--no-meshd-runtime`); `--peers` adds istiod (tuned and
 * at its defaults; `istiod-tuned` or `istiod-defaults` for one) and the go-control-plane
 * reference, one after another on the same mesh with the same load generator.
 * Keys: xds.<figure> for meshd, xds.<peer>.<figure> for a peer, xds.vs_<peer>.<figure> =
 * meshd ÷ peer (below 1: meshd is faster or smaller). Change times run from the bench
 * applying the change to the last affected sidecar's receipt.
 * `--telemetry` sets the translated model's telemetry (default `metrics`, meshd's default;
 * `full` adds Zipkin tracing; `off` neither). `--telemetry-cost` runs meshd twice in the same
 * run, telemetry off and then on (`full` unless `--telemetry` says otherwise), and reports
 * the ratios as xds.vs_meshd_telemetry_off.<figure> (1.10 = telemetry adds 10 %).
 * `--traffic` puts a VirtualService (header match, 90/10 subset split, timeout, retries) and a
 * DestinationRule (subsets v1/v2, a connection pool) on every service of the translated model;
 * `--traffic-cost` runs meshd twice in the same run, without and then with them, and reports
 * xds.vs_meshd_traffic_off.<figure>.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { XdsServer } from '../src/xds/server/server.js';
import { LoadgenPool, type ConfigStats } from './xds-loadgens.js';
import { measure, quantile, round, type RunOptions, type RunResult } from './xds-run.js';
import { istiodMissing, startIstiod, startMeshd, startReference, type ServerUnderTest } from './xds-servers.js';
import type { ModelTelemetry } from './xds-model.js';
import { TranslatedBenchWorkload } from './xds-translated.js';
import { underMeshdRuntime } from './meshd-runtime.js';
import { MESH_10K, MESH_1K, MeshWorkload, type BenchWorkload } from './xds-workload.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Change counts per phase: unmeasured endpoint changes right after the storm, then measured ones (p99 of 40 ≈ the 2nd largest). */
const PHASES = { warmup: 3, endpointChanges: 40, clusterChanges: 10, serviceAdds: 5 };

/** Figures compared with each peer (ratio key → figure key). */
const RATIOS: Record<string, string> = {
  connect_storm: 'connect_storm_s',
  endpoint_change_p50: 'endpoint_change_p50_ms',
  endpoint_change_p99: 'endpoint_change_p99_ms',
  all_proxy_change_p50: 'all_proxy_change_p50_ms',
  all_proxy_change_p99: 'all_proxy_change_p99_ms',
  add_service_p99: 'add_service_p99_ms',
  rss_per_proxy: 'rss_kb_per_proxy',
  cpu_per_endpoint_change: 'cpu_s_per_endpoint_change',
  cpu_per_full_push: 'cpu_s_per_full_push',
  config_per_proxy: 'config_kb_per_proxy',
  config_lds_per_proxy: 'config_kb_lds',
  all_proxy_change_server_p99: 'all_proxy_change_server_p99_ms',
};

/** The meshd run with telemetry off, for `--telemetry-cost`. */
const TELEMETRY_OFF = 'meshd_telemetry_off';

/** The meshd run without the traffic objects, for `--traffic-cost`. */
const TRAFFIC_OFF = 'meshd_traffic_off';

const PEERS: Record<string, readonly string[]> = {
  istiod: ['istiod', 'istiod_defaults'],
  'istiod-tuned': ['istiod'],
  'istiod-defaults': ['istiod_defaults'],
  reference: ['reference'],
};

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function startServer(name: string, workload: MeshWorkload): Promise<ServerUnderTest> {
  if (name === 'meshd') return startMeshd(workload);
  if (name === 'istiod') return startIstiod(workload, 'tuned');
  if (name === 'istiod_defaults') return startIstiod(workload, 'defaults');
  return startReference(workload);
}

/** meshd only: the shared route configuration changes (RDS to every sidecar), server-side push→ACK. */
async function routeChanges(server: XdsServer, workload: BenchWorkload): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < 5; i++) {
    workload.changeRoutes();
    ms.push((await server.push()).ms);
    await sleep(100);
  }
  return quantile(ms, 0.5);
}

const shortType = (type: string): string => type.replace(/^.*\.(\w+)$/, '$1');

function describeConfig(c: ConfigStats): string {
  const parts = Object.keys(c).sort().map((t) => `${shortType(t)} ${c[t]!.count} (${Math.round(c[t]!.bytes / 1024)} KB)`);
  const total = Object.values(c).reduce((a, x) => a + x.bytes, 0);
  return `${parts.join(', ')} = ${Math.round(total / 1024)} KB`;
}

function diffConfig(peer: string, p: ConfigStats, m: ConfigStats): string[] {
  const out: string[] = [];
  for (const t of [...new Set([...Object.keys(p), ...Object.keys(m)])].sort()) {
    const pn = new Set(p[t]?.names ?? []);
    const mn = new Set(m[t]?.names ?? []);
    const onlyP = [...pn].filter((n) => !mn.has(n));
    const onlyM = [...mn].filter((n) => !pn.has(n));
    const both = [...pn].filter((n) => mn.has(n)).length;
    const ex = (xs: string[]): string => (xs.length ? ` (${xs.slice(0, 4).join(', ')}${xs.length > 4 ? ', ...' : ''})` : '');
    const bytes = (c: ConfigStats): number => c[t]?.bytes ?? 0;
    out.push(`    ${shortType(t)}: ${both} in both, ${onlyP.length} only in ${peer}${ex(onlyP)}, ${onlyM.length} only in meshd${ex(onlyM)}; ${Math.round(bytes(p) / 1024)} KB vs ${Math.round(bytes(m) / 1024)} KB`);
  }
  return out;
}

/** Runs the bench; prints `key value` lines (and a JSON line with `--json`). */
export async function main(args: readonly string[]): Promise<void> {
  const ri = args.indexOf('--runs');
  if (ri >= 0) return repeated(args.filter((_, i) => i !== ri && i !== ri + 1), Number(args[ri + 1]));
  if (!args.includes('--no-meshd-runtime')) {
    const code = await underMeshdRuntime('MESHD_XDS_BENCH_RUNTIME');
    if (code !== undefined) {
      if (code !== 0) throw new Error(`xds bench exited with ${code}`);
      return;
    }
  }
  const log = (s: string): void => void process.stderr.write(s + '\n');
  const meshFlag = flag(args, '--mesh') ?? '1k';
  if (meshFlag !== '1k' && meshFlag !== '10k') throw new Error('--mesh takes 1k or 10k');
  const shape = { ...(meshFlag === '10k' ? MESH_10K : MESH_1K), tls: args.includes('--tls') };
  const proxies = Number(flag(args, '--proxies') ?? shape.sidecars);
  const procs = Number(flag(args, '--loadgen-procs') ?? Math.max(1, Math.ceil(proxies / 1000)));
  const delta = args.includes('--delta');
  const peerNames = (flag(args, '--peers') ?? '').split(',').filter(Boolean);
  for (const p of peerNames) if (!PEERS[p]) throw new Error(`--peers: unknown peer ${p} (istiod, istiod-tuned, istiod-defaults, reference)`);
  const telemetryCost = args.includes('--telemetry-cost');
  const telemetry = (flag(args, '--telemetry') ?? (telemetryCost ? 'full' : 'metrics')) as ModelTelemetry;
  if (!['off', 'metrics', 'full'].includes(telemetry)) throw new Error('--telemetry takes off, metrics or full');
  const trafficCost = args.includes('--traffic-cost');
  const traffic = trafficCost || args.includes('--traffic');
  const servers = [...(telemetryCost ? [TELEMETRY_OFF] : []), ...(trafficCost ? [TRAFFIC_OFF] : []), 'meshd', ...new Set(peerNames.flatMap((p) => PEERS[p]!))];
  const big = shape.namespaces * shape.servicesPerNamespace > 2000;
  const translated = args.includes('--translate');
  if (telemetryCost && !translated) throw new Error('--telemetry-cost needs --translate (the plain workload has no telemetry)');
  if (traffic && !translated) throw new Error('--traffic and --traffic-cost need --translate (the plain workload has no VirtualServices)');
  const profile = flag(args, '--profile');
  const opts: RunOptions = {
    proxies,
    delta,
    ...PHASES,
    // mesh-10k: fewer changes (a full push there is ~2 GB to the sidecars).
    ...(big ? { endpointChanges: 20, clusterChanges: 5, serviceAdds: 3 } : {}),
    stormTimeoutMs: big ? 900_000 : 300_000,
    changeTimeoutMs: big ? 120_000 : 60_000,
    stormOnly: args.includes('--storm-only'),
    ...(profile ? { profile: { file: profile, phase: flag(args, '--profile-phase') ?? 'endpoint', seconds: Number(flag(args, '--profile-seconds') ?? 20) } } : {}),
  };
  if (translated && servers.length > 1) log("xds bench: --translate: meshd translates the model of the same services and endpoints (STRICT mTLS, its own listeners); its cluster change adds a port, the peers' changes a connect timeout")
  if (shape.tls && servers.length > 1) log('xds bench: --tls adds the mTLS transport socket to meshd\'s clusters only; the peers serve plaintext clusters');
  log(`xds bench: ${shape.name}: ${shape.namespaces * shape.servicesPerNamespace} services in ${shape.namespaces} namespaces, ${shape.endpointsPerService} endpoints each, ${proxies} sidecars; servers: ${servers.join(', ')} (one after another; the machine may be shared: compare ratios within a run)`);

  const results = new Map<string, RunResult>();
  const notes: string[] = [];
  for (const name of servers) {
    if (name.startsWith('istiod')) {
      const missing = istiodMissing();
      if (missing) {
        if (!notes.includes(missing)) {
          log(missing);
          notes.push(missing);
        }
        continue;
      }
    }
    const plain = new MeshWorkload(shape);
    const own = name === 'meshd' || name === TELEMETRY_OFF || name === TRAFFIC_OFF;
    const tel = name === TELEMETRY_OFF ? 'off' : telemetry;
    const withTraffic = traffic && name !== TRAFFIC_OFF;
    const workload: BenchWorkload = translated && own ? new TranslatedBenchWorkload(shape, !args.includes('--no-memo'), { telemetry: tel, traffic: withTraffic }) : plain;
    const pool = await LoadgenPool.start(procs);
    let sut: ServerUnderTest | undefined;
    try {
      sut = own && translated
        ? { ...(await startMeshd(workload, `meshd XdsServer with meshd's real translation of the model mesh (${args.includes('--no-memo') ? 'no memo' : 'incremental memo'}, telemetry ${tel}, ${withTraffic ? 'a VS and DR on every service' : 'no VS or DR'})`)), name }
        : await startServer(name, plain);
      const running = measure(sut, workload, pool, opts);
      running.catch(() => undefined); // abandoned when the server dies; its own error is not the news
      const r = await (sut.died ? Promise.race([running, sut.died]) : running);
      if (sut.meshd && !opts.stormOnly) {
        r.figures['route_change_p50_ms'] = round(await routeChanges(sut.meshd, workload), 1);
        const c = sut.meshd.counts();
        log(`  meshd counters: responses ${c.responses}, nacks ${c.nacks}, stale nonces ${c.staleNonces}`);
      }
      results.set(name, r);
      notes.push(...r.notes);
    } catch (e) {
      if (name === 'meshd') throw e;
      const st = await pool.status().catch(() => undefined);
      const msg = `${name}: not measured: ${e instanceof Error ? e.message : String(e)}${st ? ` (${st.ready} of ${st.sidecars} sidecars were ready)` : ''}`;
      log(msg);
      notes.push(msg);
    } finally {
      await pool.stop();
      await sut?.stop();
    }
  }

  const out: Record<string, number> = { 'xds.delta': delta ? 1 : 0, 'xds.services': shape.namespaces * shape.servicesPerNamespace };
  for (const [name, r] of results) for (const [k, v] of Object.entries(r.figures)) out[name === 'meshd' ? `xds.${k}` : `xds.${name}.${k}`] = v;
  const m = results.get('meshd')!;
  for (const [name, r] of results) {
    if (name === 'meshd') continue;
    for (const [rk, fk] of Object.entries(RATIOS)) {
      const a = m.figures[fk];
      const b = r.figures[fk];
      if (a !== undefined && b !== undefined && b > 0) out[`xds.vs_${name}.${rk}`] = round(a / b, 3);
    }
  }
  log('config one sidecar receives (the first sidecar, after the storm):');
  for (const [name, r] of results) log(`  ${name}: ${describeConfig(r.config)}`);
  for (const [name, r] of results) if (name !== 'meshd') log(`  ${name} vs meshd, by resource name:\n${diffConfig(name, r.config, m.config).join('\n')}`);
  for (const n of notes) log(`note: ${n}`);
  for (const [k, v] of Object.entries(out)) console.log(`${k} ${v}`);
  if (args.includes('--json')) console.log(JSON.stringify(out));
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

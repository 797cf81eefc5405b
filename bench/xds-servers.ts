/**
 * The servers the xDS bench measures, behind one seam: meshd's ADS server (in this process,
 * fed by the bench workload's generator), istiod (pilot-discovery on a folder of
 * ServiceEntry/WorkloadEntry/DestinationRule files, at its defaults or tuned) and the native
 * reference (tools/xds-reference, go-control-plane's snapshot cache, driven over HTTP).
 * Each applies the workload's changes its own way; RSS and CPU are read the same way for
 * the child processes (/proc), and from this process for meshd.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import type { ResourceTypeUrl } from '../src/xds/resource-types.js';
import { XdsServer } from '../src/xds/server/server.js';
import { freePort } from '../test/helpers/ports.js';
import { IstioFiles } from './xds-istio-files.js';
import { DEFAULT_CONNECT_TIMEOUT_S, SERVICE_PORT, TARGET_PORT, type BenchWorkload, type MeshChange, type MeshWorkload } from './xds-workload.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A server under test. */
export interface ServerUnderTest {
  /** Key part in the bench's output: meshd, istiod, istiod_defaults, reference. */
  readonly name: string;
  /** What it is, for the output (version, settings). */
  readonly label: string;
  readonly address: string;
  /** Hands a change (already applied to the workload) to the server; meshd also says its own push→ACK time. */
  apply(change: MeshChange): Promise<{ serverMs?: number; converged?: boolean }>;
  /** Resident memory in bytes (meshd: after a few GCs, as before). */
  rss(): Promise<number>;
  /** CPU seconds (user + system) the server has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
  /** Rejects when a server process ends (or is killed over the RSS limit) before `stop()`. */
  readonly died?: Promise<never>;
  /** A Go server's CPU profile over the next `seconds` (pprof over loopback), written to `file`. */
  profile?(seconds: number, file: string): Promise<string>;
  /** Extra figures the server's own output gives (istiod: how long its file reloads took). */
  figures?(): Record<string, number>;
  /** meshd only: the in-process server, for its counters and extra figures. */
  readonly meshd?: XdsServer;
}

const CACHE = process.env['MESH_CACHE_DIR'] ?? join(homedir(), '.cache', 'meshd');
/** The istiod release the bench compares with. */
export const ISTIOD_VERSION = '1.28.3';

/** Where the bench looks for pilot-discovery: $MESHD_ISTIOD_BIN, else the cache. */
export function istiodBinary(): string {
  return process.env['MESHD_ISTIOD_BIN'] ?? join(CACHE, `istiod-${ISTIOD_VERSION}`, 'pilot-discovery');
}

/** meshd's XdsServer in this process, fed by the workload's generator. */
export async function startMeshd(workload: BenchWorkload, label = 'meshd XdsServer (in the bench process, the workload generator, no translation)'): Promise<ServerUnderTest> {
  const server = new XdsServer({ generate: (p) => workload.generate(p), registry: new Registry(), convergenceTimeoutMs: 30_000 });
  const port = await server.listen('127.0.0.1:0');
  // Shared chunks are encoded once whatever the proxy count; do it before the baseline.
  for (const [t, chunks] of Object.entries(workload.sharedChunks())) for (const c of chunks ?? []) server.cache.chunk(t as ResourceTypeUrl, c).sotwBytes();
  return {
    name: 'meshd',
    label,
    address: `127.0.0.1:${port}`,
    meshd: server,
    async apply() {
      const out = await server.push();
      return { serverMs: out.ms, converged: out.converged };
    },
    async rss() {
      for (let i = 0; i < 3; i++) {
        gc();
        await sleep(200);
      }
      return process.memoryUsage().rss;
    },
    cpuSeconds() {
      const c = process.cpuUsage();
      return (c.user + c.system) / 1e6;
    },
    stop: () => server.close(),
  };
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function procCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function procRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Spawns a child whose output goes to `log`; resolves when a line matches `ready` (rejects if it exits first). */
function spawnUntil(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; log: string; ready: RegExp; timeoutMs: number }): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(opts.log);
  let tail = '';
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => fail(new Error(`${cmd}: not ready within ${opts.timeoutMs} ms (log ${opts.log})`)), opts.timeoutMs);
    const fail = (e: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    const onData = (c: Buffer): void => {
      out.write(c);
      if (done) return;
      tail = (tail + c.toString()).slice(-20_000);
      const line = tail.split('\n').find((l) => opts.ready.test(l));
      if (line === undefined) return;
      done = true;
      clearTimeout(timer);
      resolve({ child, line });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => fail(new Error(`${cmd} exited with ${code} before it was ready; last output:\n${tail.split('\n').slice(-15).join('\n')}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** Fetches a Go pprof CPU profile of `seconds` from `base` (…/debug/pprof) into `file`. */
async function pprof(base: string, seconds: number, file: string): Promise<string> {
  const res = await fetch(`${base}/profile?seconds=${seconds}`);
  if (!res.ok) throw new Error(`${base}/profile: ${res.status}`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return `${file} (go tool pprof -top ${file})`;
}

function processServer(name: string, label: string, address: string, child: ChildProcess, apply: ServerUnderTest['apply'], cleanup: () => void, figures?: () => Record<string, number>, pprofBase?: string): ServerUnderTest {
  const pid = child.pid!;
  // The machine is shared: a peer that grows past the limit is killed rather than the machine swapped.
  const limit = Number(process.env['MESHD_BENCH_PEER_RSS_LIMIT_GB'] ?? 8) * 1024 ** 3;
  let stopping = false;
  let why = '';
  const watch = setInterval(() => {
    try {
      if (procRss(pid) > limit) {
        why = `${name}: killed, RSS over ${limit / 1024 ** 3} GB (MESHD_BENCH_PEER_RSS_LIMIT_GB)`;
        child.kill('SIGKILL');
      }
    } catch {
      // gone already
    }
  }, 1000);
  const died = new Promise<never>((_, reject) => child.once('exit', (code, signal) => {
    clearInterval(watch);
    if (!stopping) reject(new Error(why || `${name} exited (${code ?? signal}) during the bench`));
  }));
  died.catch(() => undefined);
  return {
    ...(figures ? { figures } : {}),
    ...(pprofBase ? { profile: (seconds: number, file: string) => pprof(pprofBase, seconds, file) } : {}),
    died,
    name,
    label,
    address,
    apply,
    async rss() {
      await sleep(600);
      return procRss(pid);
    },
    cpuSeconds: () => procCpu(pid),
    async stop() {
      stopping = true;
      clearInterval(watch);
      await stopChild(child);
      cleanup();
    },
  };
}

/** istiod's settings: its defaults, or tuned to meshd's debounce (100 ms quiet, 1 s max) with no stream throttle. */
export type IstiodMode = 'tuned' | 'defaults';

/** pilot-discovery on files, no Kubernetes; ready once it logs its first push ("XDS: Pushing"). */
export async function startIstiod(workload: MeshWorkload, mode: IstiodMode): Promise<ServerUnderTest> {
  const bin = istiodBinary();
  const run = mkdtempSync(join(tmpdir(), `meshd-bench-istiod-${mode}-`));
  const files = new IstioFiles(join(run, 'config'));
  files.writeAll(workload.allServices());
  const [grpcPort, httpPort, httpsPort, secure, monitoring, ctrlz] = await Promise.all([0, 1, 2, 3, 4, 5].map(() => freePort()));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: run, POD_NAMESPACE: 'istio-system', GOMAXPROCS: process.env['GOMAXPROCS'] };
  if (mode === 'tuned') Object.assign(env, { PILOT_DEBOUNCE_AFTER: '100ms', PILOT_DEBOUNCE_MAX: '1s', PILOT_MAX_REQUESTS_PER_SECOND: '1000000' });
  const args = ['discovery', '--registries=', `--configDir=${files.dir}`, `--meshConfig=${join(run, 'no-mesh-config')}`, `--networksConfig=${join(run, 'no-networks')}`];
  args.push(`--grpcAddr=127.0.0.1:${grpcPort}`, `--httpAddr=127.0.0.1:${httpPort}`, `--httpsAddr=127.0.0.1:${httpsPort}`, `--secureGRPCAddr=127.0.0.1:${secure}`);
  args.push(`--monitoringAddr=127.0.0.1:${monitoring}`, `--ctrlz_address=127.0.0.1`, `--ctrlz_port=${ctrlz}`);
  const log = join(run, 'istiod.log');
  const { child } = await spawnUntil(bin, args, { cwd: run, env, log, ready: /XDS: Pushing/, timeoutMs: 300_000 });
  const settings = mode === 'tuned' ? 'PILOT_DEBOUNCE_AFTER=100ms PILOT_DEBOUNCE_MAX=1s PILOT_MAX_REQUESTS_PER_SECOND=1000000' : 'defaults: debounce 100ms/10s, 25 streams/s';
  return processServer(mode === 'tuned' ? 'istiod' : 'istiod_defaults', `istiod ${ISTIOD_VERSION} pilot-discovery on files (${settings}; log ${log})`, `127.0.0.1:${grpcPort}`, child, async (change) => {
    const all = workload.allServices();
    if (change.kind === 'cluster') files.writeDestinationRules(all, DEFAULT_CONNECT_TIMEOUT_S);
    else {
      const ns = all.findIndex((list) => list.some((s) => s.namespace === change.service.namespace));
      files.writeNamespace(ns, all[ns]!);
    }
    return {};
  }, () => {
    if (process.env['MESHD_BENCH_KEEP'] !== '1') rmSync(run, { recursive: true, force: true });
  }, () => fileReloads(readFileSync(log, 'utf8')), `http://127.0.0.1:${httpPort}/debug/pprof`);
}

/** A Go duration ("100.9ms", "1.2s", "950µs") in ms. */
function goMs(d: string): number {
  const m = /^([\d.]+)(ns|µs|us|ms|s)$/.exec(d);
  if (!m) return NaN;
  return Number(m[1]) * ({ ns: 1e-6, µs: 1e-3, us: 1e-3, ms: 1, s: 1000 } as Record<string, number>)[m[2]!]!;
}

/**
 * How long istiod's file source took per change, from its log: "Triggering reload of file
 * configuration" (the watcher fired; it re-reads and re-parses every file) to the config event
 * reaching the push debouncer (the "Push debounce stable" time minus its "since last change").
 * Istiod on Kubernetes gets only the changed object, so this part is the file mode's own cost.
 */
export function fileReloads(text: string): Record<string, number> {
  const ms: number[] = [];
  let trigger: number | undefined;
  for (const line of text.split('\n')) {
    if (line.includes('Triggering reload of file configuration')) trigger = Date.parse(line.slice(0, line.indexOf('\t')));
    const m = /Push debounce stable\[\d+\].*: (\S+) since last change/.exec(line);
    if (m && trigger !== undefined) {
      ms.push(Date.parse(line.slice(0, line.indexOf('\t'))) - goMs(m[1]!) - trigger);
      trigger = undefined;
    }
  }
  ms.sort((a, b) => a - b);
  return ms.length ? { file_reloads: ms.length, file_reload_p50_ms: Math.round(ms[Math.floor(ms.length / 2)]!) } : {};
}

/** Builds (once, cached) and returns the reference server's binary. */
export function referenceBinary(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const script = join(here, '..', '..', 'scripts', 'ensure-xds-reference.sh');
  const r = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const m = /XDS_REFERENCE_BIN=(.*)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) throw new Error(`scripts/ensure-xds-reference.sh failed (exit ${r.status})`);
  return m[1]!.trim();
}

/** The go-control-plane snapshot-cache reference on the same mesh, its changes posted to its control endpoint. */
export async function startReference(workload: MeshWorkload): Promise<ServerUnderTest> {
  const bin = referenceBinary();
  const run = mkdtempSync(join(tmpdir(), 'meshd-bench-reference-'));
  const mesh = join(run, 'mesh.json');
  writeFileSync(mesh, JSON.stringify({ port: SERVICE_PORT, targetPort: TARGET_PORT, services: workload.allServices().flat() }));
  const { child, line } = await spawnUntil(bin, ['-mesh', mesh], { cwd: run, env: { PATH: process.env['PATH'], GOMAXPROCS: process.env['GOMAXPROCS'] }, log: join(run, 'reference.log'), ready: /^xds-reference xds=/, timeoutMs: 60_000 });
  const xds = /xds=(\S+)/.exec(line)![1]!;
  const control = /control=(\S+)/.exec(line)![1]!;
  const path = { endpoints: '/endpoints', cluster: '/cluster', service: '/service' } as const;
  return processServer('reference', 'go-control-plane v0.14.0 snapshot cache (tools/xds-reference, per-type versions, no translation)', xds, child, async (change) => {
    const res = await fetch(`http://${control}${path[change.kind]}`, { method: 'POST', body: JSON.stringify(change.service) });
    if (!res.ok) throw new Error(`reference ${path[change.kind]}: ${res.status} ${await res.text()}`);
    return {};
  }, () => rmSync(run, { recursive: true, force: true }), undefined, `http://${control}/debug/pprof`);
}

/** Whether the istiod binary is there; if not, what to do (the bench goes on with the other servers). */
export function istiodMissing(): string | undefined {
  const bin = istiodBinary();
  if (existsSync(bin)) return undefined;
  return [
    `istiod peer skipped: no pilot-discovery binary at ${bin}.`,
    `  Put Istio ${ISTIOD_VERSION}'s pilot-discovery (built from istio/istio at tag ${ISTIOD_VERSION}) there, or set MESHD_ISTIOD_BIN to one;`,
    '  tools/peers/README.md says what the bench needs of it and why this repository carries no build recipe for it.',
  ].join('\n');
}

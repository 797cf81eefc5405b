/**
 * `npm run bench -- streams [--idle 5000] [--stuck 100] [--services 1000] [--changes 10] [--json]`:
 * what idle and never-reading ADS clients cost a real meshd (issue 14, limits per client).
 *
 * Phase idle: a meshd on a small mesh (50 services) and `--idle` SotW streams (8 per HTTP/2
 * connection, meshd's default cap), each subscribed to CDS and LDS (wildcard) and ACKing
 * both, then silent. Prints meshd's RSS before and after, and per stream.
 *
 * Phase stuck: a meshd on `--services` services, one well-behaved client and `--stuck`
 * clients that subscribe to CDS and LDS and never read (HTTP/2 flow control stays shut).
 * Then `--changes` config changes that every proxy receives (a new service each): the time
 * from the file write to the well-behaved client's receipt of the new CDS version, and meshd's
 * RSS after each. Finally it waits for meshd's write timeout (`--write-timeout`, passed to
 * meshd as `--xds-write-timeout`; default meshd's own 60 s) to drop the stuck streams and
 * prints RSS again. Figures only, never a test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http2 from 'node:http2';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { messageType } from '../src/xds/protos.js';
import { ResourceType as T } from '../src/xds/resource-types.js';
import { lenField } from '../src/xds/cache/proto-wire.js';
import { SOTW_PATH } from '../src/xds/server/service.js';
import { EMPTY, MessageReader, frame, parseResponse, request } from './xds-wire.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
const STREAMS_PER_CONNECTION = 8;

function flag(args: readonly string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a number, got ${args[i + 1]}`);
  return v;
}

/** meshd's resident set in MB, from /proc. */
function rssMb(pid: number, key = 'VmRSS'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function serviceYaml(i: number): string {
  return [
    `apiVersion: v1\nkind: Service\nmetadata: { name: s${i}, namespace: bench }\nspec: { selector: { app: s${i} }, ports: [{ name: http, port: 80, targetPort: 8080 }] }\n`,
    ...[1, 2].map((e) => `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: s${i}-${e}, namespace: bench }\nspec: { address: 10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}, labels: { app: s${i} }, serviceAccount: s${i}, ports: { http: ${8080 + e} } }\n`),
  ].join('---\n');
}

function writeMesh(dir: string, services: number): void {
  const docs: string[] = [];
  for (let i = 0; i < services; i++) docs.push(serviceYaml(i));
  writeFileSync(join(dir, 'mesh.yaml'), docs.join('---\n'));
}

interface Meshd { readonly p: ChildProcess; readonly xdsPort: number; readonly adminPort: number; stop(): void }

async function startMeshd(services: number, extra: readonly string[]): Promise<Meshd> {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-streams-bench-'));
  const state = mkdtempSync(join(tmpdir(), 'meshd-streams-state-'));
  writeMesh(dir, services);
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'meshd'), '--config-dir', dir, '--state-dir', state, '--xds-port', '0', '--secure-xds-port', '0', '--admin-port', '0',
    '--allow-unauthenticated', '--xds-max-connections-per-address', '100000', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (b: Buffer): void => { if (out.length < 1_000_000) out += b.toString(); };
  p.stdout!.on('data', onData);
  p.stderr!.on('data', onData);
  const t0 = Date.now();
  for (;;) {
    if (p.exitCode !== null) throw new Error(`meshd exited: ${out.slice(-2000)}`);
    const m = /"msg":"meshd listening".*?"xdsPort":(\d+).*?"adminPort":(\d+)/.exec(out);
    if (m) {
      // Wait for the first snapshot (/ready 200).
      while ((await fetch(`http://127.0.0.1:${m[2]}/ready`).catch(() => undefined))?.status !== 200) await sleep(100);
      return {
        p, xdsPort: Number(m[1]), adminPort: Number(m[2]), stop: () => {
          p.kill('SIGTERM');
          rmSync(dir, { recursive: true, force: true });
          rmSync(state, { recursive: true, force: true });
        },
      };
    }
    if (Date.now() - t0 > 120_000) throw new Error(`meshd did not start: ${out.slice(-2000)}`);
    await sleep(100);
  }
}

const NODE = messageType('envoy.config.core.v3.Node');
function nodeBytes(i: number): Buffer {
  const ip = `10.250.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
  return Buffer.from(NODE.encode(NODE.fromObject({
    id: `sidecar~${ip}~client-${i}.bench~bench.svc.cluster.local`,
    metadata: { NAMESPACE: 'bench', WORKLOAD_NAME: `client-${i}`, INTERCEPTION_MODE: 'REDIRECT' },
  })).finish());
}

/** One SotW stream subscribed to CDS and LDS; ACKs (or, `stuck`, never reads). Resolves on the first response of each type. */
class Stream {
  readonly versions = new Map<string, string>();
  readonly ready: Promise<void>;
  onCds: ((version: string) => void) | undefined;
  constructor(session: http2.ClientHttp2Session, i: number, stuck: boolean) {
    const s = session.request({ ':method': 'POST', ':path': SOTW_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    s.on('error', () => undefined);
    const write = (parts: Buffer[]): boolean => s.write(frame(Buffer.concat(parts)));
    write(request(T.Cluster, '', '', EMPTY, lenField(2, nodeBytes(i))));
    write(request(T.Listener, '', '', EMPTY));
    if (stuck) {
      s.pause();
      this.ready = Promise.resolve();
      return;
    }
    let got = 0;
    let done!: () => void;
    this.ready = new Promise((r) => { done = r; });
    const reader = new MessageReader((m) => {
      const env = parseResponse(m, false);
      if (!this.versions.has(env.typeUrl) && ++got === 2) done();
      this.versions.set(env.typeUrl, env.version);
      write(request(env.typeUrl, env.version, env.nonce, EMPTY));
      if (env.typeUrl === T.Cluster) this.onCds?.(env.version);
    });
    s.on('data', (c: Buffer) => reader.push(c));
  }
}

/** A reading client advertises Envoy's large windows; a never-reading one HTTP/2's default 64 KB, so what it does not take stays on meshd's side. */
function connect(port: number, reading = true): http2.ClientHttp2Session {
  const window = 16 * 1024 * 1024;
  const session = http2.connect(`http://127.0.0.1:${port}`, reading ? { settings: { initialWindowSize: window } } : {});
  session.on('error', () => undefined);
  if (reading) session.on('connect', () => session.setLocalWindowSize(window));
  return session;
}

async function idlePhase(idle: number, out: Record<string, number>): Promise<void> {
  const meshd = await startMeshd(50, []);
  const sessions: http2.ClientHttp2Session[] = [];
  try {
    await sleep(3000);
    const before = rssMb(meshd.p.pid!);
    const t0 = Date.now();
    const ready: Promise<void>[] = [];
    for (let i = 0; i < idle; i++) {
      if (i % STREAMS_PER_CONNECTION === 0) sessions.push(connect(meshd.xdsPort));
      ready.push(new Stream(sessions[sessions.length - 1]!, i, false).ready);
      if (i % 200 === 199) await sleep(20); // no connect storm here: this phase measures held streams
    }
    const timeout = sleep(600_000).then(() => { throw new Error('idle streams not all answered in 10 minutes'); });
    await Promise.race([Promise.all(ready), timeout]);
    const connectS = (Date.now() - t0) / 1000;
    await sleep(10_000);
    const after = rssMb(meshd.p.pid!);
    Object.assign(out, {
      'streams.idle.count': idle,
      'streams.idle.connections': sessions.length,
      'streams.idle.all_acked_s': Number(connectS.toFixed(1)),
      'streams.idle.rss_before_mb': Math.round(before),
      'streams.idle.rss_mb': Math.round(after),
      'streams.idle.rss_per_stream_kb': Math.round(((after - before) * 1024) / idle),
      'streams.idle.peak_rss_mb': Math.round(rssMb(meshd.p.pid!, 'VmHWM')),
    });
  } finally {
    for (const s of sessions) s.destroy();
    meshd.stop();
  }
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN;
}

async function stuckPhase(stuck: number, services: number, changes: number, writeTimeoutS: number | undefined, out: Record<string, number>): Promise<void> {
  const meshd = await startMeshd(services, writeTimeoutS !== undefined ? ['--xds-write-timeout', `${writeTimeoutS}s`] : []);
  const sessions: http2.ClientHttp2Session[] = [];
  const dir = meshd.p.spawnargs[meshd.p.spawnargs.indexOf('--config-dir') + 1]!;
  try {
    const goodSession = connect(meshd.xdsPort);
    sessions.push(goodSession);
    const good = new Stream(goodSession, 0, false);
    await good.ready;
    await sleep(3000);
    const before = rssMb(meshd.p.pid!);
    for (let i = 1; i <= stuck; i++) {
      const s = connect(meshd.xdsPort, false); // one connection each, so HTTP/2 flow control is per client
      sessions.push(s);
      void new Stream(s, i, true);
    }
    await sleep(5000);
    const withStuck = rssMb(meshd.p.pid!);
    const times: number[] = [];
    const rss: number[] = [];
    for (let c = 0; c < changes; c++) {
      const seen = good.versions.get(T.Cluster);
      const t0 = performance.now();
      const got = new Promise<void>((resolve) => { good.onCds = (v) => { if (v !== seen) resolve(); }; });
      writeFileSync(join(dir, `extra-${c}.yaml`), serviceYaml(services + c));
      await Promise.race([got, sleep(60_000)]);
      times.push(performance.now() - t0);
      await sleep(1500);
      rss.push(rssMb(meshd.p.pid!));
    }
    Object.assign(out, {
      'streams.stuck.count': stuck,
      'streams.stuck.services': services,
      'streams.stuck.rss_before_mb': Math.round(before),
      'streams.stuck.rss_with_stuck_mb': Math.round(withStuck),
      'streams.stuck.rss_after_changes_max_mb': Math.round(Math.max(...rss)),
      'streams.stuck.rss_growth_per_change_mb': Number(((rss[rss.length - 1]! - rss[0]!) / Math.max(1, rss.length - 1)).toFixed(2)),
      'streams.stuck.good_client_change_p50_ms': Math.round(quantile(times, 0.5)),
      'streams.stuck.good_client_change_p99_ms': Math.round(quantile(times, 0.99)),
    });
    // The write timeout drops the stuck streams; then their memory is given back.
    const waitS = (writeTimeoutS ?? 60) + 15;
    const deadline = Date.now() + waitS * 1000;
    let open = NaN;
    while (Date.now() < deadline) {
      const m = await (await fetch(`http://127.0.0.1:${meshd.adminPort}/metrics`)).text();
      open = [...m.matchAll(/^meshd_xds_connected_proxies(?:\{[^}]*\})? (\S+)$/gm)].reduce((a, x) => a + Number(x[1]), 0);
      if (open <= 1) break;
      await sleep(2000);
    }
    await sleep(5000);
    Object.assign(out, {
      'streams.stuck.proxies_left_after_write_timeout': open,
      'streams.stuck.rss_after_drop_mb': Math.round(rssMb(meshd.p.pid!)),
      'streams.stuck.peak_rss_mb': Math.round(rssMb(meshd.p.pid!, 'VmHWM')),
    });
  } finally {
    for (const s of sessions) s.destroy();
    meshd.stop();
  }
}

/** Runs both phases and prints `key value` lines (and one JSON line with --json). */
export async function main(args: readonly string[]): Promise<void> {
  const out: Record<string, number> = {};
  const idle = flag(args, '--idle', 5000);
  const stuck = flag(args, '--stuck', 100);
  const wt = args.includes('--write-timeout') ? flag(args, '--write-timeout', 60) : undefined;
  if (idle > 0) await idlePhase(idle, out);
  if (stuck > 0) await stuckPhase(stuck, flag(args, '--services', 1000), flag(args, '--changes', 10), wt, out);
  for (const [k, v] of Object.entries(out)) console.log(`${k} ${v}`);
  if (args.includes('--json')) console.log(JSON.stringify(out));
}

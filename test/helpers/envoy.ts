/**
 * Real Envoy for tests: finds the pinned binary (scripts/ensure-envoy.sh), starts it with a
 * bootstrap, exposes its admin API, and always tears down. A missing binary is a failure,
 * never a skip.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import YAML from 'yaml';
import { waitFor } from './ports.js';
import { spawnCaptured } from './process.js';

const ENVOY_VERSION = '1.40.0';

/** Path of the Envoy binary; throws with what to do when it is missing. */
export function envoyBinary(): string {
  const fromEnv = process.env.MESH_ENVOY_BIN;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const cache = process.env.MESH_CACHE_DIR ?? join(homedir(), '.cache', 'meshd');
  const p = join(cache, `envoy-${ENVOY_VERSION}`, 'envoy');
  if (existsSync(p)) return p;
  throw new Error(`Envoy ${ENVOY_VERSION} not found: run \`bash scripts/ensure-envoy.sh\` (or set MESH_ENVOY_BIN)`);
}

/** Runs `envoy --mode validate` on a bootstrap; returns Envoy's verdict. */
export function validateBootstrap(bootstrap: unknown): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'envoy-validate-'));
  const file = join(dir, 'bootstrap.yaml');
  writeFileSync(file, YAML.stringify(bootstrap));
  const r = spawnSync(envoyBinary(), ['--mode', 'validate', '-c', file, '-l', 'error', '--disable-hot-restart'], { encoding: 'utf8', timeout: 60000 });
  rmSync(dir, { recursive: true, force: true });
  const output = `${r.stdout}${r.stderr}`;
  return { ok: r.status === 0 && /OK/.test(output), output };
}

export interface RunningEnvoy {
  readonly name: string;
  readonly adminPort: number;
  readonly process: ChildProcess;
  /** Envoy's log so far (stdout+stderr, including access logs). */
  log(): string;
  admin(path: string, init?: RequestInit): Promise<Response>;
  configDump(resource?: string): Promise<ConfigDump>;
  stats(filter?: string): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

export interface ConfigDump { configs: Record<string, unknown>[] }

const running = new Set<RunningEnvoy>();

/** Starts Envoy with `bootstrap`; resolves once its admin API answers. */
export async function startEnvoy(name: string, bootstrap: unknown, opts: { logLevel?: string } = {}): Promise<RunningEnvoy> {
  const dir = mkdtempSync(join(tmpdir(), `envoy-${name}-`));
  const file = join(dir, 'bootstrap.yaml');
  const addrFile = join(dir, 'admin-address');
  writeFileSync(file, YAML.stringify(bootstrap), { mode: 0o600 });
  const proc = spawnCaptured(envoyBinary(), [
    '-c', file, '--admin-address-path', addrFile, '--disable-hot-restart', '--concurrency', '1',
    '-l', opts.logLevel ?? 'warning', '--drain-time-s', '1', '--drain-strategy', 'immediate', '--parent-shutdown-time-s', '2',
  ]);
  const adminPort = await waitFor(`envoy ${name} admin address`, () => {
    if (proc.exited()) throw new Error(`envoy ${name} exited: ${proc.output().slice(-2000)}`);
    if (!existsSync(addrFile)) return undefined;
    const m = /:(\d+)\s*$/.exec(readFileSync(addrFile, 'utf8'));
    return m ? Number(m[1]) : undefined;
  }, 20000, 50);
  const base = `http://127.0.0.1:${adminPort}`;
  const e: RunningEnvoy = {
    name, adminPort, process: proc.child,
    log: proc.output,
    admin: (path, init) => fetch(base + path, init),
    async configDump(resource) {
      const r = await fetch(`${base}/config_dump${resource ? `?resource=${resource}` : ''}`);
      return await r.json() as ConfigDump;
    },
    async stats(filter) {
      const r = await fetch(`${base}/stats${filter ? `?filter=${encodeURIComponent(filter)}` : ''}`);
      const m = new Map<string, number>();
      for (const line of (await r.text()).split('\n')) {
        const i = line.lastIndexOf(': ');
        if (i > 0) { const v = Number(line.slice(i + 2)); if (!Number.isNaN(v)) m.set(line.slice(0, i), v); }
      }
      return m;
    },
    async stop() {
      running.delete(e);
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(e);
  return e;
}

/** Stops every Envoy this process started (for `after` hooks and crashes). */
export async function stopAllEnvoys(): Promise<void> {
  await Promise.all([...running].map((e) => e.stop()));
}
process.once('exit', () => { for (const e of running) e.process.kill('SIGKILL'); });
// A test that forgets to stop an Envoy must not keep its test file from finishing.
after(() => stopAllEnvoys());

/**
 * Starts meshd as a real process (bin/meshd) with free ports, for end-to-end tests, and
 * always tears it down.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnCaptured } from './process.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { waitFor } from './ports.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface RunningMeshd {
  readonly xdsPort: number;
  readonly secureXdsPort: number;
  readonly adminPort: number;
  readonly stateDir: string;
  readonly process: ChildProcess;
  log(): string;
  /** JSON log lines so far. */
  logLines(): Record<string, unknown>[];
  admin(path: string): Promise<Response>;
  adminJson<T = unknown>(path: string): Promise<T>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface MeshdStart {
  configDir: string;
  stateDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Reuse these ports (for restart tests). */
  ports?: { xds: number; secureXds: number; admin: number };
}

const running = new Set<RunningMeshd>();

/** Starts meshd and waits until /ready answers 200. */
export async function startMeshd(o: MeshdStart): Promise<RunningMeshd> {
  const stateDir = o.stateDir ?? mkdtempSync(join(tmpdir(), 'meshd-state-'));
  const ownsState = !o.stateDir;
  const proc = spawnCaptured(process.execPath, [
    join(REPO_ROOT, 'bin', 'meshd'), '--config-dir', o.configDir, '--state-dir', stateDir,
    '--xds-port', String(o.ports?.xds ?? 0), '--secure-xds-port', String(o.ports?.secureXds ?? 0), '--admin-port', String(o.ports?.admin ?? 0),
    '--debounce-quiet', '20ms', '--debounce-max', '200ms',
    ...(o.args ?? []),
  ], { env: { ...process.env, ...o.env } });
  const lines = (): Record<string, unknown>[] => proc.output().split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } });
  const ports = await waitFor('meshd to listen', () => {
    if (proc.exited()) throw new Error(`meshd exited: ${proc.output().slice(-3000)}`);
    const l = lines().find((x) => x.msg === 'meshd listening');
    return l ? { xds: Number(l.xdsPort), secure: Number(l.secureXdsPort), admin: Number(l.adminPort) } : undefined;
  }, 30000, 50);
  const base = `http://127.0.0.1:${ports.admin}`;
  const m: RunningMeshd = {
    xdsPort: ports.xds, secureXdsPort: ports.secure, adminPort: ports.admin, stateDir, process: proc.child,
    log: proc.output,
    logLines: lines,
    admin: (p) => fetch(base + p),
    async adminJson<T>(p: string) { const r = await fetch(base + p); if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`); return await r.json() as T; },
    async stop(signal = 'SIGTERM') {
      running.delete(m);
      await proc.stop(signal, 5000);
      if (ownsState) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  running.add(m);
  await waitFor('meshd /ready', async () => (await fetch(`${base}/ready`)).ok, 30000, 50);
  return m;
}

process.once('exit', () => { for (const m of running) m.process.kill('SIGKILL'); });
// A test that forgets to stop meshd must not keep its test file from finishing.
after(() => Promise.all([...running].map((m) => m.stop())).then(() => undefined));

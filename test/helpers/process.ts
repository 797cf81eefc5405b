/**
 * A child process for tests whose stdout and stderr are kept together, with a stop that
 * escalates from a signal to SIGKILL.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Captured {
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr interleaved). */
  output(): string;
  exited(): boolean;
  /** Sends `signal`, then SIGKILL if it has not exited within `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Spawns `command` with piped output captured in memory. */
export function spawnCaptured(command: string, args: readonly string[], opts: SpawnOptions = {}): Captured {
  const child = spawn(command, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  child.once('exit', () => { exited = true; });
  return {
    child,
    output: () => out,
    exited: () => exited,
    async stop(signal = 'SIGTERM', graceMs = 3000) {
      if (exited) return;
      child.kill(signal);
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, graceMs))]);
      if (!exited) child.kill('SIGKILL');
    },
  };
}

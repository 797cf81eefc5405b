// The crash loop shared by the file-store and Secret-store tests: run a CA phase in a child,
// SIGKILL it at a random point (a durable step chosen at random, or a random moment), then
// check what a restart sees.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './meshd.js';

export type CrashPhase = 'first' | 'introduce' | 'activate' | 'retire';

export interface ChildRun { readonly killed: boolean; readonly steps?: number; readonly output: string }

/** Runs the child; `crashAt` is a step index, or `delayMs` kills it from outside after that long. */
export function runCrashChild(kind: 'file' | 'secret', where: string, phase: CrashPhase, crash: { crashAt?: number; delayMs?: number }): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'test', 'helpers', 'ca-crash-child.js'), kind, where, phase, String(crash.crashAt ?? 1e9)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (crash.delayMs !== undefined) {
      // Start counting once the child has loaded its modules (its first output would be too late).
      timer = setTimeout(() => child.kill('SIGKILL'), crash.delayMs);
    }
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') { resolve({ killed: true, output: out }); return; }
      if (code !== 0) { reject(new Error(`crash child exited ${code}: ${out}`)); return; }
      const m = /steps (\d+)/.exec(out);
      resolve({ killed: false, steps: m ? Number(m[1]) : 0, output: out });
    });
  });
}

/** A deterministic pseudo-random sequence (seeded), so a failing run can be repeated. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

/**
 * Benches that measure meshd's own code run it as bin/meshd does: the environment and node
 * flags on bin/meshd's first line (allocator settings, the young generation's size), by
 * re-running the bench process with them.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * meshd's production runtime settings: the environment assignments and node flags on
 * bin/meshd's `#!/usr/bin/env -S ... node ...` line, so the bench measures the server as
 * meshd runs it.
 */
export function meshdRuntime(): { env: Record<string, string>; flags: string[] } {
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
export async function underMeshdRuntime(marker: string): Promise<number | undefined> {
  if (process.env[marker] === '1') return undefined;
  const rt = meshdRuntime();
  const child = spawn(process.execPath, [...process.execArgv, ...rt.flags, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, ...rt.env, [marker]: '1' },
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}


/** meshd's state dir: created 0700; an existing one that group or others can enter is tightened. */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';

/** Creates or checks the state dir; returns a warning line when it had to tighten its mode. */
export function ensureStateDir(dir: string): string | undefined {
  if (!existsSync(dir)) { mkdirSync(dir, { recursive: true, mode: 0o700 }); return undefined; }
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  try {
    chmodSync(dir, 0o700);
  } catch (e) {
    // A Kubernetes emptyDir is root's (mode 2777 with fsGroup): meshd, not its owner, cannot
    // tighten it. The key files inside are 0600 either way; say so instead of failing the start.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    return `state dir ${dir} has mode ${mode.toString(8).padStart(4, '0')} and is not meshd's to tighten (EPERM); the CA's key files in it are 0600`;
  }
  return `state dir ${dir} had mode ${mode.toString(8).padStart(4, '0')} (group or others could reach the CA's keys); tightened to 0700`;
}

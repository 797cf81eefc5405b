/** Shared helpers for the CA tests: temp dirs and the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'meshd-ca-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs openssl; returns stdout+stderr; throws with the output when it exits non-zero. */
export function openssl(args: readonly string[], input?: string): string {
  try {
    return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** Writes PEM text to a file in `dir` and returns its path. */
export function writePem(dir: string, name: string, pem: string | readonly string[]): string {
  const p = join(dir, name);
  writeFileSync(p, typeof pem === 'string' ? pem : pem.join(''));
  return p;
}

export const ALICE = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'alice' } as const;

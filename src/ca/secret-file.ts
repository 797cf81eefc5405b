/**
 * Files that hold CA and token state: written atomically and durably (temporary file, fsync,
 * rename, fsync of the directory), keys 0600 and refused when group/others can read them.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, openSync, closeSync, writeSync, fsyncSync, renameSync, statSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { CaError } from './errors.js';

/**
 * A hook called before each durable step (tests SIGKILL the process there, to prove that a
 * crash at any point loses nothing). Undefined in production.
 */
export type CrashPoint = (what: string) => void;
let crashPoint: CrashPoint | undefined;

/** Installs a crash-point hook for this process (crash tests only). */
export function setCrashPoint(fn: CrashPoint | undefined): void {
  crashPoint = fn;
}

/** Creates a directory (and parents) with mode 0700 if missing. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Makes a directory entry change (rename, unlink) durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Temporary files of writeFileAtomic are `.<name>.<random>.tmp`. */
export const TEMP_FILE = /^\..+\.[0-9a-f]+\.tmp$/;

/** Writes `content` to `path`: temporary file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  const dir = dirname(path);
  ensurePrivateDir(dir);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  crashPoint?.(`create ${tmp}`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    crashPoint?.(`write ${tmp}`);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  crashPoint?.(`rename ${tmp} to ${path}`);
  renameSync(tmp, path);
  crashPoint?.(`fsync ${dir}`);
  fsyncDir(dir);
}

/** Removes a file durably (a no-op when it is already gone). */
export function removeFileDurable(path: string): void {
  if (!existsSync(path)) return;
  crashPoint?.(`remove ${path}`);
  rmSync(path, { force: true });
  fsyncDir(dirname(path));
}

/** Removes temporary files a crashed writer left in `dir`; returns their names. */
export function removeTempFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const left = readdirSync(dir).filter((f) => TEMP_FILE.test(f));
  for (const f of left) rmSync(join(dir, f), { force: true });
  if (left.length > 0) fsyncDir(dir);
  return left;
}

/** Reads a key file; throws KEY_PERMISSIONS naming the file if group or others may read it. */
export function readPrivateFile(path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (e) {
    throw new CaError('STATE_IO', `cannot read key file ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if ((mode & 0o077) !== 0) {
    throw new CaError('KEY_PERMISSIONS', `key file ${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`);
  }
  return readFileSync(path, 'utf8');
}

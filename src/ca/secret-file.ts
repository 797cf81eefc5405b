/** Files that hold key material: written 0600 atomically, refused when group/others can read. */
import { chmodSync, mkdirSync, openSync, closeSync, writeSync, fsyncSync, renameSync, statSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { CaError } from './errors.js';

/** Creates a directory (and parents) with mode 0700 if missing. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Writes `content` to `path` via a temporary file and rename, with the given mode. */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  ensurePrivateDir(dirname(path));
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, path);
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

/**
 * The local admin credential: a random bearer token meshd writes once into
 * `<state-dir>/admin-token` (0600, atomically) and reuses on every start. meshctl reads the
 * same file. The token is compared by SHA-256 digest in constant time and never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPrivateFile, writeFileAtomic } from '../ca/secret-file.js';

/** The token's file name in the state dir. */
export const ADMIN_TOKEN_FILE = 'admin-token';

/** The token file's path in a state dir. */
export function adminTokenPath(stateDir: string): string {
  return join(stateDir, ADMIN_TOKEN_FILE);
}

/** Loads the admin token, creating it (32 random bytes, base64url, mode 0600) on first start. */
export function loadOrCreateAdminToken(stateDir: string): { token: string; path: string; created: boolean } {
  const path = adminTokenPath(stateDir);
  let created = false;
  if (!existsSync(path)) {
    writeFileAtomic(path, `${randomBytes(32).toString('base64url')}\n`, 0o600);
    created = true;
  }
  const token = readPrivateFile(path).trim();
  if (!/^[A-Za-z0-9_-]{32,}$/.test(token)) throw new Error(`${path}: not an admin token (remove the file and restart meshd to mint a new one)`);
  return { token, path, created };
}

/** Reads the admin token for a client (meshctl); undefined when the file is missing or unreadable. */
export function readAdminToken(stateDir: string): string | undefined {
  try {
    const t = readFileSync(adminTokenPath(stateDir), 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A constant-time check of a presented token against the expected one. */
export function tokenMatcher(expected: string): (presented: string) => boolean {
  const want = digest(expected);
  return (presented) => timingSafeEqual(digest(presented), want);
}

/**
 * The user's seed YAML (PeerAuthentication STRICT + "only frontend can call backend"), verbatim.
 * Read from `../shared/seed/` beside the repository (as CI lays it out), else from the
 * repository's own byte-identical copy in examples/mesh/30-security.yaml (a unit test keeps
 * the two identical).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './meshd.js';

export const SHARED_SEED_PATH = join(REPO_ROOT, '..', 'shared', 'seed', 'istio-strict-and-backend-access.yaml');
export const REPO_SEED_PATH = join(REPO_ROOT, 'examples', 'mesh', '30-security.yaml');

/** The seed's two documents as text. */
export function seedYaml(): string {
  return readFileSync(existsSync(SHARED_SEED_PATH) ? SHARED_SEED_PATH : REPO_SEED_PATH, 'utf8');
}

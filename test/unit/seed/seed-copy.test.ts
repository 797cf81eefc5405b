import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { REPO_SEED_PATH, SHARED_SEED_PATH } from '../../helpers/seed.js';

test('examples/mesh/30-security.yaml is the seed YAML verbatim', () => {
  // In CI shared/ lies beside the clone; elsewhere (a plain clone) only the copy exists.
  if (!existsSync(SHARED_SEED_PATH)) {
    assert.notEqual(process.env.CI, 'true', `CI must have the seed at ${SHARED_SEED_PATH}`);
    assert.ok(readFileSync(REPO_SEED_PATH, 'utf8').includes('principals: ["cluster.local/ns/production/sa/frontend"]'));
    return;
  }
  assert.equal(readFileSync(REPO_SEED_PATH, 'utf8'), readFileSync(SHARED_SEED_PATH, 'utf8'));
});

/** The canary file: read and rewrite the reviews weights in the demo's generated YAML, keeping its comments; a file without the VirtualService is a DemoError. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { percent, readCanaryWeights, writeCanaryWeights } from './canary.js';
import { DemoError } from './checks.js';
import { CANARY_FILE, CANARY_START, loopbackPlan, meshConfigFiles } from './topology.js';

function folder(t: { after(fn: () => void): void }, text = meshConfigFiles(loopbackPlan(0))[CANARY_FILE]!): string {
  const dir = mkdtempSync(join(tmpdir(), 'canary-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, CANARY_FILE), text);
  return dir;
}

test('the generated canary starts at 90/10; a rewrite changes only the weights, keeps the comments, and reads back', (t) => {
  const dir = folder(t);
  const before = readFileSync(join(dir, CANARY_FILE), 'utf8');
  assert.deepEqual(readCanaryWeights(dir), CANARY_START);
  writeCanaryWeights(dir, { v1: 0, v2: 100 });
  const after = readFileSync(join(dir, CANARY_FILE), 'utf8');
  assert.deepEqual(readCanaryWeights(dir), { v1: 0, v2: 100 });
  // Line by line, only the two weight lines differ (the sed in the file's comment keeps working).
  const a = before.split('\n');
  const b = after.split('\n');
  assert.equal(a.length, b.length);
  assert.deepEqual(a.map((l, i) => (l === b[i] ? null : [l.trim(), b[i]!.trim()])).filter(Boolean), [['weight: 90', 'weight: 0'], ['weight: 10', 'weight: 100']]);
  // The DestinationRule is untouched.
  assert.deepEqual(YAML.parseAllDocuments(after)[0]!.toJS(), YAML.parseAllDocuments(before)[0]!.toJS());
});

test('a file without the reviews VirtualService is a DemoError naming the file; percent normalises weights', (t) => {
  const dir = folder(t, 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec:\n  host: reviews\n');
  assert.throws(() => readCanaryWeights(dir), (e: unknown) => e instanceof DemoError && e.code === 'config-invalid' && e.message.includes(CANARY_FILE));
  assert.throws(() => writeCanaryWeights(dir, { v1: 1, v2: 1 }), (e: unknown) => e instanceof DemoError && e.code === 'config-invalid');
  assert.deepEqual(percent({ v1: 1, v2: 3 }), { v1: 25, v2: 75 });
});

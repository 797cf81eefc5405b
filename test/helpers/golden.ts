/**
 * Golden files: `test/golden/<area>/<case>/in.yaml` → `out.yaml`. A run compares; with
 * UPDATE_GOLDEN=1 it rewrites outputs and removes orphaned ones (an out.yaml whose case lost
 * its in.yaml). Paths are resolved in the source tree, not in dist/.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import YAML from 'yaml';

/** The repository root (this file runs from dist/test/helpers/). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

/** Case directories of one golden area, sorted; with UPDATE_GOLDEN, orphaned outputs are removed. */
export function goldenCases(area: string): { name: string; dir: string }[] {
  const root = join(REPO_ROOT, 'test', 'golden', area);
  const out: { name: string; dir: string }[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    if (!statSync(dir).isDirectory()) continue;
    const hasIn = existsSync(join(dir, 'in.yaml'));
    if (!hasIn) {
      if (UPDATE_GOLDEN) rmSync(dir, { recursive: true, force: true });
      else assert.fail(`golden case ${area}/${name} has no in.yaml (orphaned output: run with UPDATE_GOLDEN=1 to remove it)`);
      continue;
    }
    out.push({ name, dir });
  }
  return out;
}

/** YAML text for golden output: no anchors/aliases, no line folding. */
export function goldenYaml(value: unknown): string {
  return YAML.stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/** The case's input text (`<dir>/in.yaml`). */
export function readInput(dir: string): string {
  return readFileSync(join(dir, 'in.yaml'), 'utf8');
}

/**
 * Compares each output (file name → expected text) with the files in `dir` and returns the
 * problems (empty when all match). With UPDATE_GOLDEN=1 writes them instead, and removes
 * orphaned outputs (other files in the case directory besides in.yaml).
 */
export function checkGolden(dir: string, outputs: string | Readonly<Record<string, string>>): string[] {
  if (typeof outputs === 'string') {
    // Single-output form: `out.yaml`, asserting instead of returning the problems.
    const p = checkGolden(dir, { 'out.yaml': outputs });
    assert.deepEqual(p, []);
    return p;
  }
  const problems: string[] = [];
  const extra = readdirSync(dir).filter((f) => f !== 'in.yaml' && !(f in outputs)).sort();
  if (UPDATE_GOLDEN) {
    for (const [f, text] of Object.entries(outputs)) writeFileSync(join(dir, f), text);
    for (const f of extra) rmSync(join(dir, f), { recursive: true, force: true });
    return problems;
  }
  for (const [f, text] of Object.entries(outputs)) {
    const path = join(dir, f);
    if (!existsSync(path)) problems.push(`${path} is missing: run with UPDATE_GOLDEN=1 to create it`);
    else if (readFileSync(path, 'utf8') !== text) problems.push(`${path} differs: run with UPDATE_GOLDEN=1 to accept, then review the diff`);
  }
  for (const f of extra) problems.push(`${join(dir, f)} is not produced by the case (orphaned): run with UPDATE_GOLDEN=1 to remove it`);
  return problems;
}

/**
 * Property-based fuzzing with fast-check, bounded for `npm test` (FUZZ_RUNS, default 200 per
 * target) and longer with `npm run fuzz` (FUZZ_RUNS=20000, FUZZ_SECONDS=60 per target). Seeds
 * of failures found are kept in test/fuzz/regression-seeds.json and replayed first, every
 * run; a new failure prints the line to add there (and appends it to fuzz-failures.jsonl
 * when FUZZ_RECORD=1).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { REPO_ROOT } from './meshd.js';

interface SeedEntry { readonly target: string; readonly seed: number; readonly path?: string; readonly note?: string }

function regressionSeeds(target: string): SeedEntry[] {
  const all = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fuzz', 'regression-seeds.json'), 'utf8')) as SeedEntry[];
  return all.filter((s) => s.target === target);
}

/** Runs count per target in this run. */
export function fuzzRuns(): number {
  return Number(process.env.FUZZ_RUNS ?? 200);
}

/** Checks `prop` on the regression seeds of `target`, then on fresh random inputs; returns the runs done. */
export async function fuzz<T>(target: string, arb: fc.Arbitrary<T>, predicate: (v: T) => boolean | void | Promise<boolean | void>, runs = fuzzRuns()): Promise<number> {
  const asyncProp = fc.asyncProperty(arb, async (v) => { const r = await predicate(v); return r !== false; });
  for (const s of regressionSeeds(target)) {
    await fc.assert(asyncProp, { seed: s.seed, ...(s.path ? { path: s.path } : {}), numRuns: 1, endOnFailure: true });
  }
  const seconds = Number(process.env.FUZZ_SECONDS ?? 0);
  const details = await fc.check(asyncProp, { numRuns: runs, ...(seconds > 0 ? { interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false } : {}) });
  if (details.failed) {
    const line = JSON.stringify({ target, seed: details.seed, path: details.counterexamplePath ?? undefined, note: 'found by fuzzing' });
    if (process.env.FUZZ_RECORD === '1') appendFileSync(join(REPO_ROOT, 'fuzz-failures.jsonl'), line + '\n');
    const why = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`fuzz target ${target} failed after ${details.numRuns} runs: ${why}\nadd this to test/fuzz/regression-seeds.json:\n${line}\n${fc.defaultReportMessage(details) ?? ''}`);
  }
  console.log(`fuzz ${target}: ${details.numRuns} runs, seed ${details.seed}`);
  return details.numRuns;
}

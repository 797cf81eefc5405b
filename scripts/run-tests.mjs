#!/usr/bin/env node
// Runs the compiled tests with Node's own test runner. Groups: unit, e2e, k8s, browser (default: all).
// Real-Envoy and real-kube-apiserver tests fail (never skip) when their binaries are missing
// and CI=true; `.ci/run` installs them first. Browser tests need Debian's chromium (`.ci/run`
// installs it with apt) and fail without it under CI=true.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const groups = process.argv.slice(2);
const wanted = groups.length ? groups : ['unit', 'e2e', 'k8s', 'browser'];
const files = [];
function walk(dir) {
  let entries;
  try { entries = readdirSync(dir); } catch { return; }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (e.endsWith('.test.js')) files.push(p);
  }
}
for (const g of wanted) {
  walk(join('dist', 'test', g));
  if (g === 'unit') walk(join('dist', 'src'));
}
if (files.length === 0) {
  console.error(`no test files for ${wanted.join(', ')}`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileStore, type FileStore } from '../../../src/config/file-store.js';
import { formatDiagnostic } from '../../../src/model/types.js';
import type { MeshObject } from '../../../src/config/parse.js';

const SVC = (name: string, port: number, ns = 'default') => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec: { selector: { app: ${name} }, ports: [{ name: http, port: ${port} }] }
`;

let bump = 0;
/** Writes a file with a distinct mtime (file systems with coarse timestamps would hide an edit). */
function write(path: string, text: string): void {
  writeFileSync(path, text);
  const t = new Date(Date.now() + (++bump) * 2000);
  utimesSync(path, t, t);
}

function ports(store: FileStore): string[] {
  return store.objects().map((o: MeshObject) => o.kind === 'Service' ? `${o.value.meta.name}:${o.value.ports[0]!.port}` : `${o.kind}:${o.value.meta.name}`);
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshd-file-store-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

test('loads *.yaml and *.yml recursively, multi-document, skipping other files', withDir(async (dir) => {
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  write(join(dir, 'a.yaml'), SVC('a', 1) + '---\n' + SVC('b', 2) + '---\n');
  write(join(dir, 'sub', 'deeper', 'c.yml'), SVC('c', 3));
  write(join(dir, 'notes.txt'), 'not yaml: [');
  write(join(dir, '.hidden.yaml'), SVC('h', 9));
  const changes: number[] = [];
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0, onChange: (o) => changes.push(o.length) });
  await store.start();
  assert.deepEqual(ports(store), ['a:1', 'b:2', 'c:3']);
  assert.deepEqual(changes, [3]);
  assert.deepEqual(store.diagnostics(), []);
  assert.equal(await store.rescan(), false, 'nothing changed');
  store.close();
}));

test('bad YAML keeps the file\'s last good objects and names the file and line', withDir(async (dir) => {
  const f = join(dir, 'a.yaml');
  write(f, SVC('a', 1));
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0 });
  await store.start();
  write(f, SVC('a', 2) + 'spec: [unclosed\n');
  assert.equal(await store.rescan(), true);
  assert.deepEqual(ports(store), ['a:1']);
  const d = store.diagnostics();
  assert.equal(d.length, 1);
  assert.equal(d[0]!.source, f);
  assert.match(d[0]!.field, /^line \d+$/);
  write(f, SVC('a', 3));
  await store.rescan();
  assert.deepEqual(ports(store), ['a:3']);
  assert.deepEqual(store.diagnostics(), []);
  store.close();
}));

test('an invalid object keeps its last good version; diagnostics name file, object and field', withDir(async (dir) => {
  const f = join(dir, 'a.yaml');
  write(f, SVC('a', 1) + '---\n' + SVC('b', 2));
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0 });
  await store.start();
  write(f, SVC('a', 70000) + '---\n' + SVC('b', 5));
  await store.rescan();
  assert.deepEqual(ports(store), ['a:1', 'b:5']);
  const lines = store.diagnostics().map(formatDiagnostic);
  assert.ok(lines.includes(`error: ${f}: Service default/a: spec.ports[0].port: must be an integer 1-65535`), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('warning:') && l.includes('last good version stays in force')));
  // A new invalid object has no last good version: it is simply absent.
  write(f, SVC('a', 70000) + '---\n' + SVC('b', 5) + '---\n' + SVC('c', 0));
  await store.rescan();
  assert.deepEqual(ports(store), ['a:1', 'b:5']);
  store.close();
}));

test('edits, deletions and duplicates across files (first by file name wins)', withDir(async (dir) => {
  const seen: string[][] = [];
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0, onChange: () => seen.push(ports(store)) });
  write(join(dir, '10-a.yaml'), SVC('a', 1));
  write(join(dir, '20-dup.yaml'), SVC('a', 2) + '---\n' + SVC('d', 4));
  await store.start();
  assert.deepEqual(ports(store), ['a:1', 'd:4']);
  const dup = store.diagnostics();
  assert.equal(dup.length, 1);
  assert.equal(dup[0]!.source, join(dir, '20-dup.yaml'));
  assert.match(dup[0]!.message, /10-a\.yaml/);
  unlinkSync(join(dir, '10-a.yaml'));
  await store.rescan();
  assert.deepEqual(ports(store), ['a:2', 'd:4']);
  assert.deepEqual(store.diagnostics(), []);
  write(join(dir, '20-dup.yaml'), SVC('d', 5));
  await store.rescan();
  assert.deepEqual(ports(store), ['d:5']);
  assert.deepEqual(seen, [['a:1', 'd:4'], ['a:2', 'd:4'], ['d:5']]);
  store.close();
}));

test('unknown kinds are warnings; a missing directory is a diagnostic, not a crash', withDir(async (dir) => {
  write(join(dir, 'a.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\n');
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0 });
  await store.start();
  assert.deepEqual(store.diagnostics().map((d) => d.severity), ['warning']);
  const gone = createFileStore({ dir: join(dir, 'nope'), watch: false, rescanIntervalMs: 0 });
  await gone.start();
  assert.equal(gone.diagnostics()[0]!.kind, 'Directory');
  store.close(); gone.close();
}));

test('a watched directory reports an edit through the debouncer', withDir(async (dir) => {
  write(join(dir, 'a.yaml'), SVC('a', 1));
  let resolve!: (v: string[]) => void;
  const next = new Promise<string[]>((r) => { resolve = r; });
  let calls = 0;
  const store = createFileStore({
    dir, rescanIntervalMs: 200, debounce: { quietMs: 20, maxMs: 200 },
    onChange: () => { if (++calls === 2) resolve(ports(store)); },
  });
  await store.start();
  write(join(dir, 'b.yaml'), SVC('b', 2));
  const timeout = new Promise<string[]>((_, rej) => setTimeout(() => rej(new Error('no change seen within 5 s')), 5000).unref());
  assert.deepEqual(await Promise.race([next, timeout]), ['a:1', 'b:2']);
  store.close();
}));

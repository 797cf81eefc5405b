/**
 * The file store: a directory of YAML files (`*.yaml`, `*.yml`, recursively, multi-document)
 * holding the same kinds as Kubernetes. Watched with fs.watch plus a periodic rescan, debounced.
 * Bad input never removes good state: a file whose YAML does not parse keeps its last good
 * objects, and an invalid object keeps its last good version; both are reported as diagnostics.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Diagnostic } from '../model/types.js';
import { DEFAULT_MESH_CONFIG } from '../model/types.js';
import { createDebouncer, type DebounceOptions, type Debouncer } from './debounce.js';
import { keyOf, type MeshObject, type ObjectKey, parseObject } from './parse.js';
import { sortObjects } from './snapshot.js';
import { DEFAULT_YAML_LIMITS } from './safe-yaml.js';
import { createYamlParser } from './yaml-parser.js';

/** Default per-file size cap (--config-max-file-bytes): 8 MiB, far above any real object set. */
export const DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024;
/** Default cap on objects in force across the store (--config-max-objects). */
export const DEFAULT_MAX_OBJECTS = 50_000;

export interface FileStoreOptions {
  readonly dir: string;
  /** Namespace for objects without one. Default `default`. */
  readonly defaultNamespace?: string;
  readonly domainSuffix?: string;
  readonly debounce?: DebounceOptions;
  /** Periodic rescan (fallback for missed fs events); 0 disables. Default 2000 ms. */
  readonly rescanIntervalMs?: number;
  /** Use fs.watch. Default true. */
  readonly watch?: boolean;
  /** Files larger than this are refused (their last good objects stay). Default 8 MiB. */
  readonly maxFileBytes?: number;
  /** Objects in force across all files; a file that would pass it is refused. Default 50,000. */
  readonly maxObjects?: number;
  /** A file whose parse takes longer is refused. Default 20 s. */
  readonly parseTimeoutMs?: number;
  /** Parse on the event loop instead of a worker thread (tests that compare). */
  readonly parseInline?: boolean;
  /** Called after every change of the objects in force or of the diagnostics. */
  readonly onChange?: (objects: readonly MeshObject[], diagnostics: readonly Diagnostic[]) => void;
}

export interface FileStore {
  /** Loads the directory once (calling onChange) and starts watching. */
  start(): Promise<void>;
  /** Re-reads changed files now; resolves true when objects or diagnostics changed. */
  rescan(): Promise<boolean>;
  /** The objects in force, sorted by kind, namespace, name. */
  objects(): readonly MeshObject[];
  /** Current problems: per file, then duplicates. */
  diagnostics(): readonly Diagnostic[];
  /** Stops watching. */
  close(): void;
}

interface FileState {
  readonly mtimeMs: number;
  readonly size: number;
  readonly hash: string;
  /** Objects in force from this file, in document order. */
  readonly objects: ReadonlyMap<ObjectKey, MeshObject>;
  readonly diagnostics: readonly Diagnostic[];
}

const YAML_FILE = /\.ya?ml$/;

/**
 * Lists YAML files under `dir`, relative paths, sorted; dot-files and dot-dirs are skipped.
 * Each directory is walked once (by device and inode), so links that loop are reported in
 * `loops` instead of being walked forever.
 */
async function listYamlFiles(dir: string, sub: string, visited: Map<string, string>, loops: Diagnostic[]): Promise<string[]> {
  const out: string[] = [];
  const names = (await readdir(join(dir, sub))).sort();
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const rel = sub ? join(sub, n) : n;
    let st;
    try { st = await stat(join(dir, rel)); } catch { continue; }
    if (st.isDirectory()) {
      const id = `${st.dev}:${st.ino}`;
      const first = visited.get(id);
      if (first !== undefined) {
        loops.push({ severity: 'warning', source: join(dir, rel), kind: 'Directory', field: '', message: `is the same directory as ${join(dir, first)} (a link loop?); not read twice` });
        continue;
      }
      visited.set(id, rel);
      out.push(...await listYamlFiles(dir, rel, visited, loops));
    } else if (st.isFile() && YAML_FILE.test(n)) out.push(rel);
  }
  return out;
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Creates a file store over `opts.dir`; nothing happens until `start()`. */
export function createFileStore(opts: FileStoreOptions): FileStore {
  const ctxBase = { defaultNamespace: opts.defaultNamespace ?? 'default' };
  const parseOpts = { domainSuffix: opts.domainSuffix ?? DEFAULT_MESH_CONFIG.domainSuffix };
  const files = new Map<string, FileState>();
  let inForce: readonly MeshObject[] = [];
  let diags: readonly Diagnostic[] = [];
  let dirDiag: Diagnostic[] = [];
  let running: Promise<boolean> | undefined;
  let again = false;
  let watcher: FSWatcher | undefined;
  let interval: ReturnType<typeof setInterval> | undefined;
  let debouncer: Debouncer | undefined;
  let closed = false;
  const maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxObjects = opts.maxObjects ?? DEFAULT_MAX_OBJECTS;
  const yamlLimits = { ...DEFAULT_YAML_LIMITS, maxDocuments: maxObjects };
  const parser = createYamlParser({ ...(opts.parseTimeoutMs ? { timeoutMs: opts.parseTimeoutMs } : {}), ...(opts.parseInline ? { inline: true } : {}) });

  /** A whole file refused: one diagnostic, and the file's last good objects stay in force. */
  function refused(source: string, prev: FileState | undefined, field: string, message: string): Pick<FileState, 'objects' | 'diagnostics'> {
    return { objects: prev?.objects ?? new Map(), diagnostics: [{ severity: 'error', source, kind: 'YAML', field, message: `${message}; the file's last good objects stay in force` }] };
  }

  async function parseFile(source: string, text: string, prev: FileState | undefined): Promise<Pick<FileState, 'objects' | 'diagnostics'>> {
    const parsed = await parser.parse(text, yamlLimits);
    if (!parsed.ok) return refused(source, prev, parsed.line ? `line ${parsed.line}` : '', parsed.message);
    const objects = new Map<ObjectKey, MeshObject>();
    const diagnostics: Diagnostic[] = [];
    const ctx = { ...ctxBase, source };
    let n = 0;
    for (const raw of parsed.docs) {
      // Validation runs on the event loop: in slices, so the ADS server keeps answering.
      if (++n % 500 === 0) await yieldToLoop();
      if (raw === null || raw === undefined) continue;
      const r = parseObject(raw, ctx, parseOpts);
      diagnostics.push(...r.diagnostics);
      if (r.status === 'ignored') continue;
      const key = r.key;
      if (key !== undefined && objects.has(key)) {
        diagnostics.push({ severity: 'error', source, kind: key.split('/')[0]!, field: 'metadata.name', message: `${key} is defined twice in this file; the first one wins` });
        continue;
      }
      if (r.status === 'ok') objects.set(r.key, r.object);
      else if (key !== undefined) {
        const last = prev?.objects.get(key);
        if (last) {
          objects.set(key, last);
          const first = r.diagnostics[0];
          diagnostics.push({ ...(first ?? { severity: 'error', source, kind: key.split('/')[0]!, field: '' }), severity: 'warning', field: '', message: 'invalid; its last good version stays in force' });
        }
      }
    }
    return { objects, diagnostics };
  }

  async function scanOnce(): Promise<boolean> {
    let rels: string[];
    try {
      const loops: Diagnostic[] = [];
      rels = await listYamlFiles(opts.dir, '', new Map(), loops);
      dirDiag = loops;
    } catch (e: unknown) {
      rels = [];
      dirDiag = [{ severity: 'error', source: opts.dir, kind: 'Directory', field: '', message: `cannot read: ${e instanceof Error ? e.message : String(e)}` }];
    }
    const present = new Set(rels);
    for (const rel of [...files.keys()]) if (!present.has(rel)) files.delete(rel);
    for (const rel of rels) {
      const path = join(opts.dir, rel);
      const prev = files.get(rel);
      let st;
      try { st = await stat(path); } catch { files.delete(rel); continue; }
      if (prev && prev.mtimeMs === st.mtimeMs && prev.size === st.size) continue;
      if (st.size > maxFileBytes) {
        const r = refused(path, prev, '', `${st.size} bytes exceed the limit of ${maxFileBytes} bytes per file (--config-max-file-bytes)`);
        files.set(rel, { mtimeMs: st.mtimeMs, size: st.size, hash: '', ...r });
        continue;
      }
      let text: string;
      try { text = await readFile(path, 'utf8'); } catch { continue; }
      if (Buffer.byteLength(text) > maxFileBytes) {
        files.set(rel, { mtimeMs: st.mtimeMs, size: st.size, hash: '', ...refused(path, prev, '', `more than ${maxFileBytes} bytes (--config-max-file-bytes)`) });
        continue;
      }
      const hash = createHash('sha256').update(text).digest('hex');
      if (prev && prev.hash === hash) { files.set(rel, { ...prev, mtimeMs: st.mtimeMs, size: st.size }); continue; }
      files.set(rel, { mtimeMs: st.mtimeMs, size: st.size, hash, ...await parseFile(path, text, prev) });
    }
    return publish();
  }

  /** Merges the files in name order (first definition wins) and reports whether anything moved. */
  function publish(): boolean {
    const owner = new Map<ObjectKey, string>();
    const merged: MeshObject[] = [];
    const dup: Diagnostic[] = [];
    const perFile: Diagnostic[] = [];
    let count = 0;
    for (const rel of [...files.keys()].sort()) {
      const f = files.get(rel)!;
      perFile.push(...f.diagnostics);
      if (count + f.objects.size > maxObjects) {
        perFile.push({ severity: 'error', source: join(opts.dir, rel), kind: 'YAML', field: '', message: `its ${f.objects.size} objects would take the store past the limit of ${maxObjects} objects (--config-max-objects); the file is not applied` });
        continue;
      }
      count += f.objects.size;
      for (const [key, o] of f.objects) {
        const first = owner.get(key);
        if (first !== undefined) {
          const m = o.value.meta;
          dup.push({ severity: 'error', source: join(opts.dir, rel), kind: o.kind, ...(m.namespace ? { namespace: m.namespace } : {}), name: m.name, field: 'metadata.name', message: `duplicate of the object in ${join(opts.dir, first)}, which wins (first by file name)` });
          continue;
        }
        owner.set(key, rel);
        merged.push(o);
      }
    }
    const next = sortObjects(merged);
    const nextDiags = [...dirDiag, ...perFile, ...dup];
    const same = next.length === inForce.length && next.every((o, i) => o === inForce[i]) && JSON.stringify(nextDiags) === JSON.stringify(diags);
    inForce = next;
    diags = nextDiags;
    if (!same) opts.onChange?.(inForce, diags);
    return !same;
  }

  /** A rescan that failed (a bug or an I/O error) is a diagnostic, never an unhandled rejection. */
  function reportScanFailure(e: unknown): void {
    dirDiag = [...dirDiag, { severity: 'error', source: opts.dir, kind: 'Directory', field: '', message: `rescan failed: ${e instanceof Error ? e.message : String(e)}; the last good objects stay in force` }];
    publish();
  }

  function rescan(): Promise<boolean> {
    if (running) { again = true; return running; }
    running = (async () => {
      let any = false;
      do { again = false; any = (await scanOnce()) || any; } while (again && !closed);
      return any;
    })().finally(() => { running = undefined; });
    return running;
  }

  return {
    async start() {
      await rescan().catch(reportScanFailure);
      if (opts.onChange && inForce.length === 0 && diags.length === 0) opts.onChange(inForce, diags);
      debouncer = createDebouncer(() => { rescan().catch(reportScanFailure); }, opts.debounce);
      if (opts.watch ?? true) {
        try {
          watcher = watch(opts.dir, { recursive: true }, () => debouncer?.trigger());
          watcher.on('error', () => { /* the periodic rescan still runs */ });
        } catch { /* no watch support here: the periodic rescan covers it */ }
      }
      const every = opts.rescanIntervalMs ?? 2000;
      if (every > 0) { interval = setInterval(() => debouncer?.trigger(), every); interval.unref(); }
    },
    rescan,
    objects: () => inForce,
    diagnostics: () => diags,
    close() {
      closed = true;
      watcher?.close();
      parser.close();
      if (interval) clearInterval(interval);
      debouncer?.cancel();
    },
  };
}

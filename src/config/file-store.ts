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
import YAML from 'yaml';
import type { Diagnostic } from '../model/types.js';
import { DEFAULT_MESH_CONFIG } from '../model/types.js';
import { createDebouncer, type DebounceOptions, type Debouncer } from './debounce.js';
import { keyOf, type MeshObject, type ObjectKey, parseObject } from './parse.js';
import { sortObjects } from './snapshot.js';

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

/** Lists YAML files under `dir`, relative paths, sorted; dot-files and dot-dirs are skipped. */
async function listYamlFiles(dir: string, sub = ''): Promise<string[]> {
  const out: string[] = [];
  const names = (await readdir(join(dir, sub))).sort();
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const rel = sub ? join(sub, n) : n;
    let st;
    try { st = await stat(join(dir, rel)); } catch { continue; }
    if (st.isDirectory()) out.push(...await listYamlFiles(dir, rel));
    else if (st.isFile() && YAML_FILE.test(n)) out.push(rel);
  }
  return out;
}

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

  function parseFile(source: string, text: string, prev: FileState | undefined): Pick<FileState, 'objects' | 'diagnostics'> {
    const docs = YAML.parseAllDocuments(text);
    const list = Array.isArray(docs) ? docs : [docs];
    const yamlErrors: Diagnostic[] = [];
    for (const d of list) {
      for (const e of d.errors) {
        const line = e.linePos?.[0]?.line;
        yamlErrors.push({ severity: 'error', source, kind: 'YAML', field: line ? `line ${line}` : '', message: `${e.message.split('\n')[0]}; the file's last good objects stay in force` });
      }
    }
    if (yamlErrors.length > 0) {
      // One diagnostic per file: later YAML errors are usually echoes of the first.
      const first = yamlErrors[0]!;
      const more = yamlErrors.length > 1 ? ` (${yamlErrors.length - 1} more YAML errors after it)` : '';
      return { objects: prev?.objects ?? new Map(), diagnostics: [{ ...first, message: first.message + more }] };
    }
    const objects = new Map<ObjectKey, MeshObject>();
    const diagnostics: Diagnostic[] = [];
    const ctx = { ...ctxBase, source };
    for (const d of list) {
      const raw: unknown = d.toJS({ maxAliasCount: 100 });
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
      rels = await listYamlFiles(opts.dir);
      dirDiag = [];
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
      let text: string;
      try { text = await readFile(path, 'utf8'); } catch { continue; }
      const hash = createHash('sha256').update(text).digest('hex');
      if (prev && prev.hash === hash) { files.set(rel, { ...prev, mtimeMs: st.mtimeMs, size: st.size }); continue; }
      files.set(rel, { mtimeMs: st.mtimeMs, size: st.size, hash, ...parseFile(path, text, prev) });
    }
    return publish();
  }

  /** Merges the files in name order (first definition wins) and reports whether anything moved. */
  function publish(): boolean {
    const owner = new Map<ObjectKey, string>();
    const merged: MeshObject[] = [];
    const dup: Diagnostic[] = [];
    const perFile: Diagnostic[] = [];
    for (const rel of [...files.keys()].sort()) {
      const f = files.get(rel)!;
      perFile.push(...f.diagnostics);
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
      await rescan();
      if (opts.onChange && inForce.length === 0 && diags.length === 0) opts.onChange(inForce, diags);
      debouncer = createDebouncer(() => { void rescan(); }, opts.debounce);
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
      if (interval) clearInterval(interval);
      debouncer?.cancel();
    },
  };
}

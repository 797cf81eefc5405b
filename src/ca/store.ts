/**
 * Where the CA keeps its roots. `CaStore` is the seam: the file store below for the
 * file-store mode, an in-memory one for tests, a Kubernetes Secret one later.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaError } from './errors.js';
import { readPrivateFile, writeFileAtomic, ensurePrivateDir, removeFileDurable, removeTempFiles } from './secret-file.js';
import { parseCertificatesPem } from './pem.js';

/** steady: one root. introduced: [old, new], old signs. activated: [old, new], new signs. */
export type RotationPhase = 'steady' | 'introduced' | 'activated';

export interface CaRootRecord {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CaState {
  readonly phase: RotationPhase;
  readonly signingRootId: string;
  /** Oldest first; every root here is in the trust bundle. */
  readonly roots: readonly CaRootRecord[];
}

export interface CaStore {
  /** The persisted state, or undefined when nothing was ever stored. Corrupt state throws. */
  load(): Promise<CaState | undefined>;
  /** Persists the whole state; roots not in it may be deleted. */
  save(state: CaState): Promise<void>;
  /** Where the state lives, for messages. */
  readonly location: string;
}

/** A store in memory (tests, and a template for other backends). */
export class MemoryCaStore implements CaStore {
  readonly location = 'memory';
  saves = 0;
  constructor(private state?: CaState) {}
  async load(): Promise<CaState | undefined> {
    return this.state;
  }
  async save(state: CaState): Promise<void> {
    this.state = state;
    this.saves++;
  }
}

const PHASES: readonly RotationPhase[] = ['steady', 'introduced', 'activated'];
const ID = /^root-[0-9]+$/;

const ROOT_FILE = /^(root-[0-9]+)-(cert|key)\.pem$/;
/** Present while a first start writes its root: root files without state.json are then ours to drop. */
const FIRST_START = 'first-start.pending';

/**
 * `<state-dir>/ca/`: state.json, `<id>-cert.pem`, `<id>-key.pem` (0600). state.json is the
 * commit point: root files it does not list are leftovers of a crashed step (removed on load,
 * certificate before key, so a key never goes missing while its certificate stays).
 */
export class FileCaStore implements CaStore {
  readonly dir: string;
  constructor(stateDir: string) {
    this.dir = join(stateDir, 'ca');
  }
  get location(): string {
    return this.dir;
  }

  /** Reads and checks every file; a bad file is an error naming it, never overwritten. */
  async load(): Promise<CaState | undefined> {
    const statePath = join(this.dir, 'state.json');
    removeTempFiles(this.dir);
    if (!existsSync(statePath)) {
      const leftovers = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => ROOT_FILE.test(f)).sort() : [];
      if (existsSync(join(this.dir, FIRST_START))) {
        // A first start died before its commit: its root was never used; start over.
        this.removeRootFiles(leftovers);
        removeFileDurable(join(this.dir, FIRST_START));
        return undefined;
      }
      if (leftovers.length > 0) {
        throw new CaError('STATE_CORRUPT', `${statePath} is missing but ${join(this.dir, leftovers[0]!)} exists; refusing to generate a new root over existing CA files`);
      }
      return undefined;
    }
    const corrupt = (file: string, why: string): CaError => new CaError('STATE_CORRUPT', `corrupt CA state file ${file}: ${why}`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(statePath, 'utf8'));
    } catch (e) {
      throw corrupt(statePath, e instanceof Error ? e.message : String(e));
    }
    if (typeof raw !== 'object' || raw === null) throw corrupt(statePath, 'not a JSON object');
    const o = raw as Record<string, unknown>;
    if (o['version'] !== 1) throw corrupt(statePath, 'version must be 1');
    const phase = o['phase'];
    if (typeof phase !== 'string' || !(PHASES as readonly string[]).includes(phase)) throw corrupt(statePath, `phase must be one of ${PHASES.join(', ')}`);
    const ids = o['roots'];
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((r): r is string => typeof r === 'string' && ID.test(r))) {
      throw corrupt(statePath, 'roots must be a non-empty list of root ids');
    }
    const signing = o['signingRootId'];
    if (typeof signing !== 'string' || !ids.includes(signing)) throw corrupt(statePath, 'signingRootId must name one of the roots');
    const roots = ids.map((id) => this.readRoot(id));
    removeFileDurable(join(this.dir, FIRST_START));
    this.removeRootFiles(readdirSync(this.dir).filter((f) => ROOT_FILE.test(f) && !ids.includes(f.replace(ROOT_FILE, '$1'))));
    return { phase: phase as RotationPhase, signingRootId: signing, roots };
  }

  private readRoot(id: string): CaRootRecord {
    const certPath = join(this.dir, `${id}-cert.pem`);
    const keyPath = join(this.dir, `${id}-key.pem`);
    let certPem: string;
    try {
      certPem = readFileSync(certPath, 'utf8');
    } catch (e) {
      throw new CaError('STATE_CORRUPT', `cannot read CA certificate ${certPath}: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      const ders = parseCertificatesPem(certPem);
      if (ders.length !== 1) throw new Error(`expected one CERTIFICATE block, found ${ders.length}`);
      new X509Certificate(ders[0]!);
    } catch (e) {
      throw new CaError('STATE_CORRUPT', `corrupt CA certificate file ${certPath}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const keyPem = readPrivateFile(keyPath);
    try {
      createPrivateKey(keyPem);
    } catch (e) {
      throw new CaError('STATE_CORRUPT', `corrupt CA key file ${keyPath}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { id, certPem, keyPem };
  }

  /**
   * Writes keys, then certificates, then state.json (the commit point), each atomically and
   * durably; a first start is marked so that a crash before its commit is recognised.
   */
  async save(state: CaState): Promise<void> {
    ensurePrivateDir(this.dir);
    const statePath = join(this.dir, 'state.json');
    const first = !existsSync(statePath);
    if (first) writeFileAtomic(join(this.dir, FIRST_START), '', 0o600);
    for (const r of state.roots) {
      // A crashed step may have left files under this id with other content: replace them.
      writeIfDifferent(join(this.dir, `${r.id}-key.pem`), r.keyPem, 0o600);
      writeIfDifferent(join(this.dir, `${r.id}-cert.pem`), r.certPem, 0o644);
    }
    const doc = { version: 1, phase: state.phase, signingRootId: state.signingRootId, roots: state.roots.map((r) => r.id) };
    writeFileAtomic(statePath, JSON.stringify(doc, null, 2) + '\n', 0o644);
    if (first) removeFileDurable(join(this.dir, FIRST_START));
    const keep = new Set(state.roots.map((r) => r.id));
    this.removeRootFiles(readdirSync(this.dir).filter((f) => ROOT_FILE.test(f) && !keep.has(f.replace(ROOT_FILE, '$1'))));
  }

  /** Removes root files, every certificate before any key. */
  private removeRootFiles(names: readonly string[]): void {
    const order = [...names].sort((a, b) => Number(b.endsWith('-cert.pem')) - Number(a.endsWith('-cert.pem')) || a.localeCompare(b));
    for (const f of order) removeFileDurable(join(this.dir, f));
  }
}

function writeIfDifferent(path: string, content: string, mode: number): void {
  let same = false;
  try { same = readFileSync(path, 'utf8') === content; } catch { same = false; }
  if (!same) writeFileAtomic(path, content, mode);
}

/**
 * Where the CA keeps its roots. `CaStore` is the seam: the file store below for the
 * file-store mode, an in-memory one for tests, a Kubernetes Secret one later.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CaError } from './errors.js';
import { readPrivateFile, writeFileAtomic, ensurePrivateDir } from './secret-file.js';
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

/** `<state-dir>/ca/`: state.json, `<id>-cert.pem`, `<id>-key.pem` (0600). */
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
    if (!existsSync(statePath)) {
      const leftovers = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => /^root-[0-9]+-(cert|key)\.pem$/.test(f)).sort() : [];
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

  /** Writes keys and certificates first, state.json last (the commit point). */
  async save(state: CaState): Promise<void> {
    ensurePrivateDir(this.dir);
    for (const r of state.roots) {
      const keyPath = join(this.dir, `${r.id}-key.pem`);
      const certPath = join(this.dir, `${r.id}-cert.pem`);
      if (!existsSync(keyPath)) writeFileAtomic(keyPath, r.keyPem, 0o600);
      if (!existsSync(certPath)) writeFileAtomic(certPath, r.certPem, 0o644);
    }
    const doc = { version: 1, phase: state.phase, signingRootId: state.signingRootId, roots: state.roots.map((r) => r.id) };
    writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(doc, null, 2) + '\n', 0o644);
    const keep = new Set(state.roots.flatMap((r) => [`${r.id}-key.pem`, `${r.id}-cert.pem`]));
    for (const f of readdirSync(this.dir)) {
      if (ID.test(f.replace(/-(cert|key)\.pem$/, '')) && f.endsWith('.pem') && !keep.has(f)) rmSync(join(this.dir, f));
    }
  }
}

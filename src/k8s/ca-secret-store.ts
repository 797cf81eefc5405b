/**
 * meshd's CA state in a Kubernetes Secret (`meshd-ca` in meshd's namespace): `state.json`
 * (phase, signing root, root ids) plus `<id>-cert.pem` and `<id>-key.pem` per root. Writes use
 * the Secret's resourceVersion, so two replicas can never overwrite each other's root.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { CaError } from '../ca/errors.js';
import type { CaRootRecord, CaState, CaStore, RotationPhase } from '../ca/store.js';
import { isRecord } from '../config/fields.js';
import { KubeError, statusError, type KubeClient } from './kube-client.js';

const PHASES: readonly string[] = ['steady', 'introduced', 'activated'];

/** A CaStore on a Secret; `save` creates it (409 if another replica won) or updates it. */
export class SecretCaStore implements CaStore {
  private resourceVersion?: string;
  constructor(private readonly client: KubeClient, readonly namespace: string, readonly name = 'meshd-ca') {}

  get location(): string {
    return `Secret ${this.namespace}/${this.name}`;
  }

  private get path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`;
  }

  async load(): Promise<CaState | undefined> {
    const r = await this.client.request('GET', `${this.path}/${encodeURIComponent(this.name)}`);
    if (r.status === 404) { this.resourceVersion = undefined; return undefined; }
    if (r.status !== 200) throw statusError(r, `read ${this.location}`);
    const body = r.body;
    if (!isRecord(body) || !isRecord(body.data)) throw new CaError('STATE_CORRUPT', `${this.location} has no data`);
    this.resourceVersion = isRecord(body.metadata) && typeof body.metadata.resourceVersion === 'string' ? body.metadata.resourceVersion : undefined;
    const data = body.data;
    const get = (k: string): string => {
      const v = data[k];
      if (typeof v !== 'string') throw new CaError('STATE_CORRUPT', `${this.location}: key ${k} is missing`);
      return Buffer.from(v, 'base64').toString('utf8');
    };
    let doc: unknown;
    try { doc = JSON.parse(get('state.json')); } catch (e) {
      if (e instanceof CaError) throw e;
      throw new CaError('STATE_CORRUPT', `${this.location}: state.json is not JSON`);
    }
    if (!isRecord(doc) || doc.version !== 1 || typeof doc.phase !== 'string' || !PHASES.includes(doc.phase) || typeof doc.signingRootId !== 'string' || !Array.isArray(doc.roots) || doc.roots.length === 0) {
      throw new CaError('STATE_CORRUPT', `${this.location}: state.json must have version 1, phase, signingRootId and roots`);
    }
    const roots: CaRootRecord[] = doc.roots.map((id) => {
      if (typeof id !== 'string' || !/^root-[0-9]+$/.test(id)) throw new CaError('STATE_CORRUPT', `${this.location}: bad root id ${String(id)}`);
      const certPem = get(`${id}-cert.pem`);
      const keyPem = get(`${id}-key.pem`);
      try { new X509Certificate(certPem); createPrivateKey(keyPem); } catch (e) {
        throw new CaError('STATE_CORRUPT', `${this.location}: root ${id}: ${e instanceof Error ? e.message : String(e)}`);
      }
      return { id, certPem, keyPem };
    });
    if (!roots.some((x) => x.id === doc.signingRootId)) throw new CaError('STATE_CORRUPT', `${this.location}: signingRootId names no root`);
    return { phase: doc.phase as RotationPhase, signingRootId: doc.signingRootId, roots };
  }

  async save(state: CaState): Promise<void> {
    const data: Record<string, string> = {
      'state.json': Buffer.from(JSON.stringify({ version: 1, phase: state.phase, signingRootId: state.signingRootId, roots: state.roots.map((r) => r.id) })).toString('base64'),
    };
    for (const r of state.roots) {
      data[`${r.id}-cert.pem`] = Buffer.from(r.certPem).toString('base64');
      data[`${r.id}-key.pem`] = Buffer.from(r.keyPem).toString('base64');
    }
    const metadata = { name: this.name, namespace: this.namespace, labels: { 'app.kubernetes.io/managed-by': 'meshd' }, ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}) };
    const body = { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata, data };
    const r = this.resourceVersion
      ? await this.client.request('PUT', `${this.path}/${encodeURIComponent(this.name)}`, { body })
      : await this.client.request('POST', this.path, { body });
    if (r.status < 200 || r.status >= 300) {
      const e = statusError(r, `write ${this.location}`);
      throw r.status === 409 ? new KubeError(409, `${e.message} (another meshd replica wrote it first)`, 'Conflict') : e;
    }
    const b = r.body;
    this.resourceVersion = isRecord(b) && isRecord(b.metadata) && typeof b.metadata.resourceVersion === 'string' ? b.metadata.resourceVersion : undefined;
  }
}

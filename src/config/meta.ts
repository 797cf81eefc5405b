/**
 * `metadata` of any object: name, namespace, labels, annotations. Kubernetes' bookkeeping
 * fields are accepted and ignored (objects from the API server carry them).
 */
import type { ObjectMeta } from '../model/types.js';
import type { ParseContext } from '../model/parse-result.js';
import { type Checker, isDnsLabel, isDnsSubdomain, isRecord } from './fields.js';

const KNOWN_METADATA = [
  'name', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'creationTimestamp',
  'generation', 'managedFields', 'ownerReferences', 'finalizers', 'generateName',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink',
];

/** The identity an object claims, read leniently (for naming diagnostics and last-good keys). */
export function peekIdentity(raw: unknown, ctx: ParseContext, namespaced: boolean): { name?: string; namespace?: string } {
  if (!isRecord(raw) || !isRecord(raw.metadata)) return {};
  const m = raw.metadata;
  const name = typeof m.name === 'string' && m.name !== '' ? m.name : undefined;
  const namespace = namespaced ? (typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : ctx.defaultNamespace) : '';
  return { ...(name !== undefined ? { name } : {}), namespace };
}

/**
 * Parses `metadata`. Namespaced objects default to `ctx.defaultNamespace`; cluster-scoped ones
 * get namespace ''. Names follow Kubernetes' DNS rules (`dnsLabelName` for Services and
 * Namespaces, subdomain otherwise).
 */
export function parseMeta(raw: Record<string, unknown>, c: Checker, ctx: ParseContext, opts: { namespaced: boolean; dnsLabelName: boolean }): ObjectMeta | undefined {
  const m = c.record(raw, 'metadata', '');
  if (!m) { c.error('metadata', 'is required'); return undefined; }
  c.unknownKeys(m, KNOWN_METADATA, 'metadata');
  const name = c.string(m, 'name', 'metadata');
  if (name === undefined || name === '') c.error('metadata.name', 'is required');
  else if (opts.dnsLabelName ? !isDnsLabel(name) : !isDnsSubdomain(name)) {
    c.error('metadata.name', `must be a DNS-1123 ${opts.dnsLabelName ? 'label' : 'subdomain'} (lowercase letters, digits, '-')`);
  }
  let namespace = '';
  if (opts.namespaced) {
    const ns = c.string(m, 'namespace', 'metadata');
    namespace = ns === undefined || ns === '' ? ctx.defaultNamespace : ns;
    if (!isDnsLabel(namespace)) c.error('metadata.namespace', 'must be a DNS-1123 label');
  }
  const labels = c.stringMap(m, 'labels', 'metadata');
  const annotations = c.stringMap(m, 'annotations', 'metadata');
  if (name === undefined || name === '') return undefined;
  const rv = typeof m.resourceVersion === 'string' ? { resourceVersion: m.resourceVersion } : {};
  const uid = typeof m.uid === 'string' ? { uid: m.uid } : {};
  const ts = typeof m.creationTimestamp === 'string' ? { creationTimestamp: m.creationTimestamp } : {};
  return { name, namespace, labels, annotations, source: ctx.source, ...ts, ...rv, ...uid };
}

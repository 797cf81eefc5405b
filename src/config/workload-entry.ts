/** `networking.istio.io` WorkloadEntry → model Workload. */
import type { Workload } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { Checker, isRecord, join } from './fields.js';
import { parseMeta, peekIdentity } from './meta.js';
import { locality as readLocality } from './traffic/locality.js';

const KNOWN_TOP = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const KNOWN_SPEC = ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'];

export const APP_ADDRESS_ANNOTATION = 'meshd.dev/app-address';
export const OUTBOUND_ADDRESS_ANNOTATION = 'meshd.dev/outbound-address';
export const INJECT_KEY = 'sidecar.istio.io/inject';

/**
 * Validates a WorkloadEntry. `locality` (`region/zone/subzone`) and `weight` feed
 * locality-aware and weighted load balancing (weight 0 means "unset", as Istio). The workload's name is `metadata.name`; its service account
 * defaults to `default`; `sidecar.istio.io/inject: "false"` (label or annotation) marks it
 * as outside the mesh (`meshed: false`: callers send it plaintext). Always ready.
 */
export function parseWorkloadEntry(raw: unknown, ctx: ParseContext): ParseResult<Workload> {
  const id = peekIdentity(raw, ctx, true);
  const c = new Checker(ctx, 'WorkloadEntry', id.namespace, id.name);
  if (!isRecord(raw)) { c.error('', 'must be a mapping'); return { ok: false, diagnostics: c.diagnostics }; }
  c.unknownKeys(raw, KNOWN_TOP, '');
  const meta = parseMeta(raw, c, ctx, { namespaced: true, dnsLabelName: false });
  const spec = c.record(raw, 'spec', '');
  if (!spec) { c.error('spec', 'is required'); return { ok: false, diagnostics: c.diagnostics }; }
  c.unknownKeys(spec, KNOWN_SPEC, 'spec');
  if (spec.address === undefined || spec.address === null) c.error('spec.address', 'is required');
  const address = c.ip(spec.address, 'spec.address');
  const labels = c.stringMap(spec, 'labels', 'spec');
  const sa = c.string(spec, 'serviceAccount', 'spec');
  const ports: Record<string, number> = {};
  const rawPorts = c.record(spec, 'ports', 'spec');
  for (const k of Object.keys(rawPorts ?? {}).sort()) {
    const p = c.port(rawPorts![k], join('spec.ports', k));
    if (p !== undefined) ports[k] = p;
  }
  if (spec.weight !== undefined && (typeof spec.weight !== 'number' || !Number.isInteger(spec.weight) || spec.weight < 0)) {
    c.error('spec.weight', 'must be a non-negative integer');
  }
  const weight = typeof spec.weight === 'number' && Number.isInteger(spec.weight) && spec.weight > 0 ? spec.weight : undefined;
  const locality = readLocality(c, spec, 'spec');
  const annotations = meta?.annotations ?? {};
  const appAddress = c.ip(annotations[APP_ADDRESS_ANNOTATION], join('metadata.annotations', APP_ADDRESS_ANNOTATION));
  const outboundAddress = c.ip(annotations[OUTBOUND_ADDRESS_ANNOTATION], join('metadata.annotations', OUTBOUND_ADDRESS_ANNOTATION));
  const inject = annotations[INJECT_KEY] ?? meta?.labels[INJECT_KEY] ?? labels[INJECT_KEY];
  if (c.hasErrors || !meta || address === undefined) return { ok: false, diagnostics: c.diagnostics };
  // Selection uses spec.labels, falling back to (and merged over) metadata.labels.
  const merged = Object.fromEntries(Object.entries({ ...meta.labels, ...labels }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const value: Workload = {
    meta, name: meta.name, namespace: meta.namespace, address, labels: merged,
    serviceAccount: sa === undefined || sa === '' ? 'default' : sa,
    ports, meshed: inject !== 'false', ready: true,
    ...(appAddress !== undefined ? { appAddress } : {}),
    ...(outboundAddress !== undefined ? { outboundAddress } : {}),
    ...(locality ? { locality } : {}),
    ...(weight !== undefined ? { weight } : {}),
  };
  return { ok: true, value, warnings: c.warnings };
}

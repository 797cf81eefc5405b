/**
 * Pods' localities, as Istio derives them: the pod label `topology.istio.io/locality` or the
 * legacy `istio-locality` (`region.zone.subzone`; dots because labels cannot hold `/`) wins;
 * else the labels of the pod's node: `topology.kubernetes.io/region` and `/zone` (falling back
 * to the deprecated `failure-domain.beta.kubernetes.io/*`) and `topology.istio.io/subzone`.
 */
import type { Labels } from '../model/types.js';
import type { Locality } from '../model/traffic.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { Checker, isRecord, join } from '../config/fields.js';
import { parseMeta, peekIdentity } from '../config/meta.js';
import { parseLocality } from '../config/traffic/locality.js';

export const POD_LOCALITY_LABELS = ['topology.istio.io/locality', 'istio-locality'] as const;
export const REGION_LABELS = ['topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/region'] as const;
export const ZONE_LABELS = ['topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/zone'] as const;
export const SUBZONE_LABEL = 'topology.istio.io/subzone';

/** A Node as the mesh sees it: its name and the locality its topology labels give. */
export interface NodeInfo {
  readonly kind: 'Node';
  readonly name: string;
  readonly locality?: Locality;
}

const first = (labels: Labels, keys: readonly string[]): string | undefined => {
  for (const k of keys) if (labels[k]) return labels[k];
  return undefined;
};

/**
 * The locality of a node's labels; undefined when it has none. A missing part left of a
 * present one is the empty string (Envoy's localities allow that), as Istio does.
 */
export function nodeLocality(labels: Labels): Locality | undefined {
  const region = first(labels, REGION_LABELS);
  const zone = first(labels, ZONE_LABELS);
  const subZone = labels[SUBZONE_LABEL] || undefined;
  if (region === undefined && zone === undefined && subZone === undefined) return undefined;
  return { region: region ?? '', ...(zone !== undefined || subZone !== undefined ? { zone: zone ?? '' } : {}), ...(subZone !== undefined ? { subZone } : {}) };
}

/** Validates a Node; only its name and topology labels matter (status heartbeats change nothing). */
export function parseNode(raw: unknown, ctx: ParseContext): ParseResult<NodeInfo> {
  const id = peekIdentity(raw, ctx, false);
  const c = new Checker(ctx, 'Node', '', id.name);
  if (!isRecord(raw)) { c.error('', 'must be a mapping'); return { ok: false, diagnostics: c.diagnostics }; }
  const meta = parseMeta(raw, c, ctx, { namespaced: false, dnsLabelName: false });
  if (c.hasErrors || !meta) return { ok: false, diagnostics: c.diagnostics };
  const locality = nodeLocality(meta.labels);
  return { ok: true, value: { kind: 'Node', name: meta.name, ...(locality ? { locality } : {}) }, warnings: c.warnings };
}

/**
 * The locality a pod's own labels set (Istio's override), checked: `region.zone.subzone` or
 * `region/zone/subzone`. A malformed value is a warning on the pod and is ignored.
 */
export function podLocalityOverride(c: Checker, labels: Labels): Locality | undefined {
  for (const key of POD_LOCALITY_LABELS) {
    const v = labels[key];
    if (v === undefined || v === '') continue;
    const l = parseLocality(v.includes('/') ? v : v.split('.').join('/'));
    if (!l) c.warn(join('metadata.labels', key), `${JSON.stringify(v)} is not a locality ("region", "region.zone" or "region.zone.subzone"); ignored`);
    return l;
  }
  return undefined;
}

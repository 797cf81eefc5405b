/** `networking.istio.io` DestinationRule → model DestinationRule. */
import type { DestinationRule, Subset } from '../../model/traffic.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import type { ParseOptions } from '../service.js';
import { isDnsLabel, join } from '../fields.js';
import { hostProblem, resolveHost } from './hosts.js';
import { finish, openObject, reject } from './object.js';
import { exportTo, labels, record, records, selector, str, strictKeys } from './read.js';
import { trafficPolicy } from './traffic-policy.js';

/**
 * Validates a DestinationRule: the host resolved in its namespace, subsets with unique
 * DNS-label names and at least one label each, policies at every level, exportTo, and a
 * workloadSelector that (as Istio requires) keeps the rule in its own namespace.
 */
export function parseDestinationRule(raw: unknown, ctx: ParseContext, opts: ParseOptions): ParseResult<DestinationRule> {
  const { c, meta, spec } = openObject(raw, ctx, 'DestinationRule');
  if (!spec) return reject(c);
  strictKeys(c, spec, ['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'], 'spec');
  const ns = meta?.namespace ?? ctx.defaultNamespace;
  const host = str(c, spec, 'host', 'spec', true);
  if (host !== undefined) {
    const p = host === '*' ? '"*" is not allowed (name a host, or "*.<domain>")' : hostProblem(host, { allowStar: false });
    if (p) c.error('spec.host', p);
  }
  const tp = record(c, spec, 'trafficPolicy', 'spec');
  const policy = tp ? trafficPolicy(c, tp, 'spec.trafficPolicy') : undefined;
  const subsets: Subset[] = [];
  for (const { item, path } of records(c, spec, 'subsets', 'spec')) {
    strictKeys(c, item, ['name', 'labels', 'trafficPolicy'], path);
    const name = str(c, item, 'name', path, true);
    if (name !== undefined && !isDnsLabel(name)) c.error(join(path, 'name'), `${JSON.stringify(name)} is not a valid subset name (a DNS-1123 label)`);
    if (name !== undefined && subsets.some((s) => s.name === name)) c.error(join(path, 'name'), `duplicate subset name ${JSON.stringify(name)}`);
    const l = labels(c, item, 'labels', path) ?? {};
    if (Object.keys(l).length === 0) c.error(join(path, 'labels'), 'a subset must select at least one label');
    const stp = record(c, item, 'trafficPolicy', path);
    const sp = stp ? trafficPolicy(c, stp, join(path, 'trafficPolicy')) : undefined;
    if (name !== undefined) subsets.push({ name, labels: l, ...(sp ? { trafficPolicy: sp } : {}) });
  }
  const workloadSelector = selector(c, spec, 'workloadSelector', 'matchLabels');
  const exp = exportTo(c, spec, ns, false);
  if (workloadSelector && !(exp.length === 1 && exp[0] === ns) && spec.exportTo !== undefined) {
    c.error('spec.exportTo', `a DestinationRule with a workloadSelector can only be exported to its own namespace (${ns})`);
  }
  if (c.hasErrors || !meta || host === undefined) return reject(c);
  const value: DestinationRule = {
    meta, host: resolveHost(host, ns, opts.domainSuffix),
    // A selector-scoped rule is visible in its own namespace only (Istio's rule).
    exportTo: workloadSelector ? [ns] : exp,
    ...(workloadSelector ? { workloadSelector } : {}),
    ...(policy ? { trafficPolicy: policy } : {}),
    subsets,
  };
  return finish(c, value);
}

/**
 * destinationRuleFor finds a host's candidate rules through a per-namespace index (exact host,
 * then the wildcard patterns) instead of scanning every rule of the namespace. This checks it
 * against that scan, written out here as the module comment states the rule, on random rule sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Labels, MeshSnapshot } from '../../../src/model/types.js';
import type { DestinationRule } from '../../../src/model/traffic.js';
import { destinationRuleFor } from '../../../src/xds/translate/destination-rules.js';
import { exportedTo, hostMatches } from '../../../src/xds/translate/registry.js';
import { snap } from './snap.js';

const NAMESPACES = ['a', 'b', 'istio-system'];
const HOSTS = ['x.a.svc.cluster.local', 'y.b.svc.cluster.local', '*.svc.cluster.local', '*.b.svc.cluster.local', '*', 'ext.example.com', '*.example.com'];

function scanBest(rules: readonly DestinationRule[], ns: string, hostname: string, proxyNs: string, labels: Labels | undefined): DestinationRule | undefined {
  const list = rules.filter((r) => r.meta.namespace === ns)
    .sort((p, q) => ((p.meta.creationTimestamp ?? '') < (q.meta.creationTimestamp ?? '') ? -1 : (p.meta.creationTimestamp ?? '') > (q.meta.creationTimestamp ?? '') ? 1 : p.meta.name < q.meta.name ? -1 : p.meta.name > q.meta.name ? 1 : 0));
  const rank = (r: DestinationRule): number => (r.workloadSelector ? 1_000_000 : 0) + (r.host === hostname ? 100_000 : 0) + r.host.length;
  let best: DestinationRule | undefined;
  for (const r of list) {
    if (!exportedTo(r.exportTo, proxyNs) && r.meta.namespace !== proxyNs) continue;
    if (r.workloadSelector && (!labels || !Object.keys(r.workloadSelector).every((k) => labels[k] === r.workloadSelector![k]))) continue;
    if (!hostMatches(r.host, hostname)) continue;
    if (!best || rank(r) > rank(best)) best = r;
  }
  return best;
}

function scan(s: MeshSnapshot, proxyNs: string, labels: Labels, hostname: string, hostNs: string): DestinationRule | undefined {
  const root = s.config.rootNamespace;
  return scanBest(s.destinationRules, proxyNs, hostname, proxyNs, labels)
    ?? (hostNs !== proxyNs ? scanBest(s.destinationRules, hostNs, hostname, proxyNs, undefined) : undefined)
    ?? (root !== proxyNs && root !== hostNs ? scanBest(s.destinationRules, root, hostname, proxyNs, undefined) : undefined);
}

const ruleArb = fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  host: fc.constantFrom(...HOSTS),
  ts: fc.option(fc.constantFrom('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z'), { nil: undefined }),
  exportTo: fc.constantFrom(['*'], ['a'], ['b'], ['.']),
  selector: fc.option(fc.constantFrom({ app: 'p' }, { app: 'q' }), { nil: undefined }),
});

test('the indexed DestinationRule lookup picks what a scan of every rule picks', () => {
  const base = snap('');
  fc.assert(fc.property(fc.array(ruleArb, { maxLength: 12 }), fc.constantFrom('a', 'b'), fc.constantFrom<Labels>({ app: 'p' }, {}), (raw, proxyNs, labels) => {
    const rules: DestinationRule[] = raw.map((r, i) => ({
      meta: { name: `dr-${i % 4}-${i}`, namespace: r.ns, labels: {}, annotations: {}, source: 'test', ...(r.ts ? { creationTimestamp: r.ts } : {}) },
      host: r.host,
      exportTo: r.exportTo[0] === '.' ? [r.ns] : r.exportTo,
      ...(r.selector ? { workloadSelector: r.selector } : {}),
      subsets: [],
    }));
    const s: MeshSnapshot = { ...base, destinationRules: rules };
    for (const hostname of HOSTS) {
      for (const hostNs of NAMESPACES) {
        assert.equal(destinationRuleFor(s, proxyNs, labels, hostname, hostNs), scan(s, proxyNs, labels, hostname, hostNs), `${proxyNs} → ${hostname} (${hostNs})`);
      }
    }
  }), { numRuns: 500 });
});

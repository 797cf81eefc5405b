/**
 * Learned scoping's analyzer: what `meshctl analyze` says about sidecars narrowed to what their
 * workload calls (meshd --scoping observed). One `info` line per scoped workload naming every
 * dependency outside its namespace that its scope keeps and why (seen in access logs, asked for
 * on demand, or pinned by the on-demand stream), and a warning where calls outside the scope
 * fail instead of being resolved on demand.
 */
import type { KeptDependency } from '../xds/translate/scoping.js';
import type { Analyzer, AnalyzerResult, AnalyzeInput } from './types.js';

const WHY: Readonly<Record<KeptDependency['source'], string>> = {
  observed: 'called',
  'on-demand': 'asked for on demand',
  pinned: 'held by the on-demand stream',
};

/** `ns/host (called 2m ago, leaves in 8m)`: one kept dependency, times relative to `now`. */
export function describeKept(d: KeptDependency, now: number): string {
  const ago = (ms: number): string => (ms < 60_000 ? `${Math.max(0, Math.round(ms / 1000))}s` : `${Math.round(ms / 60_000)}m`);
  const when = d.source === 'pinned' ? '' : ` ${ago(now - d.lastSeen)} ago`;
  const until = d.expiresAt === undefined ? ', kept while that stream lives' : `, leaves in ${ago(d.expiresAt - now)} unless called again`;
  return `${d.namespace}/${d.hostname} (${WHY[d.source]}${when}${until})`;
}

function learnedScope(input: AnalyzeInput): AnalyzerResult[] {
  const now = input.now ?? Date.now();
  const out: AnalyzerResult[] = [];
  for (const w of input.scopes ?? []) {
    const base = { source: 'meshd', kind: 'Workload', namespace: w.namespace, name: w.workload, field: 'scope' } as const;
    const deps = w.kept.length === 0 ? 'keeps no dependency outside its namespace' : `keeps ${w.kept.length} ${w.kept.length === 1 ? 'dependency' : 'dependencies'} outside its namespace: ${w.kept.map((d) => describeKept(d, now)).join(', ')}`;
    out.push({ ...base, severity: 'info', message: `learned scope (${w.reason}; ${w.proxies} ${w.proxies === 1 ? 'proxy' : 'proxies'}) ${deps}` });
    if (!w.onDemand) {
      out.push({ ...base, severity: 'warning', message: `on-demand discovery is off (meshd --scoping-on-demand=false): a call to a service outside its namespace that it has not made within the window fails (no cluster, 503 NR) until an access log brings it into the scope` });
    }
  }
  return out;
}

/** The scoping analyzers, in order. */
export const SCOPING_ANALYZERS: readonly Analyzer[] = [
  { name: 'learned-scope', description: 'per workload under learned scoping (meshd --scoping observed): the dependencies outside its namespace its sidecars keep and why (info), and scopes without on-demand discovery (warning)', run: learnedScope },
];

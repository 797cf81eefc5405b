/**
 * `meshctl analyze` and `/debug/analyze`: an explicit, ordered list of analyzers run over one
 * input. Another area adds its analyzers as its own list in its own file and one entry here.
 */
import type { AnalyzeInput, Analyzer, Finding } from './types.js';
import { SECURITY_ANALYZERS } from './security.js';
import { TRAFFIC_ANALYZERS } from './traffic.js';
import { SCOPING_ANALYZERS } from './scoping.js';

export type { AnalyzeInput, Analyzer, AnalyzerResult, Finding, ScopedWorkload } from './types.js';

/** Every analyzer, in order. */
export const ANALYZERS: readonly Analyzer[] = [
  ...SECURITY_ANALYZERS,
  ...TRAFFIC_ANALYZERS,
  ...SCOPING_ANALYZERS,
];

const RANK = { error: 0, warning: 1, info: 2 } as const;

/** Runs analyzers in order; each finding names its analyzer. Errors sort before warnings, warnings before info, within an analyzer. */
export function analyze(input: AnalyzeInput, analyzers: readonly Analyzer[] = ANALYZERS): Finding[] {
  return analyzers.flatMap((a) => a.run(input).map((d) => ({ ...d, analyzer: a.name }))
    .sort((x, y) => RANK[x.severity] - RANK[y.severity]));
}

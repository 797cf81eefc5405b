/**
 * The analyzer seam: an analyzer is a pure function from what meshd knows (the snapshot, and
 * when run inside meshd, what telemetry saw) to diagnostics naming the object and field.
 */
import type { Diagnostic, MeshSnapshot } from '../model/types.js';
import type { EdgeRow, PlaintextReport } from '../telemetry/index.js';
import type { KeptDependency } from '../xds/translate/scoping.js';

/** A workload under learned scoping (meshd --scoping observed) and the dependencies its scope keeps. */
export interface ScopedWorkload {
  readonly namespace: string;
  readonly workload: string;
  /** Why it is scoped: the flag or the namespace label. */
  readonly reason: string;
  /** Whether calls outside the scope are resolved on demand (ODCDS). */
  readonly onDemand: boolean;
  /** Connected proxies of this workload. */
  readonly proxies: number;
  /** Dependencies outside its own namespace, sorted by namespace and hostname. */
  readonly kept: readonly KeptDependency[];
}

/** What analyzers see: never mutated by them. */
export interface AnalyzeInput {
  readonly snapshot: MeshSnapshot;
  /** Plaintext seen per destination (meshd's telemetry); absent when analyzing files offline. */
  readonly plaintext?: PlaintextReport;
  /** Who called whom (meshd's telemetry edges); absent offline. */
  readonly edges?: readonly EdgeRow[];
  /** The config source's diagnostics (invalid objects, warnings), so analyze shows why an object is not applied. */
  readonly diagnostics?: readonly Diagnostic[];
  /** Workloads under learned scoping and what their scopes keep (meshd's scoping); absent offline or with scoping off. */
  readonly scopes?: readonly ScopedWorkload[];
  /** Epoch ms for relative times in findings (defaults to the clock). */
  readonly now?: number;
}

/**
 * What an analyzer reports: a diagnostic, or `info` (a fact the operator asked to see, such as
 * the dependencies a learned scope keeps; never changes the exit status).
 */
export type AnalyzerResult = Omit<Diagnostic, 'severity'> & { readonly severity: Diagnostic['severity'] | 'info' };

/** One analyzer: a stable name (shown with each finding) and the check itself. */
export interface Analyzer {
  readonly name: string;
  /** One line: what it looks for. */
  readonly description: string;
  readonly run: (input: AnalyzeInput) => AnalyzerResult[];
}

/** A result and the analyzer that found it. */
export type Finding = AnalyzerResult & { readonly analyzer: string };

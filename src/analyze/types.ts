/**
 * The analyzer seam: an analyzer is a pure function from what meshd knows (the snapshot, and
 * when run inside meshd, what telemetry saw) to diagnostics naming the object and field.
 */
import type { Diagnostic, MeshSnapshot } from '../model/types.js';
import type { EdgeRow, PlaintextReport } from '../telemetry/index.js';

/** What analyzers see: never mutated by them. */
export interface AnalyzeInput {
  readonly snapshot: MeshSnapshot;
  /** Plaintext seen per destination (meshd's telemetry); absent when analyzing files offline. */
  readonly plaintext?: PlaintextReport;
  /** Who called whom (meshd's telemetry edges); absent offline. */
  readonly edges?: readonly EdgeRow[];
  /** The config source's diagnostics (invalid objects, warnings), so analyze shows why an object is not applied. */
  readonly diagnostics?: readonly Diagnostic[];
}

/** One analyzer: a stable name (shown with each finding) and the check itself. */
export interface Analyzer {
  readonly name: string;
  /** One line: what it looks for. */
  readonly description: string;
  readonly run: (input: AnalyzeInput) => Diagnostic[];
}

/** A diagnostic and the analyzer that found it. */
export type Finding = Diagnostic & { readonly analyzer: string };

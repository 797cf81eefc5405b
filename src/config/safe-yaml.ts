/**
 * YAML text to plain values, with every way a hostile file can hurt the parser turned into
 * a typed failure: alias bombs (an alias budget), deep nesting (a depth cap, and a stack
 * overflow caught), too many documents. Pure and synchronous: the file store runs it in a
 * worker thread (yaml-worker.ts) so a big file never blocks the event loop.
 */
import YAML from 'yaml';

export interface YamlLimits {
  /** Documents per file; more is refused before any is converted. */
  readonly maxDocuments: number;
  /** Nesting of mappings and sequences inside one document. */
  readonly maxDepth: number;
  /** Aliases resolved per document (yaml's own guard against billion-laughs). */
  readonly maxAliasCount: number;
}

export const DEFAULT_YAML_LIMITS: YamlLimits = { maxDocuments: 50_000, maxDepth: 64, maxAliasCount: 100 };

/** Documents as plain values (null for empty ones), or the first problem with its line. */
export type YamlOutcome =
  | { readonly ok: true; readonly docs: readonly unknown[] }
  | { readonly ok: false; readonly line?: number; readonly message: string };

/** Parses a multi-document YAML text; never throws (a thrown parser error is a failure too). */
export function parseYamlDocuments(text: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): YamlOutcome {
  let list: YAML.Document.Parsed[];
  try {
    const docs = YAML.parseAllDocuments(text);
    list = Array.isArray(docs) ? docs : [docs as unknown as YAML.Document.Parsed];
  } catch (e) {
    return { ok: false, message: thrown(e, 'parsing', limits) };
  }
  const errors = list.flatMap((d) => d.errors);
  if (errors.length > 0) {
    // One failure per file: later YAML errors are usually echoes of the first.
    const first = errors[0]!;
    const more = errors.length > 1 ? ` (${errors.length - 1} more YAML errors after it)` : '';
    const line = first.linePos?.[0]?.line;
    return { ok: false, ...(line ? { line } : {}), message: first.message.split('\n')[0]! + more };
  }
  if (list.length > limits.maxDocuments) {
    return { ok: false, message: `${list.length} documents in one file exceed the limit of ${limits.maxDocuments} (--config-max-objects)` };
  }
  const out: unknown[] = [];
  for (const d of list) {
    let v: unknown;
    try {
      v = d.toJS({ maxAliasCount: limits.maxAliasCount });
    } catch (e) {
      const line = d.range ? lineOf(text, d.range[0]) : undefined;
      return { ok: false, ...(line ? { line } : {}), message: thrown(e, 'converting', limits) };
    }
    const depth = depthOf(v, limits.maxDepth);
    if (depth > limits.maxDepth) {
      const line = d.range ? lineOf(text, d.range[0]) : undefined;
      return { ok: false, ...(line ? { line } : {}), message: `a document nests deeper than ${limits.maxDepth} levels` };
    }
    out.push(v ?? null);
  }
  return { ok: true, docs: out };
}

function thrown(e: unknown, stage: string, limits: YamlLimits): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof RangeError || /call stack/i.test(msg)) return `nesting too deep to parse (stack overflow while ${stage}); at most ${limits.maxDepth} levels are read`;
  if (/alias count/i.test(msg)) return `too many aliases (an alias bomb?): at most ${limits.maxAliasCount} aliases per document are resolved`;
  return `cannot parse: ${msg.split('\n')[0]}`;
}

function lineOf(text: string, offset: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Nesting depth of a plain value, counted without recursion; stops once past `cap`. */
export function depthOf(v: unknown, cap: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (d + 1 > max) max = d + 1;
    if (max > cap) return max;
    // Aliases resolve to the same object: walk each once.
    if (seen.has(x)) continue;
    seen.add(x);
    for (const c of Array.isArray(x) ? x : Object.values(x as Record<string, unknown>)) stack.push([c, d + 1]);
  }
  return max;
}

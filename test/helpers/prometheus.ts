/**
 * A small Prometheus text-format reader for tests: samples with their labels, and lookups by
 * metric name and a label subset.
 */

export interface Sample { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }

/** Parses Prometheus exposition text (comments skipped; label values unescaped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(m[3] ?? ''); l; l = re.exec(m[3] ?? '')) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

/** Samples named `name` whose labels include every entry of `where`. */
export function select(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the matching samples' values. */
export function sum(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): number {
  return select(samples, name, where).reduce((a, s) => a + s.value, 0);
}

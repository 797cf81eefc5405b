/**
 * meshctl's output: aligned tables (the default), JSON or YAML (`-o json|yaml`), and the
 * short flags every command accepts (`-o`, `-n`, `-h`).
 */
import YAML from 'yaml';
import { FlagError, type FlagSpec } from '../util/flags.js';

/** The `-o` choices. */
export type OutputFormat = 'table' | 'json' | 'yaml';

/** The `--output` flag (`-o`). */
export const OUTPUT_FLAG: FlagSpec = { name: 'output', type: 'string', default: 'table', help: 'table, json or yaml (also -o)' };

const SHORT: Readonly<Record<string, string>> = { '-o': '--output', '-n': '--namespace', '-h': '--help' };

/** Rewrites `-o json`, `-o=json`, `-n NS`, `-h` into their long forms. */
export function expandShortFlags(args: readonly string[]): string[] {
  return args.map((a) => {
    const m = /^(-[onh])=(.*)$/.exec(a);
    if (m) return `${SHORT[m[1]!]}=${m[2]}`;
    return SHORT[a] ?? a;
  });
}

/** Checks `--output`; a wrong value is a FlagError naming the choices. */
export function outputFormat(v: unknown, allowed: readonly OutputFormat[] = ['table', 'json', 'yaml']): OutputFormat {
  const s = String(v ?? 'table');
  if (!(allowed as readonly string[]).includes(s)) throw new FlagError(`-o must be ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
  return s as OutputFormat;
}

/** An aligned table: header then rows, columns three spaces apart, `-` for empty cells, no trailing blanks. */
export function formatTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((r) => head.map((_, i) => r[i] || '-'));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (cs: readonly string[]): string => cs.map((c, i) => (i === cs.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

/** Data as JSON or YAML text. */
export function formatData(data: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(data, null, 2) + '\n' : YAML.stringify(data, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Prints `data` as JSON/YAML, or the table text `table()` builds. */
export function emit(format: OutputFormat, data: unknown, table: () => string): void {
  process.stdout.write(format === 'table' ? table() : formatData(data, format));
}

/** "in 23h 59m", "2d 3h ago": a short human duration to a point in time. */
export function until(iso: string, now: number = Date.now()): string {
  const ms = Date.parse(iso) - now;
  const abs = Math.abs(ms);
  const d = Math.floor(abs / 86_400_000);
  const h = Math.floor((abs % 86_400_000) / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = Math.floor((abs % 60_000) / 1000);
  const text = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

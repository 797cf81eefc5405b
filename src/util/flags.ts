/**
 * A small declarative flag parser: every flag can also be set by an environment variable,
 * and `--help` is generated from the same table. Flags win over the environment.
 */
export interface FlagSpec {
  readonly name: string;
  readonly env?: string;
  readonly type: 'string' | 'int' | 'bool' | 'duration';
  readonly default?: string;
  readonly help: string;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export class FlagError extends Error {
  readonly code = 'FLAG_ERROR';
}

/** Parses a duration such as `24h`, `90s`, `500ms`, `30m`, `7d` into milliseconds. */
export function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(s.trim());
  if (!m) throw new FlagError(`not a duration: ${JSON.stringify(s)} (use e.g. 500ms, 20s, 24h)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(n * unit);
}

function convert(spec: FlagSpec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'string': return raw;
    case 'int': {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new FlagError(`--${spec.name}: not an integer: ${JSON.stringify(raw)}`);
      return n;
    }
    case 'bool':
      if (['true', '1', 'yes', ''].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw new FlagError(`--${spec.name}: not a boolean: ${JSON.stringify(raw)}`);
    case 'duration':
      try { return parseDurationMs(raw); } catch (e) { throw new FlagError(`--${spec.name}: ${(e as Error).message}`); }
  }
}

/** Parses argv against specs; returns values (durations in ms) and positional arguments. */
export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { values: FlagValues; positional: string[] } {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: FlagValues = {};
  const positional: string[] = [];
  for (const s of specs) {
    const raw = s.env !== undefined ? env[s.env] : undefined;
    if (raw !== undefined && raw !== '') values[s.name] = convert(s, raw);
    else if (s.default !== undefined) values[s.name] = convert(s, s.default);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) throw new FlagError(`unknown flag --${name} (see --help)`);
    let raw: string;
    if (eq !== -1) raw = a.slice(eq + 1);
    else if (spec.type === 'bool') raw = 'true';
    else {
      const next = argv[++i];
      if (next === undefined) throw new FlagError(`--${name} needs a value`);
      raw = next;
    }
    values[name] = convert(spec, raw);
  }
  return { values, positional };
}

/** Help text for a command from its flag table. */
export function flagHelp(usage: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.name}${s.type === 'bool' ? '' : ` <${s.type === 'duration' ? 'dur' : s.type === 'int' ? 'n' : 'value'}>`}`;
    const right = `${s.help}${s.default !== undefined ? ` (default ${s.default})` : ''}${s.env ? ` [$${s.env}]` : ''}`;
    return `${left.padEnd(34)} ${right}`;
  });
  return `${usage}\n\n${rows.join('\n')}\n`;
}

/**
 * Typed readers for the traffic kinds, on top of the shared Checker: every wrong type, range
 * or enum value becomes an error naming the field path. Unknown fields are errors here (Istio's
 * and the Gateway API's CRD schemas reject them), unlike the core kinds' warnings.
 */
import type { Labels } from '../../model/types.js';
import { type Checker, isDnsLabel, isRecord, join } from '../fields.js';

export type Raw = Record<string, unknown>;

/** The edit distance of two short strings (for "did you mean" hints). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** A key without case and plural ending (`retries`, `Retry` → `retry`). */
function stem(s: string): string {
  return s.toLowerCase().replace(/ies$/, 'y').replace(/s$/, '');
}

/** Rejects keys outside `known`, suggesting the closest known key when one is near. */
export function strictKeys(c: Checker, obj: Raw, known: readonly string[], path: string): void {
  for (const k of Object.keys(obj).sort()) {
    if (known.includes(k)) continue;
    const near = known.map((n) => [n, stem(n) === stem(k) ? 0 : distance(k, n)] as const)
      .filter(([, d]) => d <= Math.max(1, Math.floor(k.length / 4))).sort((x, y) => x[1] - y[1])[0];
    c.error(join(path, k), near ? `unknown field (did you mean ${JSON.stringify(near[0])}?)` : `unknown field (allowed: ${known.join(', ')})`);
  }
}

/** Warns that a field is read but not honoured, so it is never silently dropped. */
export function unsupported(c: Checker, obj: Raw, keys: readonly string[], path: string, why = ''): void {
  for (const k of keys) {
    if (obj[k] !== undefined && obj[k] !== null) c.warn(join(path, k), `not supported by meshd; ignored${why ? ` (${why})` : ''}`);
  }
}

/** An optional mapping that must be one; `required` makes absence an error. */
export function record(c: Checker, obj: Raw, key: string, path: string, required = false): Raw | undefined {
  const v = c.record(obj, key, path);
  if (v === undefined && required && (obj[key] === undefined || obj[key] === null)) c.error(join(path, key), 'is required');
  return v;
}

/** An optional list of mappings, each with its own path (`path.key[i]`). */
export function records(c: Checker, obj: Raw, key: string, path: string): { item: Raw; path: string }[] {
  const list = c.array(obj, key, path) ?? [];
  const out: { item: Raw; path: string }[] = [];
  list.forEach((x, i) => {
    const p = `${join(path, key)}[${i}]`;
    if (!isRecord(x)) c.error(p, 'must be a mapping');
    else out.push({ item: x, path: p });
  });
  return out;
}

/** An optional string; `required` makes absence (or '') an error. */
export function str(c: Checker, obj: Raw, key: string, path: string, required = false): string | undefined {
  const v = c.string(obj, key, path);
  if (required && (v === undefined || v === '') && (obj[key] === undefined || obj[key] === null || obj[key] === '')) {
    c.error(join(path, key), 'is required');
    return undefined;
  }
  return v === '' ? undefined : v;
}

/** An optional list of strings (each non-empty). */
export function strings(c: Checker, obj: Raw, key: string, path: string): string[] | undefined {
  const list = c.array(obj, key, path);
  if (!list) return undefined;
  const out: string[] = [];
  list.forEach((x, i) => {
    const p = `${join(path, key)}[${i}]`;
    if (typeof x !== 'string') c.error(p, `must be a string${typeof x === 'number' ? ' (quote it)' : ''}`);
    else if (x === '') c.error(p, 'must not be empty');
    else out.push(x);
  });
  return out;
}

/** An optional boolean. */
export function bool(c: Checker, obj: Raw, key: string, path: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') { c.error(join(path, key), 'must be true or false'); return undefined; }
  return v;
}

/** An optional integer in [min, max] (`max` absent: no upper bound). */
export function int(c: Checker, obj: Raw, key: string, path: string, min: number, max?: number): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || (max !== undefined && v > max)) {
    c.error(join(path, key), max === undefined ? `must be an integer >= ${min}` : `must be an integer ${min}-${max}`);
    return undefined;
  }
  return v;
}

/** An optional number in [min, max]. */
export function num(c: Checker, obj: Raw, key: string, path: string, min: number, max: number): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) { c.error(join(path, key), `must be a number ${min}-${max}`); return undefined; }
  return v;
}

/** An optional port number 1-65535. */
export function port(c: Checker, obj: Raw, key: string, path: string): number | undefined {
  return c.port(obj[key], join(path, key));
}

/** An optional enum value; anything outside `values` is an error listing them. */
export function oneOf<T extends string>(c: Checker, obj: Raw, key: string, path: string, values: readonly T[]): T | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    c.error(join(path, key), `invalid value ${JSON.stringify(v)} (allowed: ${values.join(', ')})`);
    return undefined;
  }
  return v as T;
}

/** Istio's `Percent` (`{value: 0-100}`) as a number; fractions allowed, as Istio's 0.0001 floor. */
export function percentage(c: Checker, obj: Raw, key: string, path: string): number | undefined {
  const p = record(c, obj, key, path);
  if (!p) return undefined;
  const at = join(path, key);
  strictKeys(c, p, ['value'], at);
  const v = p.value ?? 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 100) { c.error(join(at, 'value'), 'must be a number 0-100'); return undefined; }
  return v;
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why a label key/value pair is not valid in Kubernetes, or undefined when it is. */
export function labelProblem(k: string, v: string): string | undefined {
  const slash = k.indexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : '';
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (slash >= 0 && (prefix.length > 253 || !LABEL_PREFIX.test(prefix))) return `invalid label key ${JSON.stringify(k)}`;
  if (name.length > 63 || !LABEL_NAME.test(name)) return `invalid label key ${JSON.stringify(k)}`;
  if (v.includes('*')) return 'wildcards are not supported in label selectors';
  if (v !== '' && (v.length > 63 || !LABEL_NAME.test(v))) return `invalid label value ${JSON.stringify(v)}`;
  return undefined;
}

/** A label map (selector, subset labels, sourceLabels), each entry checked as Kubernetes labels. */
export function labels(c: Checker, obj: Raw, key: string, path: string): Labels | undefined {
  if (obj[key] === undefined || obj[key] === null) return undefined;
  const m = c.stringMap(obj, key, path);
  for (const [k, v] of Object.entries(m)) {
    const p = labelProblem(k, v);
    if (p) c.error(join(join(path, key), k), p);
  }
  return m;
}

/**
 * A workload selector: `{<key>: {<labels>}}` (Istio `workloadSelector.labels` or
 * `.matchLabels`). An empty selector selects the whole namespace, with a warning as Istio's.
 */
export function selector(c: Checker, spec: Raw, key: string, labelsKey: 'labels' | 'matchLabels'): Labels | undefined {
  const sel = record(c, spec, key, 'spec');
  if (!sel) return undefined;
  const at = join('spec', key);
  strictKeys(c, sel, [labelsKey], at);
  const l = labels(c, sel, labelsKey, at) ?? {};
  if (Object.keys(l).length === 0) { c.warn(at, 'selects no labels: applies to every workload in the namespace'); return undefined; }
  return l;
}

/**
 * Resolves `exportTo` (absent: `['*']`; `.` → the object's namespace; `~` → nobody, allowed
 * only for ServiceEntry) and checks it as Istio does: no duplicates, `*` and `~` alone.
 */
export function exportTo(c: Checker, spec: Raw, namespace: string, allowNone: boolean): string[] {
  const list = strings(c, spec, 'exportTo', 'spec');
  if (!list || list.length === 0) return ['*'];
  const out = new Set<string>();
  list.forEach((e, i) => {
    const p = `spec.exportTo[${i}]`;
    const v = e === '.' ? namespace : e;
    if (e === '~' && !allowNone) { c.error(p, '"~" (exported to no one) is only allowed for ServiceEntry'); return; }
    if (v !== '*' && v !== '~' && !isDnsLabel(v)) { c.error(p, `${JSON.stringify(e)} must be ".", "*", "~" or a namespace name`); return; }
    if (out.has(v)) { c.error(p, `duplicate entry ${JSON.stringify(e)}${e === '.' || v === namespace ? ` (. is namespace ${namespace})` : ''}`); return; }
    out.add(v);
  });
  if ((out.has('*') || out.has('~')) && list.length > 1) c.error('spec.exportTo', `${out.has('*') ? '"*"' : '"~"'} must be the only entry`);
  if (out.has('~')) return [];
  return [...out].sort();
}

/**
 * String matchers and header names. Regexes are RE2, as Envoy's `safe_regex`: they are
 * compiled with a pure-JS RE2 (re2js), so whatever RE2 rejects (lookarounds, backreferences,
 * possessive quantifiers, repeats over 1000) is rejected here, before Envoy could NACK it.
 */
import { RE2JS } from 're2js';
import type { StringMatch, ValueMatch } from '../../model/traffic.js';
import { type Checker, join } from '../fields.js';
import { type Raw, strictKeys } from './read.js';

/** Istio's limit on regex length (Envoy's RE2 program size is always larger than the length). */
const MAX_REGEX_LENGTH = 1024;

/** Why `re` is not an RE2 regex Envoy accepts, or undefined when it is. */
export function regexProblem(re: string): string | undefined {
  if (re === '') return 'regex must not be empty';
  if (re.length > MAX_REGEX_LENGTH) return `regex is too long (${re.length} characters; at most ${MAX_REGEX_LENGTH})`;
  try {
    RE2JS.compile(re);
    return undefined;
  } catch (e: unknown) {
    const msg = e instanceof Error ? e.message : String(e);
    return `${JSON.stringify(re)} is not a valid RE2 regex (${msg.replace(/^error parsing regexp: /, '')}); Envoy uses RE2: no lookarounds or backreferences`;
  }
}

/** Checks a regex field and reports the problem at `field`; returns whether it is valid. */
export function checkRegex(c: Checker, re: string, field: string): boolean {
  const p = regexProblem(re);
  if (p) c.error(field, p);
  return p === undefined;
}

/**
 * Istio's StringMatch (`{exact|prefix|regex}`, one of them) at `obj[key]`. An empty mapping
 * gives `empty` (the caller decides: "present" for headers, no condition for uri).
 * `allowEmptyPrefix` is for `uri`, where Envoy accepts `prefix: ""`.
 */
export function istioStringMatch(c: Checker, obj: Raw, key: string, path: string, opts: { allowEmptyPrefix?: boolean } = {}): StringMatch | 'empty' | undefined {
  const m = c.record(obj, key, path);
  if (!m) return undefined;
  const at = join(path, key);
  return stringMatchOf(c, m, at, opts);
}

/** The StringMatch in mapping `m` at `at` (see istioStringMatch). */
export function stringMatchOf(c: Checker, m: Raw, at: string, opts: { allowEmptyPrefix?: boolean } = {}): StringMatch | 'empty' | undefined {
  strictKeys(c, m, ['exact', 'prefix', 'regex'], at);
  const set = (['exact', 'prefix', 'regex'] as const).filter((t) => m[t] !== undefined && m[t] !== null);
  if (set.length === 0) return 'empty';
  if (set.length > 1) { c.error(at, `set only one of exact, prefix, regex (got ${set.join(', ')})`); return undefined; }
  const type = set[0]!;
  const value = c.string(m, type, at);
  if (value === undefined) return undefined;
  if (type === 'prefix' && value === '' && !opts.allowEmptyPrefix) { c.error(join(at, 'prefix'), 'must not be empty'); return undefined; }
  if (type === 'regex' && !checkRegex(c, value, join(at, 'regex'))) return undefined;
  return { type, value };
}

/** An Istio header/query matcher: an empty StringMatch (or `regex: "*"` where Istio allows it) is "present". */
export function valueMatchOf(c: Checker, v: unknown, at: string, starIsPresent: boolean): ValueMatch | undefined {
  if (v === null || v === undefined) return { type: 'present' };
  if (typeof v !== 'object' || Array.isArray(v)) { c.error(at, 'must be a mapping with one of exact, prefix, regex'); return undefined; }
  const m = v as Raw;
  if (starIsPresent && m.regex === '*' && Object.keys(m).length === 1) return { type: 'present' };
  const s = stringMatchOf(c, m, at);
  return s === 'empty' ? { type: 'present' } : s;
}

/** RFC 7230 token characters: what a header name may contain. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PSEUDO = [':method', ':scheme', ':authority', ':path', ':status'];

/** Why `name` cannot be matched on as a header (pseudo headers allowed), or undefined. */
export function headerMatchNameProblem(name: string): string | undefined {
  if (name === '') return 'header name must not be empty';
  if (PSEUDO.includes(name.toLowerCase())) return undefined;
  if (name.startsWith('@request.auth.claims')) return 'JWT claim routing (@request.auth.claims) is only supported on gateways, not for mesh traffic';
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid header name`;
  return undefined;
}

/** Why `name` cannot be edited (set, added or removed) by a route, or undefined. */
export function headerEditNameProblem(name: string): string | undefined {
  if (name === '') return 'header name must not be empty';
  if (name.startsWith(':') || name.toLowerCase() === 'host') return `${JSON.stringify(name)} cannot be edited (pseudo headers and Host are not editable; use rewrite.authority for the authority)`;
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid header name`;
  return undefined;
}

/** Why `value` is not a header value Envoy accepts (control characters other than tab), or undefined. */
export function headerValueProblem(value: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000a-\u001f\u007f]/.test(value) ? 'header value must not contain control characters' : undefined;
}

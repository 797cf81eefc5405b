/**
 * Durations as the two front-ends write them, always returned as integer milliseconds.
 * Istio accepts Go duration strings (`10s`, `0.5s`, `500ms`, `1m`, `1h30m`) with at most
 * millisecond precision, and most fields require at least 1 ms. The Gateway API accepts
 * GEP-2257 durations (`1h`, `10s`, `500ms`, up to four parts, integers only; `0s` allowed).
 */
import { type Checker, join } from '../fields.js';
import type { Raw } from './read.js';

const UNIT_NS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const GO_PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a Go duration string into nanoseconds; undefined when it does not parse (or is negative). */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  let rest = s.startsWith('+') ? s.slice(1) : s;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const m = GO_PART.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

const GEP_2257 = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

/** Parses a Gateway API (GEP-2257) duration into milliseconds; undefined when it does not parse. */
export function parseGatewayDuration(s: string): number | undefined {
  if (!GEP_2257.test(s)) return undefined;
  const ns = parseGoDuration(s);
  return ns === undefined ? undefined : Math.round(ns / 1e6);
}

/**
 * An Istio duration field in ms. `allowZero` for the fields where Istio accepts `0s`
 * (meaning "disabled"); everything else must be at least 1 ms.
 */
export function istioDuration(c: Checker, obj: Raw, key: string, path: string, opts: { allowZero?: boolean } = {}): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  const at = join(path, key);
  if (typeof v !== 'string') { c.error(at, 'must be a duration string such as "10s", "500ms" or "1m"'); return undefined; }
  const ns = parseGoDuration(v.trim());
  if (ns === undefined) { c.error(at, `${JSON.stringify(v)} is not a duration (write e.g. "10s", "0.5s", "500ms", "1m", "1h")`); return undefined; }
  if (ns % 1e6 !== 0 && Math.abs(ns - Math.round(ns / 1e6) * 1e6) > 1e-3) { c.error(at, `${JSON.stringify(v)}: only millisecond precision is supported`); return undefined; }
  const ms = Math.round(ns / 1e6);
  if (ms < 1 && !(opts.allowZero && ms === 0)) { c.error(at, `${JSON.stringify(v)}: must be at least 1ms`); return undefined; }
  return ms;
}

/** A Gateway API duration field in ms (`0s` allowed: it disables the timeout). */
export function gatewayDuration(c: Checker, obj: Raw, key: string, path: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  const at = join(path, key);
  const ms = typeof v === 'string' ? parseGatewayDuration(v) : undefined;
  if (ms === undefined) { c.error(at, `${JSON.stringify(v)} is not a Gateway API duration (e.g. "10s", "500ms", "1h30m"; integers only)`); return undefined; }
  return ms;
}

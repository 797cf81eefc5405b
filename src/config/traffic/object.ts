/** The envelope every traffic kind shares: apiVersion/kind/metadata/spec, checked strictly. */
import type { Diagnostic, ObjectMeta } from '../../model/types.js';
import type { ParseContext, ParseResult } from '../../model/parse-result.js';
import { Checker, isRecord } from '../fields.js';
import { parseMeta, peekIdentity } from '../meta.js';
import { type Raw, strictKeys } from './read.js';

export interface Opened {
  readonly c: Checker;
  readonly meta?: ObjectMeta;
  readonly spec?: Raw;
}

/** Opens a namespaced object of `kind`: a Checker named after it, its metadata and its spec. */
export function openObject(raw: unknown, ctx: ParseContext, kind: string): Opened {
  const id = peekIdentity(raw, ctx, true);
  const c = new Checker(ctx, kind, id.namespace, id.name);
  if (!isRecord(raw)) { c.error('', 'must be a mapping'); return { c }; }
  strictKeys(c, raw, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const meta = parseMeta(raw, c, ctx, { namespaced: true, dnsLabelName: false });
  const spec = c.record(raw, 'spec', '');
  if (!spec && (raw.spec === undefined || raw.spec === null)) c.error('spec', 'is required');
  return { c, ...(meta ? { meta } : {}), ...(spec ? { spec } : {}) };
}

/** The result for a parsed object: rejected when any error was recorded. */
export function finish<T>(c: Checker, value: T | undefined): ParseResult<T> {
  if (c.hasErrors || value === undefined) return { ok: false, diagnostics: c.diagnostics };
  return { ok: true, value, warnings: c.warnings };
}

/** The result for an object that cannot be parsed further (its errors are in `c`). */
export function reject(c: Checker): { readonly ok: false; readonly diagnostics: readonly Diagnostic[] } {
  return { ok: false, diagnostics: c.diagnostics };
}

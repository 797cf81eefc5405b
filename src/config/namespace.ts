/** `v1 Namespace` → model Namespace. */
import type { Namespace } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { Checker, isRecord } from './fields.js';
import { parseMeta, peekIdentity } from './meta.js';

/** Validates a Namespace: only its metadata matters (cluster-scoped: namespace ''). */
export function parseNamespace(raw: unknown, ctx: ParseContext): ParseResult<Namespace> {
  const id = peekIdentity(raw, ctx, false);
  const c = new Checker(ctx, 'Namespace', undefined, id.name);
  if (!isRecord(raw)) { c.error('', 'must be a mapping'); return { ok: false, diagnostics: c.diagnostics }; }
  c.unknownKeys(raw, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const meta = parseMeta(raw, c, ctx, { namespaced: false, dnsLabelName: true });
  if (c.hasErrors || !meta) return { ok: false, diagnostics: c.diagnostics };
  return { ok: true, value: { meta }, warnings: c.warnings };
}

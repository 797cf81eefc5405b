/**
 * PeerAuthentication validation: Istio's schema, strictly (unknown fields are errors).
 */
import type { MtlsMode, PeerAuthentication } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { checkKeys, issues, parseEnvelope, readObject, readSelector, isRecord, typeName } from './parse-util.js';
import type { Issues, RawObject } from './parse-util.js';

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

function readMode(obj: RawObject, path: string, is: Issues): { mode: MtlsMode } | undefined {
  checkKeys(obj, ['mode'], path, is);
  const v = obj.mode;
  if (v === undefined || v === null) return { mode: 'UNSET' };
  if (typeof v !== 'string' || !(MODES as readonly string[]).includes(v)) {
    is.error(`${path}.mode`, `invalid mode ${JSON.stringify(v)} (allowed: ${MODES.join(', ')})`);
    return undefined;
  }
  return { mode: v as MtlsMode };
}

/** Validates a raw PeerAuthentication; `portLevelMtls` requires a selector, as in Istio. */
export function parsePeerAuthentication(raw: unknown, ctx: ParseContext): ParseResult<PeerAuthentication> {
  const is = issues('PeerAuthentication', ctx);
  const env = parseEnvelope(raw, 'PeerAuthentication', ctx, is);
  if (!env) return { ok: false, diagnostics: is.list };
  const { spec } = env;
  checkKeys(spec, ['selector', 'mtls', 'portLevelMtls'], 'spec', is);
  const selector = readSelector(spec, is);
  const mtlsRaw = readObject(spec, 'mtls', 'spec', is);
  const mtls = mtlsRaw ? readMode(mtlsRaw, 'spec.mtls', is) : undefined;
  let portLevelMtls: Record<string, { mode: MtlsMode }> | undefined;
  const plRaw = readObject(spec, 'portLevelMtls', 'spec', is);
  if (plRaw) {
    portLevelMtls = {};
    for (const [port, v] of Object.entries(plRaw)) {
      const p = `spec.portLevelMtls[${port}]`;
      if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) { is.error(p, `"${port}" is not a port number (1-65535)`); continue; }
      if (v === null || v === undefined) { portLevelMtls[String(Number(port))] = { mode: 'UNSET' }; continue; }
      if (!isRecord(v)) { is.error(p, `must be an object with "mode", got ${typeName(v)}`); continue; }
      const m = readMode(v, p, is);
      if (m) portLevelMtls[String(Number(port))] = m;
    }
    if (!selector) is.error('spec.portLevelMtls', 'portLevelMtls requires a workload selector (spec.selector.matchLabels)');
  }
  if (is.hasErrors()) return { ok: false, diagnostics: is.list };
  const value: PeerAuthentication = {
    meta: env.meta,
    apiVersion: env.apiVersion,
    ...(selector ? { selector } : {}),
    ...(mtls ? { mtls } : {}),
    ...(portLevelMtls ? { portLevelMtls } : {}),
  };
  return { ok: true, value, warnings: is.list };
}

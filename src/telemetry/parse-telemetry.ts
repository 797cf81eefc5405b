/**
 * telemetry.istio.io Telemetry validation (v1 and v1alpha1): Istio's schema, strictly (unknown
 * fields are errors). Provider names are checked against the mesh config later, per snapshot
 * (src/telemetry/provider-check.ts), because the mesh config is another object.
 */
import type {
  CustomTag, IstioMetricName, MetricsOverride, TagOverride, Telemetry, TelemetryAccessLogging, TelemetryMetrics,
  TelemetryTracing, WorkloadMode,
} from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import {
  checkKeys, isRecord, issues, parseEnvelope, readLabels, readObject, readObjectList, readString, typeName,
  type Issues, type RawObject,
} from '../authz/parse-util.js';

/** The apiVersions Telemetry is read at. */
export const TELEMETRY_API_VERSIONS: readonly string[] = ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'];

const MODES: readonly WorkloadMode[] = ['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'];
/** Istio's metric selector names (`metrics[].overrides[].match.metric`). */
export const METRIC_NAMES: readonly IstioMetricName[] = [
  'ALL_METRICS', 'REQUEST_COUNT', 'REQUEST_DURATION', 'REQUEST_SIZE', 'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS', 'TCP_CLOSED_CONNECTIONS', 'TCP_SENT_BYTES', 'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES', 'GRPC_RESPONSE_MESSAGES',
];
const TAG_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function readProviders(obj: RawObject, path: string, is: Issues): string[] | undefined {
  const list = readObjectList(obj, 'providers', path, is);
  if (!list) return undefined;
  const out: string[] = [];
  for (const { item, path: p } of list) {
    checkKeys(item, ['name'], p, is);
    const name = readString(item, 'name', p, is);
    if (!name) is.error(`${p}.name`, 'is required');
    else out.push(name);
  }
  return out;
}

function readMode(obj: RawObject, path: string, is: Issues): WorkloadMode {
  const m = readObject(obj, 'match', path, is);
  if (!m) return 'CLIENT_AND_SERVER';
  checkKeys(m, ['mode'], `${path}.match`, is);
  const v = m.mode;
  if (v === undefined || v === null) return 'CLIENT_AND_SERVER';
  if (typeof v !== 'string' || !(MODES as readonly string[]).includes(v)) {
    is.error(`${path}.match.mode`, `invalid mode ${JSON.stringify(v)} (allowed: ${MODES.join(', ')})`);
    return 'CLIENT_AND_SERVER';
  }
  return v as WorkloadMode;
}

function readBool(obj: RawObject, key: string, path: string, is: Issues): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') { is.error(`${path}.${key}`, `must be true or false, got ${typeName(v)}`); return undefined; }
  return v;
}

/** A percentage 0-100: Istio's `randomSamplingPercentage` (a DoubleValue). */
export function readPercentage(v: unknown, field: string, is: Issues): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 100) {
    is.error(field, `must be a number from 0 to 100, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

function readCustomTags(obj: RawObject, path: string, is: Issues): Record<string, CustomTag> | undefined {
  const m = readObject(obj, 'customTags', path, is);
  if (!m) return undefined;
  const out: Record<string, CustomTag> = {};
  for (const [name, raw] of Object.entries(m)) {
    const p = `${path}.customTags[${name}]`;
    if (!isRecord(raw)) { is.error(p, `must be an object, got ${typeName(raw)}`); continue; }
    const kinds = Object.keys(raw);
    if (kinds.length !== 1 || !['literal', 'environment', 'header'].includes(kinds[0]!)) {
      is.error(p, 'must set exactly one of literal, environment, header');
      continue;
    }
    const k = kinds[0] as 'literal' | 'environment' | 'header';
    const body = readObject(raw, k, p, is);
    if (!body) { is.error(`${p}.${k}`, 'is required'); continue; }
    if (k === 'literal') {
      checkKeys(body, ['value'], `${p}.literal`, is);
      const value = readString(body, 'value', `${p}.literal`, is);
      if (value === undefined) { is.error(`${p}.literal.value`, 'is required'); continue; }
      out[name] = { kind: 'literal', value };
    } else {
      checkKeys(body, ['name', 'defaultValue'], `${p}.${k}`, is);
      const n = readString(body, 'name', `${p}.${k}`, is);
      const d = readString(body, 'defaultValue', `${p}.${k}`, is);
      if (!n) { is.error(`${p}.${k}.name`, 'is required'); continue; }
      out[name] = { kind: k, name: n, ...(d !== undefined ? { defaultValue: d } : {}) };
    }
  }
  return out;
}

function readTracing(spec: RawObject, is: Issues): TelemetryTracing[] | undefined {
  const list = readObjectList(spec, 'tracing', 'spec', is);
  if (!list) return undefined;
  return list.map(({ item, path }) => {
    checkKeys(item, ['match', 'providers', 'randomSamplingPercentage', 'disableSpanReporting', 'customTags', 'useRequestIdForTraceSampling', 'enableIstioTags'], path, is);
    const providers = readProviders(item, path, is);
    const pct = readPercentage(item.randomSamplingPercentage, `${path}.randomSamplingPercentage`, is);
    const disable = readBool(item, 'disableSpanReporting', path, is);
    const tags = readCustomTags(item, path, is);
    return {
      mode: readMode(item, path, is),
      ...(providers ? { providers } : {}),
      ...(pct !== undefined ? { randomSamplingPercentage: pct } : {}),
      ...(disable !== undefined ? { disableSpanReporting: disable } : {}),
      ...(tags ? { customTags: tags } : {}),
    };
  });
}

function readAccessLogging(spec: RawObject, is: Issues): TelemetryAccessLogging[] | undefined {
  const list = readObjectList(spec, 'accessLogging', 'spec', is);
  if (!list) return undefined;
  return list.map(({ item, path }) => {
    checkKeys(item, ['match', 'providers', 'disabled', 'filter'], path, is);
    const providers = readProviders(item, path, is);
    const disabled = readBool(item, 'disabled', path, is);
    const f = readObject(item, 'filter', path, is);
    let filter: string | undefined;
    if (f) {
      checkKeys(f, ['expression'], `${path}.filter`, is);
      filter = readString(f, 'expression', `${path}.filter`, is);
      if (!filter) is.error(`${path}.filter.expression`, 'is required');
    }
    return {
      mode: readMode(item, path, is),
      ...(providers ? { providers } : {}),
      ...(disabled !== undefined ? { disabled } : {}),
      ...(filter ? { filter } : {}),
    };
  });
}

function readTagOverrides(item: RawObject, path: string, is: Issues): Record<string, TagOverride> | undefined {
  const m = readObject(item, 'tagOverrides', path, is);
  if (!m) return undefined;
  const out: Record<string, TagOverride> = {};
  for (const [tag, raw] of Object.entries(m)) {
    const p = `${path}.tagOverrides[${tag}]`;
    if (!TAG_NAME.test(tag)) { is.error(p, 'a tag name is letters, digits and _ (a Prometheus label name)'); continue; }
    if (!isRecord(raw)) { is.error(p, `must be an object, got ${typeName(raw)}`); continue; }
    checkKeys(raw, ['operation', 'value'], p, is);
    const op = raw.operation ?? 'UPSERT';
    if (op !== 'UPSERT' && op !== 'REMOVE') { is.error(`${p}.operation`, `invalid operation ${JSON.stringify(op)} (allowed: UPSERT, REMOVE)`); continue; }
    if (op === 'REMOVE') { out[tag] = { operation: 'REMOVE' }; continue; }
    const value = readString(raw, 'value', p, is);
    if (!value) { is.error(`${p}.value`, 'is required for UPSERT (a CEL expression, e.g. request.host)'); continue; }
    if (value.includes('%')) { is.error(`${p}.value`, 'must not contain "%"'); continue; }
    out[tag] = { operation: 'UPSERT', value };
  }
  return out;
}

function readMetrics(spec: RawObject, is: Issues): TelemetryMetrics[] | undefined {
  const list = readObjectList(spec, 'metrics', 'spec', is);
  if (!list) return undefined;
  return list.map(({ item, path }) => {
    checkKeys(item, ['providers', 'overrides', 'reportingInterval'], path, is);
    const providers = readProviders(item, path, is);
    const overrides: MetricsOverride[] = [];
    for (const { item: o, path: op } of readObjectList(item, 'overrides', path, is) ?? []) {
      checkKeys(o, ['match', 'disabled', 'tagOverrides'], op, is);
      const match = readObject(o, 'match', op, is) ?? {};
      checkKeys(match, ['metric', 'customMetric', 'mode'], `${op}.match`, is);
      if (match.customMetric !== undefined) is.error(`${op}.match.customMetric`, 'custom metrics are not supported; use one of the standard metrics');
      const metric = match.metric ?? 'ALL_METRICS';
      if (typeof metric !== 'string' || !(METRIC_NAMES as readonly string[]).includes(metric)) {
        is.error(`${op}.match.metric`, `invalid metric ${JSON.stringify(metric)} (allowed: ${METRIC_NAMES.join(', ')})`);
        continue;
      }
      const mode = readMode({ match: match.mode === undefined ? undefined : { mode: match.mode } }, op, is);
      const disabled = readBool(o, 'disabled', op, is);
      const tagOverrides = readTagOverrides(o, op, is);
      overrides.push({ metric: metric as IstioMetricName, mode, ...(disabled !== undefined ? { disabled } : {}), ...(tagOverrides ? { tagOverrides } : {}) });
    }
    return { ...(providers ? { providers } : {}), overrides };
  });
}

/** Validates a raw Telemetry. `selector` and `targetRefs` are exclusive; targetRefs is not supported. */
export function parseTelemetry(raw: unknown, ctx: ParseContext): ParseResult<Telemetry> {
  const is = issues('Telemetry', ctx);
  const env = parseEnvelope(raw, 'Telemetry', ctx, is, TELEMETRY_API_VERSIONS);
  if (!env) return { ok: false, diagnostics: is.list };
  const { spec } = env;
  checkKeys(spec, ['selector', 'targetRef', 'targetRefs', 'tracing', 'accessLogging', 'metrics'], 'spec', is);
  if (spec.targetRef !== undefined || spec.targetRefs !== undefined) is.error(spec.targetRef !== undefined ? 'spec.targetRef' : 'spec.targetRefs', 'targetRefs are not supported; use spec.selector.matchLabels');
  const sel = readObject(spec, 'selector', 'spec', is);
  let selector: Readonly<Record<string, string>> | undefined;
  if (sel) {
    checkKeys(sel, ['matchLabels'], 'spec.selector', is);
    const ml = readLabels(sel, 'matchLabels', 'spec.selector', is);
    if (ml && Object.keys(ml).length) selector = ml;
  }
  const tracing = readTracing(spec, is);
  const accessLogging = readAccessLogging(spec, is);
  const metrics = readMetrics(spec, is);
  if (is.hasErrors()) return { ok: false, diagnostics: is.list };
  return {
    ok: true,
    value: {
      meta: env.meta, apiVersion: env.apiVersion,
      ...(selector ? { selector } : {}),
      ...(tracing ? { tracing } : {}),
      ...(accessLogging ? { accessLogging } : {}),
      ...(metrics ? { metrics } : {}),
    },
    warnings: is.list,
  };
}

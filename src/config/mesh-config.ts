/**
 * Istio's MeshConfig (the `mesh` key of the `istio` ConfigMap, or the file given to
 * `--mesh-config`) → the parts of meshd's MeshConfig it sets. Fields meshd does not use are
 * accepted with a warning (Istio's mesh config has many); a malformed field is an error and the
 * whole mesh config is rejected (the last good one stays in force).
 */
import YAML from 'yaml';
import type { DefaultProviders, Diagnostic, ExtAuthzProvider, LogFormat, MeshConfig, ProviderService, TelemetryProvider } from '../model/types.js';
import { checkKeys, isRecord, issues, readObject, readObjectList, readString, readStringList, typeName, type Issues, type RawObject } from '../authz/parse-util.js';
import { readPercentage } from '../telemetry/parse-telemetry.js';
import { parseGoDuration } from './traffic/durations.js';
import { envoyRoot } from '../xds/protos.js';

/** What a mesh config document sets; absent fields keep meshd's defaults (flags). */
export type MeshConfigOverrides = Partial<Omit<MeshConfig, 'domainSuffix'>>;

export type MeshConfigResult =
  | { readonly ok: true; readonly value: MeshConfigOverrides; readonly warnings: readonly Diagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

const USED = ['trustDomain', 'rootNamespace', 'extensionProviders', 'defaultProviders', 'caCertificates', 'enableAutoMtls', 'outboundTrafficPolicy', 'defaultConfig'];
const PROVIDER_KINDS = ['envoyExtAuthzGrpc', 'envoyExtAuthzHttp', 'zipkin', 'opentelemetry', 'envoyFileAccessLog', 'envoyOtelAls', 'prometheus',
  'skywalking', 'datadog', 'stackdriver', 'lightstep', 'envoyHttpAls', 'envoyTcpAls', 'sds'];

function readTarget(o: RawObject, path: string, is: Issues): ProviderService | undefined {
  const service = readString(o, 'service', path, is);
  if (!service) is.error(`${path}.service`, 'is required (a service host, e.g. zipkin.istio-system.svc.cluster.local)');
  const port = o.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    is.error(`${path}.port`, port === undefined ? 'is required' : `must be an integer 1-65535, got ${JSON.stringify(port)}`);
    return undefined;
  }
  return service ? { service, port } : undefined;
}

function readLogFormat(o: RawObject, path: string, is: Issues): LogFormat {
  const f = readObject(o, 'logFormat', path, is);
  if (!f) return { kind: 'default' };
  checkKeys(f, ['text', 'labels', 'omitEmptyValues'], `${path}.logFormat`, is);
  if (f.text !== undefined && f.labels !== undefined) is.error(`${path}.logFormat`, 'set text or labels, not both');
  const text = readString(f, 'text', `${path}.logFormat`, is);
  if (text !== undefined) return { kind: 'text', text: text.endsWith('\n') ? text : `${text}\n` };
  const labels = readObject(f, 'labels', `${path}.logFormat`, is);
  if (labels) {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) {
      if (typeof v !== 'string') is.error(`${path}.logFormat.labels.${k}`, `must be a string, got ${typeName(v)}`);
      else out[k] = v;
    }
    return { kind: 'labels', labels: out };
  }
  return { kind: 'default' };
}

const EXT_AUTHZ_COMMON = ['service', 'port', 'timeout', 'failOpen', 'statusOnError', 'includeRequestBodyInCheck'];
const EXT_AUTHZ_HTTP = ['pathPrefix', 'includeRequestHeadersInCheck', 'includeAdditionalHeadersInCheck', 'headersToUpstreamOnAllow',
  'headersToDownstreamOnDeny', 'headersToDownstreamOnAllow', 'includeHeadersInCheck'];

/** Envoy's `type.v3.StatusCode` values (the enum Envoy validates `status_on_error` against). */
let statusCodes: ReadonlySet<number> | undefined;
function knownStatus(code: number): boolean {
  statusCodes ??= new Set(Object.values(envoyRoot().lookupEnum('envoy.type.v3.StatusCode').values).filter((v) => v !== 0));
  return statusCodes.has(code);
}

function readHeaderPatterns(body: RawObject, key: string, path: string, is: Issues): readonly string[] | undefined {
  const l = readStringList(body, key, path, is);
  l?.forEach((h, i) => {
    if (h === '' || h === '*' || (h.startsWith('*') && h.endsWith('*'))) is.error(`${path}.${key}[${i}]`, `must be a header name with at most one wildcard at its start or end, got ${JSON.stringify(h)}`);
  });
  return l && l.length ? l : undefined;
}

/** An ext_authz provider (gRPC or HTTP), with Istio's defaults (timeout 600s, fail closed). */
function readExtAuthz(name: string, kind: 'envoyExtAuthzGrpc' | 'envoyExtAuthzHttp', body: RawObject, p: string, is: Issues): ExtAuthzProvider | undefined {
  const http = kind === 'envoyExtAuthzHttp';
  checkKeys(body, http ? [...EXT_AUTHZ_COMMON, ...EXT_AUTHZ_HTTP] : EXT_AUTHZ_COMMON, p, is);
  const t = readTarget(body, p, is);
  let timeoutMs: number | undefined;
  const to = readString(body, 'timeout', p, is);
  if (to !== undefined) {
    const ns = parseGoDuration(to);
    if (ns === undefined || ns < 1e6) is.error(`${p}.timeout`, `must be a duration of at least 1ms such as 0.5s, got ${JSON.stringify(to)}`);
    else timeoutMs = Math.round(ns / 1e6);
  }
  if (body.failOpen !== undefined && typeof body.failOpen !== 'boolean') is.error(`${p}.failOpen`, `must be true or false, got ${typeName(body.failOpen)}`);
  let statusOnError: number | undefined;
  const soe = readString(body, 'statusOnError', p, is);
  if (soe !== undefined) {
    const code = /^\d{3}$/.test(soe) ? Number(soe) : NaN;
    if (!knownStatus(code)) is.error(`${p}.statusOnError`, `must be an HTTP status code Envoy knows (such as 403, 500, 503), got ${JSON.stringify(soe)}`);
    else statusOnError = code;
  }
  let body_: ExtAuthzProvider['includeRequestBody'];
  const rb = readObject(body, 'includeRequestBodyInCheck', p, is);
  if (rb) {
    const rp = `${p}.includeRequestBodyInCheck`;
    checkKeys(rb, ['maxRequestBytes', 'allowPartialMessage', 'packAsBytes'], rp, is);
    const max = rb.maxRequestBytes;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) is.error(`${rp}.maxRequestBytes`, max === undefined ? 'is required (Envoy buffers at most this many bytes of the body; it needs a positive limit)' : `must be a positive integer, got ${JSON.stringify(max)}`);
    for (const k of ['allowPartialMessage', 'packAsBytes']) if (rb[k] !== undefined && typeof rb[k] !== 'boolean') is.error(`${rp}.${k}`, `must be true or false, got ${typeName(rb[k])}`);
    if (typeof max === 'number') body_ = { maxRequestBytes: max, ...(rb.allowPartialMessage === true ? { allowPartialMessage: true } : {}), ...(rb.packAsBytes === true ? { packAsBytes: true } : {}) };
  }
  const common = {
    name, ...(t ?? { service: '', port: 0 }), protocol: http ? 'http' as const : 'grpc' as const,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(body.failOpen === true ? { failOpen: true } : {}),
    ...(statusOnError !== undefined ? { statusOnError } : {}), ...(body_ ? { includeRequestBody: body_ } : {}),
  };
  if (!http) return t ? common : undefined;
  const prefix = readString(body, 'pathPrefix', p, is);
  if (prefix !== undefined && (!prefix.startsWith('/') || /[\s?#]/.test(prefix))) is.error(`${p}.pathPrefix`, `must be a path starting with / (no query), got ${JSON.stringify(prefix)}`);
  if (body.includeHeadersInCheck !== undefined) is.warn(`${p}.includeHeadersInCheck`, 'is deprecated in Istio; use includeRequestHeadersInCheck (meshd reads it only when that is not set)');
  const reqHeaders = readHeaderPatterns(body, 'includeRequestHeadersInCheck', p, is) ?? readHeaderPatterns(body, 'includeHeadersInCheck', p, is);
  const extra = readObject(body, 'includeAdditionalHeadersInCheck', p, is);
  const additional: Record<string, string> = {};
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (typeof v !== 'string') is.error(`${p}.includeAdditionalHeadersInCheck.${k}`, `must be a string, got ${typeName(v)}`);
    else additional[k] = v;
  }
  const up = readHeaderPatterns(body, 'headersToUpstreamOnAllow', p, is);
  const downDeny = readHeaderPatterns(body, 'headersToDownstreamOnDeny', p, is);
  const downAllow = readHeaderPatterns(body, 'headersToDownstreamOnAllow', p, is);
  if (!t) return undefined;
  return {
    ...common, ...(prefix ? { pathPrefix: prefix } : {}), ...(reqHeaders ? { includeRequestHeaders: reqHeaders } : {}),
    ...(Object.keys(additional).length ? { additionalHeaders: additional } : {}), ...(up ? { headersToUpstreamOnAllow: up } : {}),
    ...(downDeny ? { headersToDownstreamOnDeny: downDeny } : {}), ...(downAllow ? { headersToDownstreamOnAllow: downAllow } : {}),
  };
}

function readProvider(item: RawObject, path: string, is: Issues): ExtAuthzProvider | TelemetryProvider | undefined {
  const name = readString(item, 'name', path, is);
  if (!name) { is.error(`${path}.name`, 'is required'); return undefined; }
  const kinds = Object.keys(item).filter((k) => k !== 'name');
  for (const k of kinds) if (!PROVIDER_KINDS.includes(k)) is.error(`${path}.${k}`, `unknown provider type "${k}" (supported: envoyExtAuthzGrpc, envoyExtAuthzHttp, zipkin, opentelemetry, envoyFileAccessLog, envoyOtelAls, prometheus)`);
  if (kinds.length !== 1) { if (kinds.length !== 1) is.error(path, `provider ${name} must set exactly one provider type, got ${kinds.length}`); return undefined; }
  const kind = kinds[0]!;
  const p = `${path}.${kind}`;
  const body = readObject(item, kind, path, is) ?? {};
  switch (kind) {
    case 'envoyExtAuthzGrpc':
    case 'envoyExtAuthzHttp':
      return readExtAuthz(name, kind, body, p, is);
    case 'zipkin': {
      checkKeys(body, ['service', 'port', 'maxTagLength', 'enable64bitTraceId', 'path', 'traceContextOption', 'timeout', 'headers'], p, is);
      const t = readTarget(body, p, is);
      const max = body.maxTagLength;
      if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 0)) is.error(`${p}.maxTagLength`, 'must be a non-negative integer');
      const zpath = readString(body, 'path', p, is);
      return t ? { kind: 'zipkin', name, target: t, ...(typeof max === 'number' && max > 0 ? { maxTagLength: max } : {}), ...(zpath ? { path: zpath } : {}) } : undefined;
    }
    case 'opentelemetry': {
      checkKeys(body, ['service', 'port', 'maxTagLength', 'http', 'grpc', 'resourceDetectors', 'dynatraceSampler'], p, is);
      const t = readTarget(body, p, is);
      const http = readObject(body, 'http', p, is);
      let h: { path: string; timeout?: string } | undefined;
      if (http) {
        checkKeys(http, ['path', 'timeout', 'headers'], `${p}.http`, is);
        const hp = readString(http, 'path', `${p}.http`, is) ?? '/v1/traces';
        const to = readString(http, 'timeout', `${p}.http`, is);
        if (to !== undefined && !/^\d+(\.\d+)?(ms|s)$/.test(to)) is.error(`${p}.http.timeout`, `must be a duration such as 5s, got ${JSON.stringify(to)}`);
        h = { path: hp.startsWith('/') ? hp : `/${hp}`, ...(to ? { timeout: to } : {}) };
      }
      return t ? { kind: 'opentelemetry', name, target: t, ...(h ? { http: h } : {}) } : undefined;
    }
    case 'envoyFileAccessLog': {
      checkKeys(body, ['path', 'logFormat'], p, is);
      const fp = readString(body, 'path', p, is);
      if (!fp) is.error(`${p}.path`, 'is required (/dev/stdout or a file)');
      const format = readLogFormat(body, p, is);
      return fp ? { kind: 'envoyFileAccessLog', name, path: fp, format } : undefined;
    }
    case 'envoyOtelAls': {
      checkKeys(body, ['service', 'port', 'logName', 'logFormat'], p, is);
      const t = readTarget(body, p, is);
      const logName = readString(body, 'logName', p, is);
      const format = readLogFormat(body, p, is);
      return t ? { kind: 'envoyOtelAls', name, target: t, ...(logName ? { logName } : {}), format } : undefined;
    }
    case 'prometheus':
      checkKeys(body, [], p, is);
      return { kind: 'prometheus', name };
    default:
      if (PROVIDER_KINDS.includes(kind)) is.warn(p, `provider type ${kind} is not supported by meshd; provider ${name} is ignored`);
      return undefined;
  }
}

function readDefaultProviders(raw: RawObject, is: Issues): DefaultProviders | undefined {
  const d = readObject(raw, 'defaultProviders', '', is);
  if (!d) return undefined;
  checkKeys(d, ['tracing', 'metrics', 'accessLogging'], 'defaultProviders', is);
  const tracing = readStringList(d, 'tracing', 'defaultProviders', is);
  const metrics = readStringList(d, 'metrics', 'defaultProviders', is);
  const accessLogging = readStringList(d, 'accessLogging', 'defaultProviders', is);
  return { ...(tracing ? { tracing } : {}), ...(metrics ? { metrics } : {}), ...(accessLogging ? { accessLogging } : {}) };
}

/**
 * Parses a mesh config object. Provider names must be unique; `defaultProviders` must name
 * configured providers (or the built-in `prometheus` and `envoy`); `caCertificates[].pem` must
 * hold PEM certificates.
 */
export function parseMeshConfig(raw: unknown, source: string): MeshConfigResult {
  const is = issues('MeshConfig', { source, defaultNamespace: '' });
  is.setName(undefined, 'mesh');
  if (raw === null || raw === undefined) return { ok: true, value: {}, warnings: [] };
  if (!isRecord(raw)) return { ok: false, diagnostics: [{ severity: 'error', source, kind: 'MeshConfig', name: 'mesh', field: '', message: `must be a mapping, got ${typeName(raw)}` }] };
  for (const k of Object.keys(raw)) if (!USED.includes(k)) is.warn(k, 'not used by meshd; ignored');
  const out: { -readonly [K in keyof MeshConfigOverrides]: MeshConfigOverrides[K] } = {};
  const td = readString(raw, 'trustDomain', '', is);
  if (td !== undefined) out.trustDomain = td;
  const rn = readString(raw, 'rootNamespace', '', is);
  if (rn !== undefined) out.rootNamespace = rn;
  const auto = raw.enableAutoMtls;
  if (auto !== undefined) { if (typeof auto !== 'boolean') is.error('enableAutoMtls', 'must be true or false'); else out.enableAutoMtls = auto; }
  const otp = readObject(raw, 'outboundTrafficPolicy', '', is);
  if (otp) {
    checkKeys(otp, ['mode'], 'outboundTrafficPolicy', is);
    if (otp.mode !== undefined && otp.mode !== 'ALLOW_ANY' && otp.mode !== 'REGISTRY_ONLY') is.error('outboundTrafficPolicy.mode', 'must be ALLOW_ANY or REGISTRY_ONLY');
    else if (otp.mode) out.outboundTrafficPolicy = otp.mode;
  }
  const dc = readObject(raw, 'defaultConfig', '', is);
  const tr = dc ? readObject(dc, 'tracing', 'defaultConfig', is) : undefined;
  if (tr) {
    const s = readPercentage(tr.sampling, 'defaultConfig.tracing.sampling', is);
    if (s !== undefined) out.defaultTraceSampling = s;
  }
  const ext: ExtAuthzProvider[] = [];
  const tel: TelemetryProvider[] = [];
  const names = new Set<string>();
  for (const { item, path } of readObjectList(raw, 'extensionProviders', '', is) ?? []) {
    const pr = readProvider(item, path, is);
    if (!pr) continue;
    if (names.has(pr.name)) { is.error(`${path}.name`, `duplicate provider name "${pr.name}"`); continue; }
    names.add(pr.name);
    if ('kind' in pr) tel.push(pr); else ext.push(pr);
  }
  if (raw.extensionProviders !== undefined) { out.extensionProviders = ext; out.telemetryProviders = tel; }
  const dp = readDefaultProviders(raw, is);
  if (dp) {
    for (const [k, list] of Object.entries(dp) as [string, string[]][]) {
      list.forEach((n, i) => { if (!names.has(n) && n !== 'prometheus' && n !== 'envoy') is.error(`defaultProviders.${k}[${i}]`, `no extension provider "${n}"`); });
    }
    out.defaultProviders = dp;
  }
  const cas = readObjectList(raw, 'caCertificates', '', is);
  if (cas) {
    const pems: string[] = [];
    for (const { item, path } of cas) {
      checkKeys(item, ['pem', 'spiffeBundleUrl', 'certSigners', 'trustDomains'], path, is);
      const pem = readString(item, 'pem', path, is);
      if (item.spiffeBundleUrl !== undefined) is.warn(`${path}.spiffeBundleUrl`, 'not supported (meshd fetches nothing); ignored');
      if (pem === undefined) continue;
      if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) { is.error(`${path}.pem`, 'must hold one or more PEM certificates'); continue; }
      pems.push(pem.trim() + '\n');
    }
    out.caCertificates = pems;
  }
  if (is.hasErrors()) return { ok: false, diagnostics: is.list };
  return { ok: true, value: out, warnings: is.list };
}

/** Parses mesh config YAML text (the file or the ConfigMap's `mesh` key). */
export function parseMeshConfigYaml(text: string, source: string): MeshConfigResult {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    return { ok: false, diagnostics: [{ severity: 'error', source, kind: 'MeshConfig', name: 'mesh', field: '', message: `not valid YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` }] };
  }
  return parseMeshConfig(raw, source);
}

/** The base config with a mesh config's overrides applied (absent fields keep the base). */
export function applyMeshConfig(base: MeshConfig, o: MeshConfigOverrides): MeshConfig {
  return { ...base, ...o };
}

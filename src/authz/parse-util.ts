/**
 * Small helpers for validating raw `security.istio.io` objects: type checks with field paths,
 * unknown-field detection, and the value syntaxes Istio accepts (CIDRs, ports, wildcards).
 */
import { isIP } from 'node:net';
import type { Diagnostic, Labels, ObjectMeta } from '../model/types.js';
import type { ParseContext } from '../model/parse-result.js';

export type RawObject = Readonly<Record<string, unknown>>;

/** Whether a value is a plain JSON object (not an array, not null). */
export function isRecord(v: unknown): v is RawObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects diagnostics for one object; `error` makes the object invalid. */
export interface Issues {
  readonly list: Diagnostic[];
  error(field: string, message: string): void;
  warn(field: string, message: string): void;
  hasErrors(): boolean;
  setName(namespace: string | undefined, name: string | undefined): void;
}

/** Creates the diagnostic collector for one object of `kind` read from `ctx.source`. */
export function issues(kind: string, ctx: ParseContext): Issues {
  const list: Diagnostic[] = [];
  let namespace: string | undefined;
  let name: string | undefined;
  const push = (severity: 'error' | 'warning', field: string, message: string): void => {
    list.push({ severity, source: ctx.source, kind, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}), field, message });
  };
  return {
    list,
    error: (f, m) => push('error', f, m),
    warn: (f, m) => push('warning', f, m),
    hasErrors: () => list.some((d) => d.severity === 'error'),
    setName(ns, n) { namespace = ns; name = n; },
  };
}

/** Reports every key of `obj` not in `allowed` as an unknown field (Kubernetes' strict decoding). */
export function checkKeys(obj: RawObject, allowed: readonly string[], path: string, is: Issues): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) is.error(join(path, k), `unknown field "${k}" (allowed: ${allowed.join(', ')})`);
  }
}

/** Joins a field path: `spec` + `rules` → `spec.rules`. */
export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Reads an optional object field; a wrong type is an error and gives undefined. */
export function readObject(obj: RawObject, key: string, path: string, is: Issues): RawObject | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) { is.error(join(path, key), `must be an object, got ${typeName(v)}`); return undefined; }
  return v;
}

/** Reads an optional string field. */
export function readString(obj: RawObject, key: string, path: string, is: Issues): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') { is.error(join(path, key), `must be a string, got ${typeName(v)}`); return undefined; }
  return v;
}

/** Reads an optional list of non-empty strings. */
export function readStringList(obj: RawObject, key: string, path: string, is: Issues): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  const p = join(path, key);
  if (!Array.isArray(v)) { is.error(p, `must be a list of strings, got ${typeName(v)}`); return undefined; }
  const out: string[] = [];
  v.forEach((x: unknown, i) => {
    if (typeof x !== 'string') is.error(`${p}[${i}]`, `must be a string, got ${typeName(x)}${typeof x === 'number' ? ' (quote it)' : ''}`);
    else if (x === '') is.error(`${p}[${i}]`, 'must not be empty');
    else out.push(x);
  });
  return out;
}

/** Reads an optional list of objects. */
export function readObjectList(obj: RawObject, key: string, path: string, is: Issues): { item: RawObject; path: string }[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  const p = join(path, key);
  if (!Array.isArray(v)) { is.error(p, `must be a list, got ${typeName(v)}`); return undefined; }
  const out: { item: RawObject; path: string }[] = [];
  v.forEach((x: unknown, i) => {
    if (!isRecord(x)) is.error(`${p}[${i}]`, `must be an object, got ${typeName(x)}`);
    else out.push({ item: x, path: `${p}[${i}]` });
  });
  return out;
}

/** Reads a string→string map (labels, matchLabels, annotations). */
export function readLabels(obj: RawObject, key: string, path: string, is: Issues): Labels | undefined {
  const m = readObject(obj, key, path, is);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') is.error(join(join(path, key), k), `must be a string, got ${typeName(v)}`);
    else out[k] = v;
  }
  return out;
}

/** A JSON type name for messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Whether `s` is an IP address or a CIDR range (`10.0.0.0/8`, `::1/128`) with host bits anywhere. */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const len = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len)) return false;
  return Number(len) <= (family === 4 ? 32 : 128);
}

/** Whether `s` is a port number as Istio accepts it in `ports` and `destination.port` (0-65535). */
export function isPortString(s: string): boolean {
  return /^\d{1,5}$/.test(s) && Number(s) <= 65535;
}

/** Istio values: exact, `prefix*`, `*suffix` or `*`; a `*` anywhere else is a mistake. */
export function wildcardProblem(s: string): string | undefined {
  const inner = s.length > 1 ? s.slice(1, -1) : '';
  if (inner.includes('*') || (s.length > 1 && s.startsWith('*') && s.endsWith('*'))) {
    return `"${s}": a wildcard "*" is only allowed alone, as a prefix ("*x") or as a suffix ("x*")`;
  }
  return undefined;
}

const API_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'];

/** Parses the envelope (apiVersion, kind, metadata) shared by both kinds; spec is returned raw. */
export function parseEnvelope(raw: unknown, kind: string, ctx: ParseContext, is: Issues, apiVersions: readonly string[] = API_VERSIONS): { meta: ObjectMeta; apiVersion: string; spec: RawObject } | undefined {
  if (!isRecord(raw)) { is.error('', `a ${kind} must be an object, got ${typeName(raw)}`); return undefined; }
  checkKeys(raw, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '', is);
  const apiVersion = readString(raw, 'apiVersion', '', is);
  if (apiVersion !== undefined && !apiVersions.includes(apiVersion)) is.error('apiVersion', `unsupported apiVersion "${apiVersion}" (use ${apiVersions.join(' or ')})`);
  if (apiVersion === undefined && raw.apiVersion === undefined) is.error('apiVersion', 'is required');
  const k = readString(raw, 'kind', '', is);
  if (k !== kind) is.error('kind', `expected "${kind}", got ${JSON.stringify(raw.kind)}`);
  const md = readObject(raw, 'metadata', '', is);
  // null counts as missing (readObject is silent about null): never invalid without a diagnostic.
  if (!md) { if (raw.metadata === undefined || raw.metadata === null) is.error('metadata', 'is required'); return undefined; }
  const name = readString(md, 'name', 'metadata', is);
  const namespace = readString(md, 'namespace', 'metadata', is) ?? ctx.defaultNamespace;
  is.setName(namespace, name);
  if (!name) { if (md.name === undefined || md.name === null || md.name === '') is.error('metadata.name', 'is required'); return undefined; }
  const labels = readLabels(md, 'labels', 'metadata', is) ?? {};
  const annotations = readLabels(md, 'annotations', 'metadata', is) ?? {};
  const creationTimestamp = readString(md, 'creationTimestamp', 'metadata', is);
  if (creationTimestamp !== undefined && Number.isNaN(Date.parse(creationTimestamp))) is.error('metadata.creationTimestamp', `"${creationTimestamp}" is not an RFC 3339 time`);
  const resourceVersion = readString(md, 'resourceVersion', 'metadata', is);
  const uid = readString(md, 'uid', 'metadata', is);
  const specRaw = raw.spec;
  let spec: RawObject = {};
  if (specRaw !== undefined && specRaw !== null) {
    if (!isRecord(specRaw)) { is.error('spec', `must be an object, got ${typeName(specRaw)}`); return undefined; }
    spec = specRaw;
  }
  const meta: ObjectMeta = {
    name, namespace, labels, annotations, source: ctx.source,
    ...(creationTimestamp !== undefined ? { creationTimestamp } : {}),
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    ...(uid !== undefined ? { uid } : {}),
  };
  return { meta, apiVersion: apiVersion ?? '', spec };
}

/** Reads `selector.matchLabels`; an empty selector is the same as none (namespace-wide). */
export function readSelector(spec: RawObject, is: Issues): Labels | undefined {
  const sel = readObject(spec, 'selector', 'spec', is);
  if (!sel) return undefined;
  checkKeys(sel, ['matchLabels'], 'spec.selector', is);
  const ml = readLabels(sel, 'matchLabels', 'spec.selector', is);
  return ml && Object.keys(ml).length > 0 ? ml : undefined;
}

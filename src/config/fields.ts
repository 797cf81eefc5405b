/**
 * Field checking for the parsers: every complaint becomes a Diagnostic naming the source,
 * the object and the field path. Nothing here throws on bad input.
 */
import { isIP } from 'node:net';
import type { Diagnostic, Labels } from '../model/types.js';
import type { ParseContext } from '../model/parse-result.js';

/** A plain JSON/YAML mapping (not an array, not null). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects diagnostics for one object; `errors` decides whether the object is rejected. */
export class Checker {
  readonly diagnostics: Diagnostic[] = [];
  constructor(
    private readonly ctx: ParseContext,
    readonly kind: string,
    public namespace: string | undefined,
    public name: string | undefined,
  ) {}

  /** Records an error (the object will be rejected). */
  error(field: string, message: string): void {
    this.push('error', field, message);
  }

  /** Records a warning (the object is still accepted). */
  warn(field: string, message: string): void {
    this.push('warning', field, message);
  }

  get hasErrors(): boolean {
    return this.diagnostics.some((d) => d.severity === 'error');
  }

  get warnings(): Diagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'warning');
  }

  private push(severity: Diagnostic['severity'], field: string, message: string): void {
    const d: Diagnostic = {
      severity, source: this.ctx.source, kind: this.kind, field, message,
      ...(this.namespace !== undefined && this.namespace !== '' ? { namespace: this.namespace } : {}),
      ...(this.name !== undefined ? { name: this.name } : {}),
    };
    this.diagnostics.push(d);
  }

  /** Warns about keys outside `known` (they are ignored, as Kubernetes prunes unknown fields). */
  unknownKeys(obj: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const k of Object.keys(obj).sort()) {
      if (!known.includes(k)) this.warn(join(path, k), 'unknown field, ignored');
    }
  }

  /** A mapping at `path` (absent → undefined; wrong type → error). */
  record(obj: Record<string, unknown>, key: string, path: string): Record<string, unknown> | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!isRecord(v)) { this.error(join(path, key), 'must be a mapping'); return undefined; }
    return v;
  }

  /** An array at `path` (absent → undefined; wrong type → error). */
  array(obj: Record<string, unknown>, key: string, path: string): unknown[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) { this.error(join(path, key), 'must be a list'); return undefined; }
    return v;
  }

  /** A string (absent → undefined; wrong type → error). */
  string(obj: Record<string, unknown>, key: string, path: string): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') { this.error(join(path, key), 'must be a string'); return undefined; }
    return v;
  }

  /** A port number 1-65535 (absent → undefined; anything else → error). */
  port(v: unknown, field: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
      this.error(field, 'must be an integer 1-65535');
      return undefined;
    }
    return v;
  }

  /** An IPv4/IPv6 address (absent → undefined; anything else → error). */
  ip(v: unknown, field: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || isIP(v) === 0) { this.error(field, 'must be an IPv4 or IPv6 address'); return undefined; }
    return v;
  }

  /** A string → string map such as labels (absent → {}; non-string values → error). */
  stringMap(obj: Record<string, unknown>, key: string, path: string): Labels {
    const m = this.record(obj, key, path);
    if (!m) return {};
    const out: Record<string, string> = {};
    for (const k of Object.keys(m).sort()) {
      const v = m[k];
      if (typeof v !== 'string') { this.error(join(join(path, key), k), 'must be a string'); continue; }
      out[k] = v;
    }
    return out;
  }
}

/** Joins a field path: `spec` + `ports` → `spec.ports`; keys with dots are bracketed. */
export function join(path: string, key: string): string {
  const k = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (!path) return k;
  return k.startsWith('[') ? path + k : `${path}.${k}`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Whether `s` is a DNS-1123 label (Kubernetes' rule for namespace and service names). */
export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

/** Whether `s` is a DNS-1123 subdomain (Kubernetes' rule for most object names). */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && s.split('.').every((p) => DNS_LABEL.test(p));
}

/**
 * Shared pieces of the workload-identity e2e tests: reading certificates out of a real
 * Envoy (admin `/certs` and the secrets in `/config_dump`), a steady load generator that
 * counts every failed request, and reading one Prometheus sample from meshd.
 */
import { X509Certificate } from 'node:crypto';
import type { RunningEnvoy } from '../helpers/envoy.js';
import type { HttpResult } from '../helpers/apps.js';
import { parseEnvoyCerts, type EnvoyCertEntry } from '../../src/cli/envoy-certs.js';
import { canonicalSerial } from '../../src/ca/cert-summary.js';

export type { EnvoyCert as EnvoyCertDetails, EnvoyCertEntry } from '../../src/cli/envoy-certs.js';

/** A serial as lowercase hex without leading zeros (Envoy and Node print them differently). */
export const normSerial = canonicalSerial;

/** Envoy's `/certs`, per TLS context. */
export async function envoyCerts(e: RunningEnvoy): Promise<readonly EnvoyCertEntry[]> {
  return parseEnvoyCerts(await (await e.admin('/certs')).json()).entries;
}

/** The serials of leaf certificates carrying `uri` in `/certs` (one per TLS context using it). */
export async function leafSerials(e: RunningEnvoy, uri: string): Promise<Set<string>> {
  return new Set((await envoyCerts(e)).flatMap((c) => c.chain.slice(0, 1)).filter((d) => d.uris.includes(uri)).map((d) => d.serial));
}

/** The serials of CA certificates in `/certs` (the trust bundle as Envoy uses it). */
export async function caSerials(e: RunningEnvoy): Promise<Set<string>> {
  return new Set((await envoyCerts(e)).flatMap((c) => c.ca).map((d) => d.serial));
}

export interface EnvoySecret {
  readonly name: string;
  /** The leaf of a `tls_certificate` secret. */
  readonly leaf?: X509Certificate;
  /** The CAs of a `validation_context` secret. */
  readonly cas: readonly X509Certificate[];
  /** The private key as Envoy prints it (it redacts it). */
  readonly privateKey?: string;
}

interface RawSecret { name?: string; secret?: { tls_certificate?: { certificate_chain?: { inline_bytes?: string }; private_key?: { inline_bytes?: string } }; validation_context?: { trusted_ca?: { inline_bytes?: string } } } }

function pems(b64: string | undefined): X509Certificate[] {
  if (!b64) return [];
  const text = Buffer.from(b64, 'base64').toString('utf8');
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

/** Envoy's active dynamic secrets from `/config_dump`. */
export async function envoySecrets(e: RunningEnvoy): Promise<EnvoySecret[]> {
  const dump = await e.configDump();
  const sec = dump.configs.find((c) => String(c['@type']).endsWith('SecretsConfigDump')) as { dynamic_active_secrets?: RawSecret[] } | undefined;
  return (sec?.dynamic_active_secrets ?? []).map((s) => {
    const tls = s.secret?.tls_certificate;
    const leaf = pems(tls?.certificate_chain?.inline_bytes)[0];
    return {
      name: s.name ?? '',
      ...(leaf ? { leaf } : {}),
      cas: pems(s.secret?.validation_context?.trusted_ca?.inline_bytes),
      ...(tls?.private_key?.inline_bytes !== undefined ? { privateKey: tls.private_key.inline_bytes } : {}),
    };
  });
}

/** The URI SANs of a certificate. */
export function urisOf(c: X509Certificate): string[] {
  return (c.subjectAltName ?? '').split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}

export interface LoadResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  /** The first few failures: status or error text, with the time since the start. */
  readonly failures: readonly string[];
}

/** Calls `fn` `rps` times a second until stopped; every non-200 or error counts as failed. */
export function steadyLoad(fn: () => Promise<HttpResult>, rps: number): { stop(): Promise<LoadResult>; snapshot(): LoadResult } {
  const start = Date.now();
  let sent = 0;
  let ok = 0;
  let failed = 0;
  const failures: string[] = [];
  const inflight = new Set<Promise<void>>();
  const fail = (why: string): void => {
    failed++;
    if (failures.length < 20) failures.push(`${((Date.now() - start) / 1000).toFixed(1)}s: ${why}`);
  };
  const timer = setInterval(() => {
    sent++;
    const p = fn().then((r) => { if (r.status === 200) ok++; else fail(`status ${r.status} ${r.body.slice(0, 200)}`); }, (e: unknown) => fail(e instanceof Error ? e.message : String(e)));
    const q = p.finally(() => inflight.delete(q));
    inflight.add(q);
  }, 1000 / rps);
  const snapshot = (): LoadResult => ({ sent, ok, failed, failures: [...failures] });
  return {
    snapshot,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
      return snapshot();
    },
  };
}

/** One sample of a Prometheus text exposition (0 when absent); `labels` must all match. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** Sum of every stat whose name contains all of `parts`. */
export function statSum(stats: Map<string, number>, ...parts: string[]): number {
  let n = 0;
  for (const [k, v] of stats) if (parts.every((p) => k.includes(p))) n += v;
  return n;
}

/**
 * `text` plus every encoded run in it decoded: base64 strings and JSON-serialised Buffers
 * (`{"type":"Buffer","data":[...]}`), where key material would hide in `inline_bytes`.
 */
export function withBase64Decoded(text: string): string {
  const b64 = (text.match(/[A-Za-z0-9+/]{40,}={0,2}/g) ?? []).map((b) => Buffer.from(b, 'base64').toString('latin1'));
  const bufs = [...text.matchAll(/"type":"Buffer","data":\[([0-9,]*)\]/g)].map((m) => Buffer.from(m[1]!.split(',').filter(Boolean).map(Number)).toString('latin1'));
  return [text, ...b64, ...bufs].join('\n');
}

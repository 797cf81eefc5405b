/**
 * Reading what a sidecar itself holds: Envoy's admin `/certs` (serials, SANs, validity of the
 * certificates in use). The admin address comes from `--proxy-admin` or, for a loopback
 * address only, from the proxy's node metadata `ADMIN_ADDRESS` (as meshd reports it).
 */
import { canonicalSerial } from '../ca/cert-summary.js';

/** One certificate as Envoy's `/certs` reports it. */
export interface EnvoyCert {
  readonly serial: string;
  readonly uris: readonly string[];
  readonly validFrom: string;
  readonly expiration: string;
}

/** One TLS context's certificates as Envoy's `/certs` reports them (leaf first in `chain`). */
export interface EnvoyCertEntry {
  readonly chain: readonly EnvoyCert[];
  readonly ca: readonly EnvoyCert[];
}

/** Every certificate Envoy uses: leaf chains and CAs, over all its TLS contexts. */
export interface EnvoyCerts {
  readonly entries: readonly EnvoyCertEntry[];
  readonly chains: readonly (readonly EnvoyCert[])[];
  readonly cas: readonly EnvoyCert[];
}

interface Raw { serial_number?: string; subject_alt_names?: { uri?: string }[]; valid_from?: string; expiration_time?: string }

function cert(d: Raw): EnvoyCert {
  return {
    serial: canonicalSerial(d.serial_number ?? ''),
    uris: (d.subject_alt_names ?? []).map((s) => s.uri).filter((u): u is string => typeof u === 'string'),
    validFrom: d.valid_from ?? '', expiration: d.expiration_time ?? '',
  };
}

/** Parses the JSON of Envoy's `/certs`. */
export function parseEnvoyCerts(j: unknown): EnvoyCerts {
  const list = (j as { certificates?: { cert_chain?: Raw[]; ca_cert?: Raw[] }[] } | null)?.certificates ?? [];
  const entries = list.map((c) => ({ chain: (c.cert_chain ?? []).map(cert), ca: (c.ca_cert ?? []).map(cert) }));
  return { entries, chains: entries.map((e) => e.chain).filter((c) => c.length > 0), cas: entries.flatMap((e) => e.ca) };
}

/** Fetches `/certs` from an Envoy admin URL; an Error saying why when it cannot. */
export async function fetchEnvoyCerts(adminUrl: string): Promise<EnvoyCerts> {
  const base = (/^https?:\/\//.test(adminUrl) ? adminUrl : `http://${adminUrl}`).replace(/\/+$/, '');
  let r: Response;
  try {
    r = await fetch(`${base}/certs`, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    throw new Error(`Envoy admin at ${base} is not reachable (${e instanceof Error && e.cause instanceof Error ? e.cause.message : String(e)})`);
  }
  if (!r.ok) throw new Error(`Envoy admin at ${base} answered ${r.status} for /certs`);
  return parseEnvoyCerts(await r.json());
}

/** Whether Envoy uses a leaf with this serial (the one meshd last sent). */
export function envoyHoldsLeaf(certs: EnvoyCerts, serial: string): boolean {
  const want = canonicalSerial(serial);
  return certs.chains.some((c) => c[0]?.serial === want);
}

/**
 * Envoy's access-log entries (decoded `envoy.data.accesslog.v3` messages, snake_case fields)
 * → the few facts meshd aggregates: who called (source address, peer SPIFFE id), on which
 * inbound chain (mTLS, plaintext, TLS passthrough), and whether RBAC denied it and by which key.
 */
import { CHAIN_TAG } from './als-config.js';

export type ChainKind = 'mtls' | 'plaintext' | 'tls-passthrough';

/** One inbound request (HTTP) or connection (TCP) as seen by the destination's sidecar. */
export interface LogRecord {
  readonly kind: 'http' | 'tcp';
  /** The caller's IP (downstream remote address), '' if Envoy gave none. */
  readonly sourceAddress: string;
  /** The caller's SPIFFE id (peer certificate URI SAN); '' for plaintext. */
  readonly peerUri: string;
  /** The inbound filter chain name, `inbound|8080|plaintext`, when tagged. */
  readonly chain: string;
  readonly chainKind: ChainKind | 'unknown';
  readonly port?: number;
  readonly responseCode?: number;
  /** The RBAC policy key that denied it, or `none` when no ALLOW policy matched; absent if not denied. */
  readonly deniedBy?: string;
}

type Rec = { readonly [k: string]: unknown };
const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Rec : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const DENIED_PREFIX = 'rbac_access_denied_matched_policy[';

/** The RBAC key in `rbac_access_denied_matched_policy[<key>]` (Envoy's details on a denial), else undefined. */
export function deniedPolicyKey(details: string): string | undefined {
  if (!details.startsWith(DENIED_PREFIX) || !details.endsWith(']')) return undefined;
  return details.slice(DENIED_PREFIX.length, -1);
}

/** Parses `inbound|<port>|<kind>` (src/xds/names.ts inboundChainName). */
export function parseInboundChain(name: string): { port: number; kind: ChainKind } | undefined {
  const m = /^inbound\|(\d+)\|(mtls|plaintext|tls-passthrough)$/.exec(name);
  return m ? { port: Number(m[1]), kind: m[2] as ChainKind } : undefined;
}

function common(entry: Rec): { sourceAddress: string; peerUri: string; chain: string; chainKind: LogRecord['chainKind']; port?: number; termination: string } {
  const c = rec(entry.common_properties);
  const sock = rec(rec(c.downstream_remote_address).socket_address);
  const sans = list(rec(rec(c.tls_properties).peer_certificate_properties).subject_alt_name);
  const peerUri = sans.map((s) => str(rec(s).uri)).find((u) => u.startsWith('spiffe://')) ?? '';
  const chain = str(rec(c.custom_tags)[CHAIN_TAG]);
  const parsed = parseInboundChain(chain);
  return {
    sourceAddress: str(sock.address), peerUri, chain,
    chainKind: parsed?.kind ?? 'unknown',
    ...(parsed ? { port: parsed.port } : {}),
    termination: str(c.connection_termination_details),
  };
}

/** One decoded `HTTPAccessLogEntry` → a record. */
export function httpRecord(entry: Rec): LogRecord {
  const c = common(entry);
  const resp = rec(entry.response);
  const code = rec(resp.response_code).value;
  const deniedBy = deniedPolicyKey(str(resp.response_code_details));
  return {
    kind: 'http', sourceAddress: c.sourceAddress, peerUri: c.peerUri, chain: c.chain, chainKind: c.chainKind,
    ...(c.port !== undefined ? { port: c.port } : {}),
    ...(typeof code === 'number' ? { responseCode: code } : {}),
    ...(deniedBy !== undefined ? { deniedBy } : {}),
  };
}

/** One decoded `TCPAccessLogEntry` → a record (a connection; network RBAC denials come from its termination details). */
export function tcpRecord(entry: Rec): LogRecord {
  const c = common(entry);
  const deniedBy = deniedPolicyKey(c.termination);
  return {
    kind: 'tcp', sourceAddress: c.sourceAddress, peerUri: c.peerUri, chain: c.chain, chainKind: c.chainKind,
    ...(c.port !== undefined ? { port: c.port } : {}),
    ...(deniedBy !== undefined ? { deniedBy } : {}),
  };
}

/** Every record of one decoded `StreamAccessLogsMessage`, HTTP entries first. */
export function messageRecords(msg: Rec): LogRecord[] {
  return [
    ...list(rec(msg.http_logs).log_entry).map((e) => httpRecord(rec(e))),
    ...list(rec(msg.tcp_logs).log_entry).map((e) => tcpRecord(rec(e))),
  ];
}

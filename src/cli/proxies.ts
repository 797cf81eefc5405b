/**
 * What meshctl reads about proxies from meshd's debug views, and how a user names a proxy:
 * its full node id, `name.namespace` (as istioctl), `namespace/name`, or a connection id.
 */
import type { CertSummary } from '../ca/cert-summary.js';
import { parseNodeId } from '../xds/names.js';
import { CliError, type AdminClient } from './admin-client.js';

/** One type of one stream in `/debug/syncz`. */
export interface TypeSync {
  readonly type: string;
  readonly state: 'SYNCED' | 'NOT SENT' | 'STALE' | 'NACKED';
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
  readonly sentNonce?: string;
  readonly sentAt?: string;
  readonly awaitingAck: boolean;
  readonly lastNack?: { readonly version: string; readonly message: string; readonly time: string };
}

/** One stream in `/debug/syncz`. */
export interface ProxySync {
  readonly proxyId: string;
  readonly connectionId: string;
  readonly protocol: string;
  readonly types: Readonly<Record<string, TypeSync>>;
  readonly lastError?: string;
}

/** One stream in `/debug/connections`. */
export interface Connection {
  readonly proxyId: string;
  readonly connectionId: string;
  readonly protocol: string;
  readonly peer: string;
  readonly connectedAt: string;
  readonly workload: string | null;
  readonly identity: string | null;
  readonly secretSource: string;
  readonly envoyVersion: string | null;
  readonly adminAddress: string | null;
  readonly certificate: readonly CertSummary[] | null;
  readonly chainPem?: readonly string[];
}

/** `name.namespace` of a node id (its middle part), else the id. */
export function shortName(proxyId: string): string {
  const n = parseNodeId(proxyId);
  return n ? `${n.name}.${n.namespace}` : proxyId;
}

/** Whether a user's name for a proxy names this one. */
export function proxyMatches(proxyId: string, connectionId: string, query: string): boolean {
  if (query === proxyId || query === connectionId) return true;
  const n = parseNodeId(proxyId);
  if (!n) return false;
  return query === `${n.name}.${n.namespace}` || query === `${n.namespace}/${n.name}` || query === n.name;
}

/** The one connected proxy a query names; a CliError when none or several do. */
export function pickProxy<T extends { proxyId: string; connectionId: string }>(list: readonly T[], query: string, base: string): T {
  const hits = list.filter((p) => proxyMatches(p.proxyId, p.connectionId, query));
  if (hits.length === 0) throw new CliError(`no proxy ${JSON.stringify(query)} is connected to meshd at ${base}; meshctl proxy-status lists them`);
  const ids = new Set(hits.map((h) => h.proxyId));
  if (ids.size > 1) throw new CliError(`${JSON.stringify(query)} names ${ids.size} proxies (${[...ids].map(shortName).join(', ')}); use the full id`);
  // Several streams of one proxy (a reconnect in progress): the newest.
  return hits[hits.length - 1]!;
}

/** `/debug/syncz`'s streams. */
export async function fetchSync(client: AdminClient): Promise<ProxySync[]> {
  return (await client.get<{ proxies: ProxySync[] }>('/debug/syncz')).proxies;
}

/** `/debug/connections` (with PEM chains when asked). */
export async function fetchConnections(client: AdminClient, pem = false): Promise<Connection[]> {
  return client.get<Connection[]>(`/debug/connections${pem ? '?pem=true' : ''}`);
}

/**
 * `meshctl proxy-config listeners|clusters|routes|endpoints|secret|all <proxy>`: what meshd
 * sends one proxy (`/debug/config_dump`), as istioctl's summary tables, or whole with
 * `-o json|yaml`. `secret` shows the certificates meshd holds for the proxy and the trust
 * bundle (serial, SPIFFE id, validity, issuer) and whether Envoy uses that same leaf (its
 * admin `/certs`, from `--proxy-admin` or the proxy's loopback `ADMIN_ADDRESS`); never a key.
 */
import type { Command } from './command.js';
import type { CaStatus } from '../ca/ca.js';
import type { CertSummary } from '../ca/cert-summary.js';
import { ResourceType } from '../xds/resource-types.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';
import { clustersTable, endpointsTable, listenersTable, routesTable } from './config-tables.js';
import { envoyHoldsLeaf, fetchEnvoyCerts, type EnvoyCerts } from './envoy-certs.js';
import { OUTPUT_FLAG, emit, expandShortFlags, formatTable, outputFormat } from './output.js';
import { fetchConnections, pickProxy, type Connection } from './proxies.js';

const FLAGS: readonly FlagSpec[] = [
  OUTPUT_FLAG,
  { name: 'proxy-admin', type: 'string', help: 'the sidecar\'s Envoy admin URL, to compare its /certs with what meshd sent (default: its ADMIN_ADDRESS node metadata, loopback only)' },
  ...ADMIN_FLAGS,
  { name: 'help', type: 'bool', help: 'show this help' },
];
const KINDS = ['listeners', 'clusters', 'routes', 'endpoints', 'secret', 'all'] as const;
type Kind = (typeof KINDS)[number];
const TYPE_OF: Readonly<Record<Exclude<Kind, 'secret' | 'all'>, string>> = {
  listeners: ResourceType.Listener, clusters: ResourceType.Cluster, routes: ResourceType.Route, endpoints: ResourceType.Endpoint,
};
const USAGE = `usage: meshctl proxy-config ${KINDS.join('|')} <proxy> [-o table|json|yaml] [--proxy-admin URL] [--meshd URL]\n  <proxy>: its node id, name.namespace, namespace/name or connection id (meshctl proxy-status lists them)`;

interface Dump { resources: Record<string, Record<string, unknown>[]> }

/** What `secret` reports: meshd's view and Envoy's. */
export interface SecretReport {
  readonly proxy: string;
  readonly secretSource: string;
  readonly default: readonly CertSummary[];
  readonly rootCa: readonly { id: string; subject: string; serial: string; notBefore: string; notAfter: string }[];
  readonly envoy: { readonly adminAddress: string | null; readonly reachable: boolean; readonly holdsMeshdLeaf: boolean | null; readonly leafSerials: readonly string[]; readonly caSerials: readonly string[]; readonly error?: string };
}

/** Builds the secret report; Envoy's `/certs` is read when an admin address is known. */
export async function secretReport(c: Connection, ca: CaStatus, adminFlag?: string): Promise<SecretReport> {
  const adminAddress = adminFlag ?? c.adminAddress;
  let envoy: EnvoyCerts | undefined;
  let error: string | undefined;
  if (adminAddress) {
    try { envoy = await fetchEnvoyCerts(adminAddress); } catch (e) { error = e instanceof Error ? e.message : String(e); }
  } else error = 'no Envoy admin address (give --proxy-admin URL; node metadata ADMIN_ADDRESS is used when it is a loopback address)';
  const leaf = c.certificate?.[0];
  const chain = (c.certificate ?? []).filter((x) => !(x.isCa && x.subject === x.issuer));
  return {
    proxy: c.proxyId, secretSource: c.secretSource, default: chain,
    rootCa: ca.roots.map((r) => ({ id: r.id, subject: r.subject, serial: r.serial, notBefore: r.notBefore, notAfter: r.notAfter })),
    envoy: {
      adminAddress: adminAddress ?? null, reachable: envoy !== undefined,
      holdsMeshdLeaf: envoy && leaf ? envoyHoldsLeaf(envoy, leaf.serial) : null,
      leafSerials: envoy ? envoy.chains.map((ch) => ch[0]!.serial) : [],
      caSerials: envoy ? [...new Set(envoy.cas.map((x) => x.serial))] : [],
      ...(error ? { error } : {}),
    },
  };
}

const norm = (s: string): string => s.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+(?=.)/, '');

/** RESOURCE NAME TYPE SERIAL SPIFFE ID NOT BEFORE NOT AFTER ISSUER IN ENVOY, then notes. */
export function formatSecretTable(r: SecretReport): string {
  const yes = (b: boolean | null): string => (b === null ? 'unknown' : b ? 'yes' : 'NO');
  const inEnvoyLeaf = r.envoy.reachable ? yes(r.envoy.holdsMeshdLeaf) : 'unknown';
  const rows = [
    ...r.default.map((c, i) => ['default', i === 0 ? 'Cert Chain' : 'Intermediate', c.serial, c.spiffeId ?? '', c.notBefore, c.notAfter, c.issuer, i === 0 ? inEnvoyLeaf : '']),
    ...r.rootCa.map((c) => ['ROOTCA', 'CA', norm(c.serial), '', c.notBefore, c.notAfter, c.subject, r.envoy.reachable ? yes(r.envoy.caSerials.includes(norm(c.serial))) : 'unknown']),
  ];
  const notes: string[] = [];
  if (r.secretSource === 'agent') notes.push('secrets of this proxy come from its node agent (meshctl agent): meshd holds no certificate for it');
  if (r.envoy.error) notes.push(`IN ENVOY unknown: ${r.envoy.error}`);
  if (r.envoy.reachable && r.envoy.holdsMeshdLeaf === false) notes.push(`Envoy uses leaf ${r.envoy.leafSerials.join(', ') || '(none)'}, not the one meshd last sent: a push is in flight or SDS is failing (meshctl proxy-status)`);
  return formatTable(['RESOURCE NAME', 'TYPE', 'SERIAL', 'SPIFFE ID', 'NOT BEFORE', 'NOT AFTER', 'ISSUER', 'IN ENVOY'], rows) + notes.map((n) => `note: ${n}\n`).join('');
}

/** `meshctl proxy-config <kind> <proxy>`. */
export const proxyConfigCommand: Command = {
  path: ['proxy-config'],
  summary: 'what meshd sends a proxy: listeners, clusters, routes, endpoints, secret (certificates, never keys), all',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp(USAGE, FLAGS)); return 0; }
    const [kindRaw, query, extra] = positional;
    if (!kindRaw || !(KINDS as readonly string[]).includes(kindRaw)) throw new FlagError(`the first argument must be one of ${KINDS.join(', ')}${kindRaw ? `, got ${JSON.stringify(kindRaw)}` : ''}`);
    if (!query) throw new FlagError('a proxy is required (meshctl proxy-status lists them)');
    if (extra) throw new FlagError(`unexpected argument ${JSON.stringify(extra)}`);
    const kind = kindRaw as Kind;
    const format = outputFormat(v.output);
    const client = new AdminClient(v);
    const conn = pickProxy(await fetchConnections(client), query, client.base);
    const dump = await client.get<Dump>(`/debug/config_dump?proxy=${encodeURIComponent(conn.connectionId)}`);
    const res = (t: string): Record<string, unknown>[] => dump.resources[t] ?? [];
    const secret = kind === 'secret' || kind === 'all' ? await secretReport(conn, await client.get<CaStatus>('/ca/status'), v['proxy-admin'] ? String(v['proxy-admin']) : undefined) : undefined;
    if (kind === 'secret') {
      emit(format, { ...secret, resources: res(ResourceType.Secret) }, () => formatSecretTable(secret!));
      return 0;
    }
    if (kind === 'all') {
      emit(format, { proxy: conn.proxyId, resources: dump.resources, secret }, () => [
        `LISTENERS\n${listenersTable(res(ResourceType.Listener))}`, `CLUSTERS\n${clustersTable(res(ResourceType.Cluster))}`,
        `ROUTES\n${routesTable(res(ResourceType.Route))}`, `ENDPOINTS\n${endpointsTable(res(ResourceType.Endpoint))}`, `SECRETS\n${formatSecretTable(secret!)}`,
      ].join('\n'));
      return 0;
    }
    const list = res(TYPE_OF[kind]);
    const table = { listeners: listenersTable, clusters: clustersTable, routes: routesTable, endpoints: endpointsTable }[kind];
    emit(format, list, () => table(list));
    return 0;
  },
};

/**
 * `meshctl edges`: who calls whom, with which identities, and whether it is mTLS, from
 * meshd's live telemetry (`GET /debug/edges`), in the shape of `linkerd viz edges`.
 */
import type { EdgeRow } from '../telemetry/reports.js';
import type { Command } from './command.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec, type FlagValues } from '../util/flags.js';
import { ADMIN_FLAGS, AdminClient, CliError } from './admin-client.js';
import { formatTable } from './output.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', type: 'string', help: 'only edges from or to this namespace (-n)' },
  { name: 'output', type: 'string', default: 'table', help: 'table or json (-o)' },
  ...ADMIN_FLAGS,
  { name: 'help', type: 'bool', help: 'show this help' },
];

const SHORT: Readonly<Record<string, string>> = { '-n': '--namespace', '-o': '--output', '-h': '--help' };

/** One edge as `/debug/edges` serves it (only the keys meshctl reads). */
export type Edge = Pick<EdgeRow, 'src' | 'dst' | 'srcNamespace' | 'dstNamespace' | 'clientId' | 'serverId' | 'secured' | 'denied' | 'scope'>;

function isEdge(v: unknown): v is Edge {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return ['src', 'dst', 'srcNamespace', 'dstNamespace', 'clientId', 'serverId'].every((k) => typeof o[k] === 'string')
    && typeof o.secured === 'boolean' && typeof o.denied === 'number';
}

/** The table: one row per edge, columns as `linkerd viz edges` plus identities and denials; `-` for an empty cell. */
export function formatEdgesTable(edges: readonly Edge[]): string {
  const head = ['SRC', 'DST', 'SRC_NS', 'DST_NS', 'CLIENT_ID', 'SERVER_ID', 'SECURED', 'DENIED'];
  const rows = edges.map((e) => [e.src, e.dst, e.srcNamespace, e.dstNamespace, e.clientId, e.serverId, e.secured ? '√ (mTLS)' : 'plaintext', String(e.denied)]);
  // Learned scoping: which dependencies the caller's sidecar keeps, shown only when some caller is scoped.
  if (!edges.some((e) => e.scope)) return formatTable(head, rows);
  return formatTable([...head, 'SCOPE'], rows.map((r, i) => [...r, edges[i]!.scope ?? 'full']));
}

/** Fetches and checks the edges; every failure is a CliError saying what to do. */
export async function fetchEdges(v: FlagValues, namespace?: string): Promise<Edge[]> {
  const client = new AdminClient(v);
  const body = await client.get<unknown>(`/debug/edges${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ''}`);
  if (!Array.isArray(body) || !body.every(isEdge)) throw new CliError(`meshd at ${client.base} sent edges in an unexpected shape`);
  return body;
}

export const edgesCommand: Command = {
  path: ['edges'],
  summary: 'who calls whom in the mesh, with identities, mTLS or plaintext, and denials (live)',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, args.map((a) => SHORT[a] ?? a));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl edges [-n NAMESPACE] [-o table|json] [--meshd URL]', FLAGS)); return 0; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    const output = String(v.output);
    if (output !== 'table' && output !== 'json') throw new FlagError('-o must be table or json');
    const edges = await fetchEdges(v, v.namespace ? String(v.namespace) : undefined);
    if (output === 'json') {
      const list = edges.map((e) => ({ src: e.src, dst: e.dst, srcNamespace: e.srcNamespace, dstNamespace: e.dstNamespace, clientId: e.clientId, serverId: e.serverId, secured: e.secured, denied: e.denied, ...(e.scope ? { scope: e.scope } : {}) }));
      process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    } else if (edges.length === 0) {
      process.stdout.write(`no edges${v.namespace ? ` in namespace ${String(v.namespace)}` : ''} yet: meshd learns them from the sidecars' access logs as requests flow\n`);
    } else {
      process.stdout.write(formatEdgesTable(edges));
    }
    return 0;
  },
};

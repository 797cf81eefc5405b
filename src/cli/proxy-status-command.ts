/**
 * `meshctl proxy-status [proxy]`: per connected proxy and resource type, SYNCED / NOT SENT /
 * STALE / NACKED (as `istioctl proxy-status`), the versions sent and acknowledged, and NACK
 * messages; with a proxy, one row per type. Reads `/debug/syncz`.
 */
import type { Command } from './command.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';
import { OUTPUT_FLAG, emit, expandShortFlags, formatTable, outputFormat } from './output.js';
import { fetchSync, pickProxy, shortName, type ProxySync } from './proxies.js';

const FLAGS: readonly FlagSpec[] = [OUTPUT_FLAG, ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' }];
const TYPES = ['CDS', 'LDS', 'EDS', 'RDS', 'SDS'];

function typeOf(p: ProxySync, short: string): ProxySync['types'][string] | undefined {
  return Object.values(p.types).find((t) => t.type === short);
}

/** The all-proxies table: NAME, one column per type, the stream's version of CDS, and a NACK line per rejected type. */
export function formatProxyStatus(list: readonly ProxySync[]): string {
  const rows = list.map((p) => [shortName(p.proxyId), p.protocol === 'delta' ? 'Delta' : 'SotW', ...TYPES.map((t) => typeOf(p, t)?.state ?? 'NOT SENT'), typeOf(p, 'CDS')?.sentVersion?.slice(0, 12) ?? '']);
  const nacks = list.flatMap((p) => Object.values(p.types).filter((t) => t.state === 'NACKED' && t.lastNack).map((t) => `NACK ${shortName(p.proxyId)} ${t.type} version ${t.lastNack!.version.slice(0, 12)}: ${t.lastNack!.message}`));
  const errors = list.filter((p) => p.lastError).map((p) => `ERROR ${shortName(p.proxyId)}: ${p.lastError}`);
  return formatTable(['NAME', 'XDS', ...TYPES, 'VERSION'], rows) + [...nacks, ...errors].map((l) => l + '\n').join('');
}

/** One proxy: a row per type with sent and acknowledged versions and the last NACK. */
export function formatProxyDetail(p: ProxySync): string {
  const rows = TYPES.map((t) => {
    const s = typeOf(p, t);
    return [t, s?.state ?? 'NOT SENT', s?.sentVersion ?? '', s?.ackedVersion ?? '', s?.sentAt ?? '', s?.lastNack ? `${s.lastNack.version.slice(0, 12)}: ${s.lastNack.message}` : ''];
  });
  return `${p.proxyId} (${p.connectionId}, ${p.protocol})\n` + formatTable(['TYPE', 'STATE', 'SENT', 'ACKED', 'SENT AT', 'LAST NACK'], rows) + (p.lastError ? `error: ${p.lastError}\n` : '');
}

/** `meshctl proxy-status [proxy]`. */
export const proxyStatusCommand: Command = {
  path: ['proxy-status'],
  summary: 'per proxy and type: SYNCED / NOT SENT / STALE / NACKED, versions, NACK messages',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl proxy-status [<proxy>] [-o table|json|yaml] [--meshd URL]', FLAGS)); return 0; }
    if (positional.length > 1) throw new FlagError(`unexpected argument ${JSON.stringify(positional[1])}`);
    const format = outputFormat(v.output);
    const client = new AdminClient(v);
    const list = await fetchSync(client);
    if (positional[0]) {
      const p = pickProxy(list, positional[0], client.base);
      emit(format, p, () => formatProxyDetail(p));
      return 0;
    }
    emit(format, list, () => (list.length ? formatProxyStatus(list) : 'no proxies connected\n'));
    return 0;
  },
};

/**
 * `meshctl identity <namespace>/<workload>` (as `linkerd identity`): the certificate each of
 * the workload's proxies holds now, as meshd issued it: its facts and its PEM chain (public:
 * never a key). With `--proxy-admin`, also whether Envoy uses that same leaf.
 */
import type { Command } from './command.js';
import type { CaStatus } from '../ca/ca.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { ADMIN_FLAGS, AdminClient, CliError } from './admin-client.js';
import { OUTPUT_FLAG, emit, expandShortFlags, outputFormat, until } from './output.js';
import { secretReport } from './proxy-config-command.js';
import { chainLines, parseWorkloadRef, workloadInfo } from './workload-info.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', type: 'string', help: 'namespace when the workload is given without one (also -n)' },
  { name: 'proxy-admin', type: 'string', help: 'the sidecar\'s Envoy admin URL, to check it uses the same certificate' },
  OUTPUT_FLAG, ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' },
];

/** `meshctl identity <ns>/<workload>`: fails when no proxy of it is connected. */
export const identityCommand: Command = {
  path: ['identity'],
  summary: 'the certificate a workload holds now (like linkerd identity)',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl identity <namespace>/<workload> [-o table|json|yaml] [--proxy-admin URL] [--meshd URL]', FLAGS)); return 0; }
    if (!positional[0]) throw new FlagError('a workload is required: <namespace>/<workload>');
    if (positional.length > 1) throw new FlagError(`unexpected argument ${JSON.stringify(positional[1])}`);
    const ref = parseWorkloadRef(positional[0], v.namespace ? String(v.namespace) : undefined);
    const format = outputFormat(v.output);
    const client = new AdminClient(v);
    const info = await workloadInfo(client, ref.namespace, ref.name, true);
    if (info.proxies.length === 0) throw new CliError(`${ref.namespace}/${ref.name} has no proxy connected to meshd, so it holds no certificate from it`);
    const ca = await client.get<CaStatus>('/ca/status');
    const held = await Promise.all(info.proxies.map(async ({ connection: c }) => ({
      proxy: c.proxyId, identity: c.identity, secretSource: c.secretSource, certificate: c.certificate, chainPem: c.chainPem ?? [],
      envoy: (await secretReport(c, ca, v['proxy-admin'] ? String(v['proxy-admin']) : undefined)).envoy,
    })));
    emit(format, held, () => held.map((h) => [
      `${h.proxy}`,
      `  identity: ${h.identity ?? '(none)'}`,
      ...(h.certificate ? chainLines(h.certificate, '  ', (iso) => until(iso)) : [h.secretSource === 'agent' ? '  certificates come from its node agent: meshd holds none' : '  no certificate held']),
      ...(h.envoy.reachable ? [`  Envoy uses this leaf: ${h.envoy.holdsMeshdLeaf ? 'yes' : `NO (Envoy has ${h.envoy.leafSerials.join(', ') || 'none'})`}`] : []),
      ...(h.chainPem.length ? [h.chainPem.join('').trimEnd()] : []),
    ].join('\n')).join('\n\n') + '\n');
    return 0;
  },
};

/** `meshctl version`: meshctl's version and, when reachable, meshd's (its public `/version`). */
import type { Command } from './command.js';
import { flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { MESHD_VERSION } from '../version.js';
import { ADMIN_FLAGS, AdminClient, CliError } from './admin-client.js';
import { OUTPUT_FLAG, emit, expandShortFlags, outputFormat } from './output.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'short', type: 'bool', help: 'the client version only' },
  OUTPUT_FLAG, ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' },
];

/** `meshctl version`: exit 1 when meshd cannot be asked. */
export const versionCommand: Command = {
  path: ['version'],
  summary: 'meshctl\'s version and the version of the meshd it talks to',
  async run(args) {
    const { values: v } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl version [--short] [-o table|json|yaml] [--meshd URL]', FLAGS)); return 0; }
    const format = outputFormat(v.output);
    if (v.short) { emit(format, { client: MESHD_VERSION }, () => `${MESHD_VERSION}\n`); return 0; }
    let server: { version: string; node: string } | { error: string };
    try { server = await new AdminClient(v).get<{ version: string; node: string }>('/version'); } catch (e) { server = { error: e instanceof CliError ? e.message : String(e) }; }
    emit(format, { client: { version: MESHD_VERSION, node: process.version }, meshd: server }, () =>
      `meshctl: ${MESHD_VERSION} (node ${process.version})\nmeshd:   ${'version' in server ? `${server.version} (node ${server.node})` : `unknown: ${server.error}`}\n`);
    return 'version' in server ? 0 : 1;
  },
};

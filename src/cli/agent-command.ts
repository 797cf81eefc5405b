/**
 * `meshctl agent`: the node agent beside one Envoy. Wraps runAgent; stops on SIGTERM/SIGINT
 * and removes its SDS socket.
 */
import type { Command } from './command.js';
import { flagHelp, parseFlags, FlagError, type FlagSpec } from '../util/flags.js';
import { AgentError, runAgent, type AgentOptions } from '../sds/agent.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'meshd', env: 'MESHD_CA_ADDR', type: 'string', help: 'meshd\'s CA address HOST:PORT (its secure port 15012 with --ca-cert) (required)' },
  { name: 'token-file', env: 'MESHD_TOKEN_FILE', type: 'string', help: 'file holding the join or service-account token (re-read at every renewal) (required)' },
  { name: 'socket', env: 'MESHD_SDS_SOCKET', type: 'string', help: 'Unix socket Envoy reads its secrets from (required)' },
  { name: 'ca-cert', env: 'MESHD_CA_CERT', type: 'string', help: 'root certificate(s) to verify meshd with (TLS); without it the agent talks plaintext' },
  { name: 'server-name', type: 'string', help: 'TLS name expected on meshd\'s certificate (default: the host of --meshd)' },
  { name: 'cert-ttl', type: 'duration', help: 'lifetime to request (default: meshd\'s --cert-ttl)' },
  { name: 'bundle-refresh', type: 'duration', default: '30s', help: 'how often to re-read the trust bundle from meshd (root rotation); 0s turns it off' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

const USAGE = 'usage: meshctl agent --meshd HOST:PORT --token-file F --socket PATH [--ca-cert root.pem]';

/** Turns parsed flags into agent options; throws FlagError on a missing required flag. */
export function agentOptionsOf(v: Record<string, string | number | boolean | undefined>): AgentOptions {
  for (const k of ['meshd', 'token-file', 'socket']) if (!v[k]) throw new FlagError(`--${k} is required`);
  return {
    meshd: String(v.meshd), tokenFile: String(v['token-file']), socket: String(v.socket),
    ...(v['ca-cert'] ? { caCertFile: String(v['ca-cert']) } : {}),
    ...(v['server-name'] ? { serverName: String(v['server-name']) } : {}),
    ...(v['cert-ttl'] !== undefined ? { ttlSeconds: Math.round((v['cert-ttl'] as number) / 1000) } : {}),
    bundleRefreshMs: v['bundle-refresh'] as number,
  };
}

export const agentCommand: Command = {
  path: ['agent'],
  summary: 'node agent: keeps the workload key, gets certificates by CSR, serves SDS to Envoy on a Unix socket',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, args);
    if (v.help) { process.stdout.write(flagHelp(USAGE, FLAGS)); return 0; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    const opts = agentOptionsOf(v);
    // Listen for signals from the start, so a stop during start-up still cleans up.
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    let agent;
    try {
      agent = await runAgent(opts);
    } catch (e) {
      process.stderr.write(`meshctl agent: ${e instanceof Error ? e.message : String(e)}\n`);
      return e instanceof AgentError && e.permanent ? 1 : 2;
    }
    const signal = await stopped;
    process.stderr.write(`agent: ${signal}: stopping\n`);
    await agent.close();
    return 0;
  },
};

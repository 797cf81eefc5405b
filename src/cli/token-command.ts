import type { Command } from './command.js';
import { flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { loadOrCreateTokenSigningKey, mintJoinToken } from '../ca/tokens.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', type: 'string', help: 'the identity\'s namespace (required)' },
  { name: 'service-account', type: 'string', help: 'the identity\'s service account (required)' },
  { name: 'ttl', type: 'duration', default: '24h', help: 'how long the token is valid' },
  { name: 'state-dir', env: 'MESHD_STATE_DIR', type: 'string', default: 'state', help: 'meshd\'s state directory (holds the token signing key)' },
  { name: 'trust-domain', env: 'MESHD_TRUST_DOMAIN', type: 'string', default: 'cluster.local', help: 'SPIFFE trust domain' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

export const tokenCreateCommand: Command = {
  path: ['token', 'create'],
  summary: 'mint a join token for one workload identity (file-store mode)',
  async run(args) {
    const { values: v } = parseFlags(FLAGS, args);
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl token create --namespace NS --service-account SA [--ttl 24h] [--state-dir DIR]', FLAGS)); return 0; }
    if (!v.namespace || !v['service-account']) { process.stderr.write('meshctl token create: --namespace and --service-account are required\n'); return 2; }
    const key = loadOrCreateTokenSigningKey(String(v['state-dir']));
    const token = mintJoinToken({
      namespace: String(v.namespace), serviceAccount: String(v['service-account']),
      ttlSeconds: Math.round((v.ttl as number) / 1000), trustDomain: String(v['trust-domain']),
    }, key.privateKey);
    process.stdout.write(token + '\n');
    return 0;
  },
};

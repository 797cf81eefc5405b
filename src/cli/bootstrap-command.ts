import { writeFileSync } from 'node:fs';
import type { Command } from './command.js';
import { flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { renderBootstrapYaml } from '../bootstrap/render.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', type: 'string', help: 'workload namespace (required)' },
  { name: 'workload', type: 'string', help: 'workload name, as its WorkloadEntry or pod (required)' },
  { name: 'service-account', type: 'string', default: 'default', help: 'service account (documentation only: identity comes from --token-file)' },
  { name: 'ip', type: 'string', default: '127.0.0.1', help: 'the workload address, as in its WorkloadEntry' },
  { name: 'meshd', env: 'MESHD_XDS_ADDR', type: 'string', default: '127.0.0.1:15010', help: 'meshd xDS address host:port' },
  { name: 'mode', type: 'string', default: 'explicit', help: 'interception mode: explicit or transparent' },
  { name: 'delta', type: 'bool', default: 'false', help: 'use incremental xDS (DELTA_GRPC)' },
  { name: 'admin-port', type: 'int', default: '15000', help: 'Envoy admin port on 127.0.0.1' },
  { name: 'stats-port', type: 'int', default: '15090', help: 'Prometheus port on --ip serving Istio\'s standard metrics (0: none; needs a fixed --admin-port)' },
  { name: 'token-file', type: 'string', help: 'a join token (meshctl token create) or service-account token to present' },
  { name: 'agent-socket', type: 'string', help: 'node agent SDS socket: mTLS to meshd with the agent\'s certificate' },
  { name: 'meshd-ca', type: 'string', help: 'PEM file to verify meshd\'s TLS port with (no agent)' },
  { name: 'label', type: 'string', help: 'workload labels, k=v,k=v' },
  { name: 'o', type: 'string', help: 'write to this file (mode 0600) instead of stdout' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

export const bootstrapCommand: Command = {
  path: ['bootstrap'],
  summary: 'render an Envoy sidecar bootstrap for a workload',
  async run(args) {
    // `-o FILE` as kubectl spells it (the injected bootstrap container uses it); a stray word is
    // an error, not silently ignored (that once sent the bootstrap to stdout instead of the file).
    const { values: v, positional } = parseFlags(FLAGS, args.map((a) => (a === '-o' ? '--o' : a)));
    if (positional.length) { process.stderr.write(`meshctl bootstrap: unexpected argument ${JSON.stringify(positional[0])}\n`); return 2; }
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl bootstrap --namespace NS --workload NAME --service-account SA [--meshd ADDR] [--mode explicit|transparent]', FLAGS)); return 0; }
    if (!v.namespace || !v.workload) { process.stderr.write('meshctl bootstrap: --namespace and --workload are required\n'); return 2; }
    const mode = String(v.mode);
    if (mode !== 'explicit' && mode !== 'transparent') { process.stderr.write('meshctl bootstrap: --mode must be explicit or transparent\n'); return 2; }
    const { readFileSync } = await import('node:fs');
    const labels: Record<string, string> = {};
    for (const kv of String(v.label ?? '').split(',').filter(Boolean)) {
      const [k, val] = kv.split('=');
      if (!k || val === undefined) { process.stderr.write(`meshctl bootstrap: --label: expected k=v, got ${kv}\n`); return 2; }
      labels[k] = val;
    }
    const yaml = renderBootstrapYaml({
      namespace: String(v.namespace), workload: String(v.workload), serviceAccount: String(v['service-account']),
      ip: String(v.ip), meshd: String(v.meshd), mode, delta: Boolean(v.delta), adminPort: v['admin-port'] as number, statsPort: v['stats-port'] as number, labels,
      ...(v['token-file'] ? { token: readFileSync(String(v['token-file']), 'utf8').trim() } : {}),
      ...(v['agent-socket'] ? { agentSocket: String(v['agent-socket']) } : {}),
      ...(v['meshd-ca'] ? { meshdCaFile: String(v['meshd-ca']) } : {}),
    });
    if (v.o) writeFileSync(String(v.o), yaml, { mode: 0o600 });
    else process.stdout.write(yaml);
    return 0;
  },
};

/**
 * `meshctl analyze`: policy lint, as `istioctl analyze`. Against a running meshd
 * (`/debug/analyze`: the current snapshot plus the plaintext its telemetry saw), or offline
 * over a folder of YAML with `--config-dir` (then telemetry-based analyzers have nothing to
 * say). Exit status 1 when a finding is an error.
 */
import type { Command } from './command.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { analyze, ANALYZERS, type Finding } from '../analyze/index.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';
import { snapshotFromDir } from './authz-command.js';
import { OUTPUT_FLAG, emit, expandShortFlags, outputFormat } from './output.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'config-dir', type: 'string', help: 'analyze this folder of YAML offline instead of asking meshd' },
  { name: 'namespace', type: 'string', help: 'only findings about objects in this namespace (also -n)' },
  { name: 'list-analyzers', type: 'bool', help: 'print the analyzers and what each looks for' },
  OUTPUT_FLAG, ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' },
];

/** `Warning [analyzer] Kind ns/name field: message`, one line each, as istioctl prints them. */
export function formatFindings(list: readonly Finding[]): string {
  if (list.length === 0) return '√ No validation issues found.\n';
  return list.map((f) => `${f.severity === 'error' ? 'Error' : 'Warning'} [${f.analyzer}] (${f.kind} ${f.namespace ? `${f.namespace}/` : ''}${f.name ?? ''} ${f.field}) ${f.message}${f.source ? ` [${f.source}]` : ''}`).join('\n') + '\n';
}

/** `meshctl analyze`: exit 1 only for error-level findings. */
export const analyzeCommand: Command = {
  path: ['analyze'],
  summary: 'policy lint: selectors matching nothing, DENY rules that hit TCP, STRICT breaking plaintext clients, shadowed policies',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl analyze [--config-dir DIR] [-n NS] [-o table|json|yaml] [--meshd URL]', FLAGS)); return 0; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    if (v['list-analyzers']) { process.stdout.write(ANALYZERS.map((a) => `${a.name.padEnd(26)} ${a.description}`).join('\n') + '\n'); return 0; }
    const format = outputFormat(v.output);
    let findings: Finding[];
    if (v['config-dir']) {
      const snapshot = await snapshotFromDir(String(v['config-dir']), (l) => process.stderr.write(l + '\n'));
      findings = analyze({ snapshot });
    } else {
      findings = await new AdminClient(v).get<Finding[]>('/debug/analyze');
    }
    if (v.namespace) findings = findings.filter((f) => f.namespace === String(v.namespace));
    emit(format, findings, () => formatFindings(findings));
    return findings.some((f) => f.severity === 'error') ? 1 : 0;
  },
};

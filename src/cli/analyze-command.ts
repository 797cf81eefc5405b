/**
 * `meshctl analyze`: policy and traffic lint, as `istioctl analyze`. Against a running meshd
 * (`/debug/analyze`: the current snapshot plus the plaintext and edges its telemetry saw and
 * the config diagnostics), or offline over a folder of YAML with `--config-dir` (then
 * telemetry-based analyzers have nothing to say). Exit status 1 when a finding is an error.
 */
import type { Command } from './command.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { analyze, ANALYZERS, type Finding } from '../analyze/index.js';
import { TRAFFIC_KINDS } from '../analyze/traffic.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';
import { createFileStore } from '../config/file-store.js';
import { buildSnapshot } from '../config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type Diagnostic, type MeshSnapshot } from '../model/types.js';
import { OUTPUT_FLAG, emit, expandShortFlags, outputFormat } from './output.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'config-dir', type: 'string', help: 'analyze this folder of YAML offline instead of asking meshd' },
  { name: 'namespace', type: 'string', help: 'only findings about objects in this namespace (also -n)' },
  { name: 'list-analyzers', type: 'bool', help: 'print the analyzers and what each looks for' },
  OUTPUT_FLAG, ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' },
];

const LEVEL = { error: 'Error', warning: 'Warning', info: 'Info' } as const;

/** `Warning [analyzer] Kind ns/name field: message`, one line each, as istioctl prints them. */
export function formatFindings(list: readonly Finding[]): string {
  if (list.length === 0) return '√ No validation issues found.\n';
  return list.map((f) => `${LEVEL[f.severity]} [${f.analyzer}] (${f.kind} ${f.namespace ? `${f.namespace}/` : ''}${f.name ?? ''} ${f.field}) ${f.message}${f.source ? ` [${f.source}]` : ''}`).join('\n') + '\n';
}

/** A config folder read once with the file store's parsers: the snapshot and the diagnostics (shown as findings). */
async function loadDir(dir: string): Promise<{ snapshot: MeshSnapshot; diagnostics: readonly Diagnostic[] }> {
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0, domainSuffix: DEFAULT_MESH_CONFIG.domainSuffix });
  await store.start();
  store.close();
  // Traffic kinds' diagnostics become findings (traffic-config); the others stay on stderr as before.
  for (const d of store.diagnostics()) if (!TRAFFIC_KINDS.includes(d.kind)) process.stderr.write(`${d.severity}: ${d.source} ${d.kind} ${d.namespace ?? ''}/${d.name ?? ''} ${d.field}: ${d.message}\n`);
  return { snapshot: buildSnapshot(store.objects(), DEFAULT_MESH_CONFIG, 1), diagnostics: store.diagnostics() };
}

/** `meshctl analyze`: exit 1 only for error-level findings. */
export const analyzeCommand: Command = {
  path: ['analyze'],
  summary: 'policy and traffic lint: selectors matching nothing, DENY rules that hit TCP, STRICT breaking plaintext clients, shadowed policies, missing subsets, unknown hosts, conflicting VirtualServices, Sidecars hiding called services, what learned scopes keep',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl analyze [--config-dir DIR] [-n NS] [-o table|json|yaml] [--meshd URL]', FLAGS)); return 0; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    if (v['list-analyzers']) { process.stdout.write(ANALYZERS.map((a) => `${a.name.padEnd(26)} ${a.description}`).join('\n') + '\n'); return 0; }
    const format = outputFormat(v.output);
    let findings: Finding[];
    if (v['config-dir']) {
      findings = analyze(await loadDir(String(v['config-dir'])));
    } else {
      findings = await new AdminClient(v).get<Finding[]>('/debug/analyze');
    }
    if (v.namespace) findings = findings.filter((f) => f.namespace === String(v.namespace));
    emit(format, findings, () => formatFindings(findings));
    return findings.some((f) => f.severity === 'error') ? 1 : 0;
  },
};

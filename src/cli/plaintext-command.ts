/**
 * `meshctl plaintext`: the "ready for STRICT" report from a running meshd (/debug/plaintext):
 * per namespace and workload, whether any plaintext reached it within the window, and which
 * clients (workloads or source addresses) would break under STRICT.
 */
import type { Command } from './command.js';
import { flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import type { PlaintextReport } from '../telemetry/index.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', type: 'string', help: 'only this namespace (also -n)' },
  { name: 'window', type: 'string', default: '10m', help: 'how far back to look (e.g. 10m, 1h)' },
  { name: 'output', type: 'string', default: 'text', help: 'text or json (also -o)' },
  ...ADMIN_FLAGS,
  { name: 'help', type: 'bool', help: 'show this help' },
];

/** The report as text lines: one per workload, then one per client that would break. */
export function formatPlaintextReport(r: PlaintextReport, window: string): string[] {
  const lines: string[] = [];
  if (!r.complete) lines.push(`note: meshd has observed traffic for ${r.observedSeconds}s only, less than the ${window} window; "ready" is provisional`);
  for (const ns of r.namespaces) {
    lines.push(`namespace ${ns.namespace}: ${ns.readyForStrict ? 'ready for STRICT' : 'NOT ready for STRICT'}`);
    for (const w of ns.workloads) {
      const verdict = w.mode === 'STRICT' ? 'STRICT already' : w.readyForStrict ? `ready (no plaintext in ${window})` : 'NOT ready: plaintext clients would break';
      lines.push(`  ${w.workload.padEnd(24)} ${w.mode.padEnd(11)} ${verdict}`);
      for (const c of w.clients) {
        const who = c.source === c.sourceAddress ? c.sourceAddress : `${c.namespace}/${c.source} (${c.sourceAddress})`;
        lines.push(`    - ${who}: ${c.requests} requests, ${c.connections} connections, ports ${c.ports.join(',') || '-'}, last ${c.lastSeen}`);
      }
    }
  }
  if (r.namespaces.length === 0) lines.push('no workloads');
  return lines;
}

export const plaintextCommand: Command = {
  path: ['plaintext'],
  summary: '"ready for STRICT" report: plaintext seen per workload and which clients would break',
  async run(args) {
    const norm = args.flatMap((a) => (a === '-n' ? ['--namespace'] : a === '-o' ? ['--output'] : [a])).map((a) => a.replace(/^-o=/, '--output=').replace(/^-n=/, '--namespace='));
    const { values: v, positional } = parseFlags(FLAGS, norm);
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl plaintext [-n NS] [--window 10m] [-o json] [--meshd URL]', FLAGS)); return 0; }
    if (positional.length) { process.stderr.write(`meshctl plaintext: unexpected argument ${positional[0]}\n`); return 2; }
    const output = String(v.output);
    if (output !== 'text' && output !== 'json') { process.stderr.write('meshctl plaintext: -o must be text or json\n'); return 2; }
    const q = new URLSearchParams({ window: String(v.window), ...(v.namespace ? { namespace: String(v.namespace) } : {}) });
    const report = await new AdminClient(v).get<PlaintextReport>(`/debug/plaintext?${q}`);
    if (output === 'json') process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else process.stdout.write(formatPlaintextReport(report, String(v.window)).join('\n') + '\n');
    return 0;
  },
};

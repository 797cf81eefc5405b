import { readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import type { Command } from './command.js';
import { flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { defaultInjectOptions, injectManifest } from '../k8s/inject.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'f', type: 'string', help: 'manifest file to inject (`-` for stdin; required)' },
  { name: 'meshd', env: 'MESHD_INJECT_ADDRESS', type: 'string', help: 'meshd TLS gRPC address pods use (default meshd.<MESHD_NAMESPACE or istio-system>.svc:15012)' },
  { name: 'proxy-image', env: 'MESHD_PROXY_IMAGE', type: 'string', help: 'Envoy image (default envoyproxy/envoy:v1.40.0)' },
  { name: 'meshd-image', env: 'MESHD_IMAGE', type: 'string', help: 'image with meshctl and iptables for the agent and init containers' },
  { name: 'o', type: 'string', help: 'write to this file instead of stdout' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

/** Reads a whole stream (stdin). */
function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/** Injects every document of a multi-document YAML text; the same code as the webhook. */
export function injectYaml(text: string, env: NodeJS.ProcessEnv = process.env): { yaml: string; notes: string[]; errors: string[] } {
  const opts = defaultInjectOptions(env);
  const docs = YAML.parseAllDocuments(text);
  const errors: string[] = [];
  const notes: string[] = [];
  const out: string[] = [];
  docs.forEach((d, i) => {
    if (d.errors.length) { errors.push(`document ${i + 1}: ${d.errors[0]!.message}`); return; }
    const v: unknown = d.toJS();
    if (v === null || v === undefined) return;
    const r = injectManifest(v, opts);
    notes.push(...r.notes);
    errors.push(...(r.errors ?? []).map((e) => `document ${i + 1}: ${e}`));
    out.push(YAML.stringify(r.doc, { lineWidth: 0, aliasDuplicateObjects: false }));
  });
  return { yaml: out.join('---\n'), notes, errors };
}

export const injectCommand: Command = {
  path: ['inject'],
  summary: 'add the sidecar to Pods and workload templates in a manifest, offline (as the webhook does)',
  async run(args) {
    // `-f`/`-o` as kubectl and linkerd spell them.
    const { values: v, positional } = parseFlags(FLAGS, args.map((a) => (a === '-f' || a === '-o' ? `-${a}` : a)));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl inject -f FILE|- [-o OUT]', FLAGS)); return 0; }
    const file = v.f !== undefined ? String(v.f) : positional[0];
    if (!file) { process.stderr.write('meshctl inject: -f FILE (or -f - for stdin) is required\n'); return 2; }
    let text: string;
    try {
      text = file === '-' ? await readStdin() : readFileSync(file, 'utf8');
    } catch (e) {
      process.stderr.write(`meshctl inject: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    const env = {
      ...process.env,
      ...(v.meshd ? { MESHD_INJECT_ADDRESS: String(v.meshd) } : {}),
      ...(v['proxy-image'] ? { MESHD_PROXY_IMAGE: String(v['proxy-image']) } : {}),
      ...(v['meshd-image'] ? { MESHD_IMAGE: String(v['meshd-image']) } : {}),
    };
    const r = injectYaml(text, env);
    if (r.errors.length) { process.stderr.write(`meshctl inject: ${file}: ${r.errors.join('; ')}\n`); return 1; }
    for (const n of r.notes) process.stderr.write(`meshctl inject: ${n}\n`);
    if (v.o) writeFileSync(String(v.o), r.yaml);
    else process.stdout.write(r.yaml);
    return 0;
  },
};

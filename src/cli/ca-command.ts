/**
 * `meshctl ca rotate-root --step introduce|activate|retire` and `meshctl ca status`: talk to
 * meshd's admin port (`--meshd URL`, default $MESHD_ADDR or http://127.0.0.1:15014); a rotation
 * step presents the admin token (from `--state-dir`, or `--token`).
 */
import type { Command } from './command.js';
import { flagHelp, parseFlags, FlagError, type FlagSpec } from '../util/flags.js';
import type { CaStatus } from '../ca/ca.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';

const HELP_FLAG: FlagSpec = { name: 'help', type: 'bool', help: 'show this help' };
const STEPS = ['introduce', 'activate', 'retire'] as const;

function errorText(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    const o = body as Record<string, unknown>;
    return String(o.message ?? o.error ?? JSON.stringify(body));
  }
  return String(body);
}

const ROTATE_FLAGS: readonly FlagSpec[] = [
  { name: 'step', type: 'string', help: 'introduce (new root joins the bundle), activate (new root signs), retire (old root leaves) (required)' },
  { name: 'force', type: 'bool', help: 'retire even while connected workloads still hold certificates from the old root (logged by meshd)' },
  ...ADMIN_FLAGS, HELP_FLAG,
];

export const caRotateRootCommand: Command = {
  path: ['ca', 'rotate-root'],
  summary: 'one step of root rotation: introduce, activate, retire',
  async run(args) {
    const { values: v } = parseFlags(ROTATE_FLAGS, args);
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl ca rotate-root --step introduce|activate|retire [--meshd URL]', ROTATE_FLAGS)); return 0; }
    const step = String(v.step ?? '');
    if (!(STEPS as readonly string[]).includes(step)) throw new FlagError(`--step must be one of ${STEPS.join(', ')}`);
    const client = new AdminClient(v);
    const r = await client.post(`/ca/rotate-root?step=${step}${v.force ? '&force=true' : ''}`);
    if (!r.ok) { process.stderr.write(`meshctl ca rotate-root: meshd refused step ${step} (${r.status}): ${errorText(r.body)}\n`); return 1; }
    process.stdout.write(`root rotation: ${step} done\n`);
    process.stdout.write(formatStatus(await client.get<CaStatus>('/ca/status')));
    return 0;
  },
};

const STATUS_FLAGS: readonly FlagSpec[] = [...ADMIN_FLAGS, { name: 'json', type: 'bool', help: 'print meshd\'s JSON' }, HELP_FLAG];

/** Renders the CA status as a few aligned lines: phase, signer, one line per root. */
export function formatStatus(s: CaStatus & { workloadCertTtlSeconds?: number }): string {
  const lines = [
    `kind:          ${s.kind}`,
    `trust domain:  ${s.trustDomain}`,
    `phase:         ${s.phase}${s.phase === 'introduced' ? ' (bundle has both roots; the old one still signs: next, activate)' : s.phase === 'activated' ? ' (the new root signs: next, retire)' : ''}`,
    `signer:        ${s.signer.subject}, expires ${s.signer.notAfter}`,
    ...(s.workloadCertTtlSeconds ? [`workload certs: ${s.workloadCertTtlSeconds}s lifetime`] : []),
    `trust bundle (${s.roots.length}):`,
    ...s.roots.map((r) => `  ${r.signing ? '*' : ' '} ${r.id.padEnd(8)} ${r.subject}  expires ${r.notAfter}  sha256 ${r.sha256.slice(0, 16)}…`),
  ];
  return lines.join('\n') + '\n';
}

export const caStatusCommand: Command = {
  path: ['ca', 'status'],
  summary: 'the CA: roots in the trust bundle, rotation phase, expiry',
  async run(args) {
    const { values: v } = parseFlags(STATUS_FLAGS, args);
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl ca status [--meshd URL] [--json]', STATUS_FLAGS)); return 0; }
    const status = await new AdminClient(v).get<CaStatus>('/ca/status');
    process.stdout.write(v.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
    return 0;
  },
};

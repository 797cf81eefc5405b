/**
 * `meshctl ca rotate-root --step introduce|activate|retire` and `meshctl ca status`: talk to
 * meshd's admin port (`--meshd URL`, default $MESHD_ADDR or http://127.0.0.1:15014).
 */
import type { Command } from './command.js';
import { flagHelp, parseFlags, FlagError, type FlagSpec } from '../util/flags.js';
import type { CaStatus } from '../ca/ca.js';

const MESHD_FLAG: FlagSpec = { name: 'meshd', env: 'MESHD_ADDR', type: 'string', default: 'http://127.0.0.1:15014', help: 'meshd\'s admin URL' };
const HELP_FLAG: FlagSpec = { name: 'help', type: 'bool', help: 'show this help' };
const STEPS = ['introduce', 'activate', 'retire'] as const;

function baseUrl(v: unknown): string {
  const s = String(v);
  return (/^https?:\/\//.test(s) ? s : `http://${s}`).replace(/\/+$/, '');
}

async function call(url: string, init?: RequestInit): Promise<{ ok: boolean; status: number; body: unknown }> {
  let r: Response;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new Error(`cannot reach meshd at ${url}: ${e instanceof Error && e.cause instanceof Error ? e.cause.message : String(e)}`);
  }
  const text = await r.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* plain text */ }
  return { ok: r.ok, status: r.status, body };
}

function errorText(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    const o = body as Record<string, unknown>;
    return String(o.message ?? o.error ?? JSON.stringify(body));
  }
  return String(body);
}

const ROTATE_FLAGS: readonly FlagSpec[] = [
  { name: 'step', type: 'string', help: 'introduce (new root joins the bundle), activate (new root signs), retire (old root leaves) (required)' },
  MESHD_FLAG, HELP_FLAG,
];

export const caRotateRootCommand: Command = {
  path: ['ca', 'rotate-root'],
  summary: 'one step of root rotation: introduce, activate, retire',
  async run(args) {
    const { values: v } = parseFlags(ROTATE_FLAGS, args);
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl ca rotate-root --step introduce|activate|retire [--meshd URL]', ROTATE_FLAGS)); return 0; }
    const step = String(v.step ?? '');
    if (!(STEPS as readonly string[]).includes(step)) throw new FlagError(`--step must be one of ${STEPS.join(', ')}`);
    const r = await call(`${baseUrl(v.meshd)}/ca/rotate-root?step=${step}`, { method: 'POST' });
    if (!r.ok) { process.stderr.write(`meshctl ca rotate-root: meshd refused step ${step} (${r.status}): ${errorText(r.body)}\n`); return 1; }
    const s = await call(`${baseUrl(v.meshd)}/ca/status`);
    process.stdout.write(`root rotation: ${step} done\n`);
    if (s.ok) process.stdout.write(formatStatus(s.body as CaStatus));
    return 0;
  },
};

const STATUS_FLAGS: readonly FlagSpec[] = [MESHD_FLAG, { name: 'json', type: 'bool', help: 'print meshd\'s JSON' }, HELP_FLAG];

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
    const r = await call(`${baseUrl(v.meshd)}/ca/status`);
    if (!r.ok) { process.stderr.write(`meshctl ca status: meshd answered ${r.status}: ${errorText(r.body)}\n`); return 1; }
    process.stdout.write(v.json ? JSON.stringify(r.body, null, 2) + '\n' : formatStatus(r.body as CaStatus));
    return 0;
  },
};

/** `npm run soak -- --minutes 30`: runs the soak (soak.ts) and prints its figures; exit 1 on failed requests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { runSoak } from './soak.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'minutes', type: 'string', default: '30', help: 'how long to run' },
  { name: 'rps', type: 'int', default: '5', help: 'requests per second the soak sends through frontend\'s sidecar' },
  { name: 'loopback-octet', type: 'int', default: '114', help: 'addresses 127.N.x.x (keep apart from other demos)' },
  { name: 'json', type: 'bool', default: 'false', help: 'print the report as JSON' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

async function main(): Promise<number> {
  let v;
  try { v = parseFlags(FLAGS, process.argv.slice(2)).values; } catch (e) {
    if (e instanceof FlagError) { process.stderr.write(`soak: ${e.message}\n`); return 2; }
    throw e;
  }
  if (v.help) { process.stdout.write(flagHelp('usage: npm run soak -- [--minutes 30]', FLAGS)); return 0; }
  const minutes = Number(v.minutes);
  if (!(minutes > 0)) { process.stderr.write('soak: --minutes must be a positive number\n'); return 2; }
  const dir = mkdtempSync(join(tmpdir(), 'meshd-soak-'));
  try {
    const r = await runSoak({ minutes, dir, octet: v['loopback-octet'] as number, rps: v.rps as number, log: (l) => process.stdout.write(l + '\n') });
    if (v.json) { process.stdout.write(JSON.stringify(r, null, 2) + '\n'); return r.failed === 0 ? 0 : 1; }
    const rss = r.samples.map((s) => s.rssMb);
    const lag = r.samples.map((s) => s.lagMaxMs);
    process.stdout.write([
      '',
      `soak: ${r.minutes} min, ${r.requests} requests, ${r.failed} failed${r.failed ? ` (${Object.entries(r.failures).map(([k, n]) => `${k}: ${n}`).join('; ')})` : ''}`,
      `  policy edits ${r.policyEdits}, endpoint changes ${r.endpointChanges}, certificates of 30 s`,
      `  meshd RSS ${rss[0] ?? '?'} → ${rss[rss.length - 1] ?? '?'} MB (max ${Math.max(...rss)}), growth first → last third after warm-up ${r.rssGrowthMb} MB (JS heap in use: ${r.heapGrowthMb} MB)`,
      `  open fds ${r.samples[0]?.fds ?? '?'} → ${r.samples[r.samples.length - 1]?.fds ?? '?'}, active handles ${r.samples[0]?.handles ?? '?'} → ${r.samples[r.samples.length - 1]?.handles ?? '?'}`,
      `  event-loop delay: worst p99 ${Math.max(...r.samples.map((s) => s.lagP99Ms))} ms, worst max ${Math.max(...lag)} ms`,
      '',
    ].join('\n'));
    return r.failed === 0 ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();

/**
 * `npm run demo:canary`: against a running `npm run demo`, counts requests to reviews by the
 * version that answered (through frontend's sidecar), shifts the VirtualService's weights in
 * the demo's config folder (default: all to v2), waits for frontend's Envoy to have the new
 * route, and counts again. Exits 1 when a request failed or the shift did not arrive.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { runCanary, type CanaryWeights } from './canary.js';
import { shown } from './report.js';
import { CANARY_FILE, REPO_ROOT, demoWorkload, loopbackPlan, serviceTarget } from './topology.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'dir', env: 'MESH_DEMO_DIR', type: 'string', default: join(REPO_ROOT, 'demo'), help: 'the running demo\'s folder (as given to npm run demo)' },
  { name: 'loopback-octet', type: 'int', default: '0', help: 'the demo\'s 127.N.x.x addresses (as given to npm run demo)' },
  { name: 'to', type: 'string', default: '0/100', help: 'the new v1/v2 weights, e.g. 0/100 (all to v2) or 90/10 (back to the canary)' },
  { name: 'requests', type: 'int', default: '200', help: 'requests counted before and after the shift' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

function parseWeights(s: string): CanaryWeights {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m || Number(m[1]) + Number(m[2]) === 0) throw new FlagError(`--to: expected V1/V2 weights such as 0/100, got ${JSON.stringify(s)}`);
  return { v1: Number(m[1]), v2: Number(m[2]) };
}

async function main(): Promise<number> {
  let v;
  let to: CanaryWeights;
  try {
    v = parseFlags(FLAGS, process.argv.slice(2)).values;
    if (v.help) { process.stdout.write(flagHelp('usage: npm run demo:canary -- [flags]', FLAGS)); return 0; }
    to = parseWeights(String(v.to));
    if ((v.requests as number) < 1) throw new FlagError('--requests must be at least 1');
  } catch (e) {
    if (e instanceof FlagError) { process.stderr.write(`demo:canary: ${e.message}\n`); return 2; }
    throw e;
  }
  const dir = resolve(String(v.dir));
  const configDir = join(dir, 'mesh');
  const addrFile = join(dir, 'bootstrap', 'frontend.admin-address');
  const frontendAdmin = existsSync(addrFile) ? `http://${readFileSync(addrFile, 'utf8').trim()}` : undefined;
  const up = frontendAdmin ? await fetch(`${frontendAdmin}/ready`).then((r) => r.ok, () => false) : false;
  if (!frontendAdmin || !up || !existsSync(join(configDir, CANARY_FILE))) {
    process.stderr.write(`demo:canary: no running demo with a reviews canary in ${shown(dir)} (start it with npm run demo${v.dir === FLAGS[0]!.default ? '' : ` -- --dir ${shown(dir)}`}; an older demo folder needs npm run demo -- --reset)\n`);
    return 1;
  }
  const plan = loopbackPlan(v['loopback-octet'] as number);
  const target = serviceTarget(plan, demoWorkload('frontend'), 'reviews');
  const print = (l: string): void => { process.stdout.write(l + '\n'); };
  try {
    const r = await runCanary({ configDir, frontendAdmin, target, requests: v.requests as number, to, print });
    const failed = r.before.failed + r.during.failed + r.after.failed;
    print('');
    print(failed === 0 ? `no failed request (${r.before.total + r.during.total + r.after.total} in all)` : `${failed} requests failed`);
    return failed === 0 ? 0 : 1;
  } catch (e) {
    process.stderr.write(`demo:canary: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`demo:canary: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

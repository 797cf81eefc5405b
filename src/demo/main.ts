/**
 * `npm run demo`: the local mesh as processes (see run.ts), with what to try printed, until
 * Ctrl-C stops every process it started. `--write-compose` regenerates docker-compose.yml and
 * deploy/compose/ from the same topology instead.
 */
import { join, resolve } from 'node:path';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { DemoError } from './checks.js';
import { writeComposeFiles } from './compose.js';
import { startDemoCollector } from './tracing.js';
import { banner, followCalls, followDiagnostics, shown } from './report.js';
import { startDemo, type DemoOptions, type RunningDemo } from './run.js';
import { REPO_ROOT } from './topology.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'dir', env: 'MESH_DEMO_DIR', type: 'string', default: join(REPO_ROOT, 'demo'), help: 'the demo\'s folder: mesh/ (config you edit), state/, logs/, bootstrap/' },
  { name: 'reset', type: 'bool', default: 'false', help: 'rewrite <dir>/mesh from the topology (undoes your edits)' },
  { name: 'transparent', type: 'bool', default: 'false', help: 'each workload in its own network namespace with iptables redirection (needs root, ip, iptables); else explicit mode' },
  { name: 'xds-port', type: 'int', default: '15010', help: 'meshd plaintext xDS port' },
  { name: 'secure-xds-port', type: 'int', default: '15012', help: 'meshd TLS xDS port' },
  { name: 'admin-port', type: 'int', default: '15014', help: 'meshd admin port (meshctl edges talks to it)' },
  { name: 'loopback-octet', type: 'int', default: '0', help: 'use 127.N.x.x addresses (--transparent: 10.250.N.x, namespaces meshd-N-*), to run beside another demo' },
  { name: 'tracing', type: 'bool', default: 'false', help: 'start a Zipkin collector, trace every request (Telemetry at 100 %) and print each trace' },
  { name: 'write-compose', type: 'bool', default: 'false', help: 'regenerate docker-compose.yml and deploy/compose/ and exit' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

/** Transparent mode when the machine allows it (else undefined after saying why: explicit mode follows). */
async function startTransparent(o: DemoOptions): Promise<{ demo: RunningDemo; banner: string } | undefined> {
  const { transparentUnavailable } = await import('./transparent-netns.js');
  const why = transparentUnavailable(o.octet ?? 0);
  if (why) {
    process.stdout.write(`--transparent is not possible here: ${why}.\nFalling back to explicit mode (each app calls its own sidecar).\n\n`);
    return undefined;
  }
  const { startTransparentDemo } = await import('./transparent-run.js');
  const { transparentBanner } = await import('./transparent-report.js');
  process.stdout.write(`starting the transparent demo mesh from ${shown(join(o.dir, 'mesh-transparent'))}/ ...\n`);
  const demo = await startTransparentDemo({ ...o, log: (l) => process.stdout.write(l + '\n') });
  return { demo, banner: transparentBanner(demo) };
}

async function main(): Promise<number> {
  let v;
  try {
    v = parseFlags(FLAGS, process.argv.slice(2)).values;
  } catch (e) {
    if (e instanceof FlagError) { process.stderr.write(`demo: ${e.message}\n`); return 2; }
    throw e;
  }
  if (v.help) { process.stdout.write(flagHelp('usage: npm run demo -- [flags]', FLAGS)); return 0; }
  if (v['write-compose']) {
    for (const f of writeComposeFiles(REPO_ROOT)) process.stdout.write(`wrote ${f}\n`);
    return 0;
  }
  const octet = v['loopback-octet'] as number;
  if (octet < 0 || octet > 255) { process.stderr.write('demo: --loopback-octet must be 0-255\n'); return 2; }
  let demo: RunningDemo | undefined;
  let bannerText: string | undefined;
  let interrupted = false;
  let stopping: Promise<number> | undefined;
  const stop = (code: number, why?: string): Promise<number> => {
    stopping ??= (async () => {
      if (why) process.stdout.write(`\n${why}\n`);
      process.stdout.write('stopping the demo...\n');
      const n = demo?.pids().length ?? 0;
      await demo?.stop();
      const netns = demo && 'network' in demo ? ', removed its network namespaces and bridge' : '';
      process.stdout.write(`stopped ${n} processes${netns}; nothing of the demo is left running.\n`);
      return code;
    })();
    return stopping;
  };
  const onSignal = (): void => {
    interrupted = true;
    if (demo) void stop(0).then((c) => process.exit(c));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const dir = resolve(String(v.dir));
  try {
    const collector = v.tracing ? await startDemoCollector((text) => process.stdout.write(text + '\n')) : undefined;
    if (collector) process.stdout.write(`tracing: Zipkin collector on 127.0.0.1:${collector.port}, every request sampled\n`);
    const opts: DemoOptions = {
      dir, reset: Boolean(v.reset), octet,
      ...(collector ? { tracingCollectorPort: collector.port } : {}),
      xdsPort: v['xds-port'] as number, secureXdsPort: v['secure-xds-port'] as number, adminPort: v['admin-port'] as number,
      // Fixed Envoy admin ports (15101, 15102) are easy to type; a second demo beside it lets Envoy pick.
      fixedEnvoyAdminPorts: octet === 0,
    };
    const t = v.transparent ? await startTransparent(opts) : undefined;
    if (t) {
      demo = t.demo;
      bannerText = t.banner;
    } else {
      process.stdout.write(`starting the demo mesh from ${shown(join(dir, 'mesh'))}/ ...\n`);
      demo = await startDemo(opts);
    }
  } catch (e) {
    if (e instanceof DemoError) { process.stderr.write(`demo: ${e.message}\n`); return 1; }
    throw e;
  }
  if (interrupted) return stop(0);
  process.stdout.write('\n' + (bannerText ?? banner(demo)) + '\n');
  const print = (l: string): void => { process.stdout.write(l + '\n'); };
  followCalls(demo, print);
  followDiagnostics(demo, print);
  const msg = await demo.crashed;
  return stop(1, `demo: ${msg}`);
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

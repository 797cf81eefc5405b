// `node dist/bench/hostile-config.js [case...]`: starts a real meshd on a config dir holding one
// abuse of issue 14 and prints its peak RSS (VmHWM), RSS once loaded, the time to load, the
// event-loop delay meshd saw (its own max) and the diagnostics. Figures only, never a test.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
const svc = (i: number): string => `apiVersion: v1\nkind: Service\nmetadata: { name: s${i}, namespace: default }\nspec: { selector: { app: s${i} }, ports: [{ name: http, port: 80 }] }\n`;

const CASES: Record<string, (dir: string) => void> = {
  'file-50mb': (dir) => writeFileSync(join(dir, 'big.yaml'), '# ' + 'x'.repeat(50 * 1024 * 1024) + '\n'),
  'services-370k': (dir) => {
    const perFile = 40_000;
    for (let f = 0; f * perFile < 370_000; f++) {
      const docs: string[] = [];
      for (let i = f * perFile; i < Math.min(370_000, (f + 1) * perFile); i++) docs.push(svc(i));
      writeFileSync(join(dir, `svc-${String(f).padStart(2, '0')}.yaml`), docs.join('---\n'));
    }
  },
  'alias-bomb': (dir) => writeFileSync(join(dir, 'bomb.yaml'), 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n'),
  'nested-100k': (dir) => writeFileSync(join(dir, 'nest.yaml'), '['.repeat(100_000)),
  'authz-10k-rules': (dir) => writeFileSync(join(dir, 'ap.yaml'), `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: big, namespace: default }\nspec:\n  rules:\n${Array.from({ length: 10_000 }, (_, i) => `  - to: [{ operation: { paths: ["/p${i}"] } }]\n`).join('')}`),
};

function status(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

async function run(name: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-hostile-bench-'));
  const state = mkdtempSync(join(tmpdir(), 'meshd-hostile-state-'));
  CASES[name]!(dir);
  const t0 = Date.now();
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'meshd'), '--config-dir', dir, '--state-dir', state, '--xds-port', '0', '--secure-xds-port', '0', '--admin-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  try {
    let admin = 0;
    while (!admin) {
      if (p.exitCode !== null) throw new Error(`meshd exited: ${out.slice(-2000)}`);
      const m = /"msg":"meshd listening".*?"adminPort":(\d+)/.exec(out);
      if (m) admin = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 100));
      if (Date.now() - t0 > 600_000) throw new Error('meshd did not start in 10 minutes');
    }
    const loadS = (Date.now() - t0) / 1000;
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    const lag = Number(/^meshd_process_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(metrics)?.[1] ?? NaN);
    const diags = await (await fetch(`http://127.0.0.1:${admin}/debug/diagnostics`)).json() as { source: string; message: string }[];
    const ready = (await fetch(`http://127.0.0.1:${admin}/ready`)).status;
    const loadedRss = status(p.pid!, 'VmRSS');
    // The parser's worker ends after 10 s idle, giving back the heap a big parse grew.
    await new Promise((r) => setTimeout(r, 12_000));
    console.log(`${name}: listening after ${loadS.toFixed(1)} s, /ready ${ready}, peak RSS ${status(p.pid!, 'VmHWM')} MB, RSS ${loadedRss} MB when loaded, ${status(p.pid!, 'VmRSS')} MB 12 s later, event-loop max ${(lag * 1000).toFixed(0)} ms, ${diags.length} diagnostics${diags[0] ? `; first: ${diags[0].source.split('/').pop()}: ${diags[0].message.slice(0, 140)}` : ''}`);
  } finally {
    p.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
}

for (const name of process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(CASES)) await run(name);

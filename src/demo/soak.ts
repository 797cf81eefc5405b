/**
 * The soak run (`npm run soak -- --minutes 30`): the demo mesh with 30 s certificates, an
 * AuthorizationPolicy edit every 10 s and endpoint churn every 5 s, while the soak itself
 * calls backend through frontend's sidecar. It samples meshd's RSS, open handles and
 * event-loop delay, and reports failed requests and whether RSS stayed flat.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startDemo, type RunningDemo } from './run.js';
import { DEMO_NAMESPACE, DEMO_WORKLOADS, loopbackPlan } from './topology.js';

export interface SoakOptions {
  readonly minutes: number;
  readonly dir: string;
  readonly octet: number;
  /** Requests per second the soak sends itself (besides the demo apps' own calls). */
  readonly rps: number;
  readonly log: (line: string) => void;
}

export interface SoakSample { readonly atS: number; readonly rssMb: number; readonly heapMb: number; readonly fds: number; readonly handles: number; readonly lagP99Ms: number; readonly lagMaxMs: number }

export interface SoakReport {
  readonly minutes: number;
  readonly requests: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly policyEdits: number;
  readonly endpointChanges: number;
  readonly samples: readonly SoakSample[];
  /** RSS growth from the first to the last third of the run (after a 2-minute warm-up), MB. */
  readonly rssGrowthMb: number;
  /** The same for the JS heap in use. */
  readonly heapGrowthMb: number;
}

function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

function sample(demo: RunningDemo, metrics: string, atS: number): SoakSample {
  const pid = demo.meshd.pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  return {
    atS,
    rssMb: Math.round(rssKb / 102.4) / 10,
    heapMb: Math.round(metricValue(metrics, 'meshd_process_nodejs_heap_size_used_bytes') / 104857.6) / 10,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    handles: metricValue(metrics, 'meshd_process_nodejs_active_handles_total'),
    lagP99Ms: Math.round(metricValue(metrics, 'meshd_process_nodejs_eventloop_lag_p99_seconds') * 1e4) / 10,
    lagMaxMs: Math.round(metricValue(metrics, 'meshd_process_nodejs_eventloop_lag_max_seconds') * 1e4) / 10,
  };
}

function policy(n: number): string {
  return `# soak: edited every 10 s (a DENY for a path nobody calls, so every edit is a real push)
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: soak-deny, namespace: ${DEMO_NAMESPACE} }
spec:
  selector: { matchLabels: { app: backend } }
  action: DENY
  rules:
  - to: [{ operation: { paths: ["/soak-never-${n}"] } }]
`;
}

function churn(octet: number, n: number): string {
  const docs = [`apiVersion: v1\nkind: Service\nmetadata: { name: churn, namespace: ${DEMO_NAMESPACE} }\nspec: { selector: { app: churn }, ports: [{ name: http, port: 9090 }] }\n`];
  for (let i = 1; i <= n; i++) {
    docs.push(`apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: churn-${i}, namespace: ${DEMO_NAMESPACE} }\nspec: { address: 127.${octet}.99.${i}, labels: { app: churn }, serviceAccount: churn, ports: { http: 9090 } }\n`);
  }
  return docs.join('---\n');
}

function call(host: string, port: number, hostHeader: string, path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, headers: { host: hostHeader }, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

/** Runs the soak for `o.minutes`; resolves with the figures (never throws for failed requests). */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const plan = loopbackPlan(o.octet);
  const demo = await startDemo({
    dir: o.dir, reset: true, xdsPort: 0, secureXdsPort: 0, adminPort: 0, fixedEnvoyAdminPorts: false, octet: o.octet,
    meshdArgs: ['--cert-ttl', '30s', '--debounce-quiet', '20ms', '--debounce-max', '200ms'],
  });
  const failures: Record<string, number> = {};
  let requests = 0;
  let failed = 0;
  const fail = (what: string): void => { failed++; failures[what] = (failures[what] ?? 0) + 1; };
  // The demo frontend's own calls go through its sidecar (mTLS); the legacy client has no
  // sidecar and is refused under STRICT by design, so its calls are not counted.
  demo.onCall((e) => {
    if (e.from !== 'frontend') return;
    requests++;
    if (e.status !== 200) fail(`frontend app: ${e.status ?? e.error}`);
  });
  const frontend = DEMO_WORKLOADS.find((w) => w.name === 'frontend')!;
  const out = plan.workloads[frontend.name]!.outboundAddress;
  const hostHeader = `backend.${DEMO_NAMESPACE}.svc.cluster.local`;
  const timers: ReturnType<typeof setInterval>[] = [];
  let policyEdits = 0;
  let endpointChanges = 0;
  timers.push(setInterval(() => {
    requests++;
    void call(out, 8080, hostHeader, '/api/orders').then((f) => { if (f) fail(`soak via frontend sidecar: ${f}`); });
  }, Math.max(1, Math.round(1000 / o.rps))));
  timers.push(setInterval(() => { writeFileSync(join(demo.configDir, '60-soak-policy.yaml'), policy(++policyEdits)); }, 10_000));
  timers.push(setInterval(() => { writeFileSync(join(demo.configDir, '50-soak-churn.yaml'), churn(o.octet, 1 + (++endpointChanges % 5))); }, 5_000));
  const samples: SoakSample[] = [];
  const t0 = Date.now();
  const end = t0 + o.minutes * 60_000;
  let crashed: string | undefined;
  void demo.crashed.then((m) => { crashed = m; });
  try {
    while (Date.now() < end && !crashed) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, Math.max(0, end - Date.now()))));
      const metrics = await (await fetch(`${demo.meshdUrl}/metrics`)).text();
      const s = sample(demo, metrics, Math.round((Date.now() - t0) / 1000));
      samples.push(s);
      o.log(`${String(s.atS).padStart(5)} s  rss ${s.rssMb} MB  heap ${s.heapMb} MB  fds ${s.fds}  handles ${s.handles}  event-loop p99 ${s.lagP99Ms} ms max ${s.lagMaxMs} ms  requests ${requests} failed ${failed}  edits ${policyEdits} churn ${endpointChanges}`);
    }
  } finally {
    for (const t of timers) clearInterval(t);
    await new Promise((r) => setTimeout(r, 1000));
    await demo.stop();
  }
  if (crashed) fail(`a demo process died: ${crashed.split('\n')[0]}`);
  const warm = samples.filter((s) => s.atS >= 120);
  const third = Math.max(1, Math.floor(warm.length / 3));
  const median = (xs: number[]): number => { const a = [...xs].sort((x, y) => x - y); return a.length ? a[Math.floor(a.length / 2)]! : 0; };
  const rssGrowthMb = warm.length >= 3 ? Math.round((median(warm.slice(-third).map((s) => s.rssMb)) - median(warm.slice(0, third).map((s) => s.rssMb))) * 10) / 10 : 0;
  const heapGrowthMb = warm.length >= 3 ? Math.round((median(warm.slice(-third).map((s) => s.heapMb)) - median(warm.slice(0, third).map((s) => s.heapMb))) * 10) / 10 : 0;
  return { minutes: o.minutes, requests, failed, failures, policyEdits, endpointChanges, samples, rssGrowthMb, heapGrowthMb };
}

/**
 * Kubernetes mode at scale, on a real kube-apiserver (scripts/kube-up.sh):
 * - start-up: 1,000 Services and 2,000 running pods already in the API server; time from
 *   spawning meshd to /ready (target ≤ 5 s) and meshd's own list+parse time (`k8s: synced`);
 * - burst: 500 pod changes (new IPs) → how many debounced pushes (target 1).
 * `npm run bench -- k8s [--services N] [--pods N] [--burst N] [--json]`
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeUp } from '../test/helpers/kube.js';
import { REPO_ROOT } from '../test/helpers/meshd.js';
import { waitFor } from '../test/helpers/ports.js';
import { installCrds, namespace } from '../test/k8s/setup.js';
import type { KubeClient } from '../src/k8s/kube-client.js';

function arg(args: readonly string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

async function inBatches<T>(items: readonly T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(fn));
}

const ip = (i: number, base = 10): string => `10.${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

async function seed(client: KubeClient, services: number, pods: number): Promise<void> {
  const nss = Array.from({ length: 10 }, (_, i) => `bench-${i}`);
  await inBatches(Array.from({ length: services }, (_, i) => i), 50, (i) => client.json('POST', `/api/v1/namespaces/${nss[i % 10]}/services`, { body: {
    apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}` },
    spec: { selector: { app: `app-${i}` }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] },
  } }));
  await inBatches(Array.from({ length: pods }, (_, i) => i), 50, async (i) => {
    const ns = nss[(i >> 1) % 10]!;
    await client.json('POST', `/api/v1/namespaces/${ns}/pods`, { body: {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, labels: { app: `app-${(i >> 1) % services}` }, annotations: { 'sidecar.istio.io/status': '{}' } },
      spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'example/app', ports: [{ name: 'http', containerPort: 8080 }] }] },
    } });
    await client.json('PATCH', `/api/v1/namespaces/${ns}/pods/pod-${i}/status`, {
      body: { status: { phase: 'Running', podIP: ip(i), conditions: [{ type: 'Ready', status: 'True' }] } }, contentType: 'application/merge-patch+json',
    });
  });
}

/** Runs the bench; prints `key value` lines (and JSON with --json). */
export async function main(args: readonly string[]): Promise<void> {
  const services = arg(args, 'services', 1000);
  const pods = arg(args, 'pods', 2000);
  const burst = arg(args, 'burst', 500);
  const kube = await kubeUp();
  const state = mkdtempSync(join(tmpdir(), 'meshd-bench-k8s-'));
  const out: Record<string, number> = { services, pods, burst };
  let child: ReturnType<typeof spawn> | undefined;
  try {
    installCrds(kube);
    namespace(kube, 'istio-system', {}, []);
    for (let i = 0; i < 10; i++) namespace(kube, `bench-${i}`);
    const tSeed = performance.now();
    await seed(kube.client, services, pods);
    out.seed_ms = Math.round(performance.now() - tSeed);

    const adminPort = 20000 + Math.floor(Math.random() * 10000);
    const t0 = performance.now();
    child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'meshd'), '--kubeconfig', kube.kubeconfig, '--state-dir', state,
      '--xds-port', '0', '--secure-xds-port', '0', '--admin-port', String(adminPort), '--debounce-quiet', '300ms', '--debounce-max', '10s'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBECONFIG: '', MESHD_WEBHOOK_PORT: '0', MESHD_NAMESPACE: 'istio-system' } });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const base = `http://127.0.0.1:${adminPort}`;
    await waitFor('meshd /ready', async () => (await fetch(`${base}/ready`).catch(() => undefined))?.ok, 60_000, 20);
    out.startup_ready_ms = Math.round(performance.now() - t0);
    const synced = /"msg":"k8s: synced","ms":(\d+)/.exec(log);
    out.informer_sync_ms = synced ? Number(synced[1]) : -1;
    const debug = async (): Promise<{ pushes: number }> => (await fetch(`${base}/debug/k8s`)).json() as Promise<{ pushes: number }>;
    const settle = async (): Promise<number> => {
      let last = (await debug()).pushes; let since = performance.now();
      return waitFor('quiet', async () => {
        const p = (await debug()).pushes;
        if (p !== last) { last = p; since = performance.now(); return undefined; }
        return performance.now() - since > 1500 ? p : undefined;
      }, 120_000, 100);
    };
    const p0 = await settle();
    const tBurst = performance.now();
    await inBatches(Array.from({ length: Math.min(burst, pods) }, (_, i) => i), 50, (i) => kube.client.json('PATCH', `/api/v1/namespaces/bench-${(i >> 1) % 10}/pods/pod-${i}/status`, {
      body: { status: { podIP: ip(i, 100) } }, contentType: 'application/merge-patch+json',
    }));
    out.burst_write_ms = Math.round(performance.now() - tBurst);
    out.burst_pushes = (await settle()) - p0;
    out.meshd_rss_mb = Math.round(Number((await (await fetch(`${base}/metrics`)).text()).match(/resident_memory_bytes (\d+)/)?.[1] ?? 0) / 1048576);
  } finally {
    child?.kill('SIGTERM');
    kube.down();
    rmSync(state, { recursive: true, force: true });
  }
  for (const [k, v] of Object.entries(out)) console.log(`${k} ${v}`);
  if (args.includes('--json')) console.log(JSON.stringify(out));
}

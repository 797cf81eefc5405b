/**
 * "Control plane outage blocks new pods", measured on the real node (scripts/node-up.sh):
 * 1. with 2 meshd replicas, one is killed (pod force-deleted) while N new injected pods start:
 *    how many become Ready, and how long the last took;
 * 2. every replica down for S seconds: failed requests of an existing client → server pair
 *    (its calls every 500 ms), and how long pods that start during the outage take to become
 *    Ready once a replica is back. They are injected while meshd is up (the webhook needs it;
 *    with failurePolicy Ignore a pod created during the outage is admitted without a sidecar)
 *    and held by a scheduling gate, lifted once every replica is gone.
 * `npm run bench -- outage [--pods 20] [--outage-s 120] [--json]`. Needs root, Docker, the Go
 * builds (as `npm run test:k8s`). Prints figures; never a test.
 */
import { appDeployment, installMeshd, nodeUp, readyPods } from '../test/helpers/node.js';
import { waitFor } from '../test/helpers/ports.js';

function flag(args: readonly string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/** Runs the bench. */
export async function main(args: readonly string[]): Promise<void> {
  const pods = flag(args, 'pods', 20);
  const outageS = flag(args, 'outage-s', 120);
  const out: Record<string, number> = {};
  const node = await nodeUp();
  try {
    await installMeshd(node, 2);
    const k = node.kube;
    k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench', labels: { 'istio-injection': 'enabled' } } }));
    for (const sa of ['server', 'client', 'burst']) k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: 'bench' } }));
    k.kubectlOk(['apply', '-f', '-'], JSON.stringify(appDeployment({ ns: 'bench', name: 'server', sa: 'server', port: 8080 })));
    k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'server', namespace: 'bench' }, spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 8080 }] } }));
    const ip = k.kubectlOk(['-n', 'bench', 'get', 'svc', 'server', '-o', 'jsonpath={.spec.clusterIP}']).trim();
    k.kubectlOk(['apply', '-f', '-'], JSON.stringify(appDeployment({ ns: 'bench', name: 'client', sa: 'client', call: `http://${ip}:8080/api` })));
    await waitFor('server and client Ready', () => readyPods(k, 'bench', 'app=server') === 1 && readyPods(k, 'bench', 'app=client') === 1, 600_000, 1000);

    // 1. Kill one of two replicas while N pods start.
    const t0 = Date.now();
    k.kubectlOk(['apply', '-f', '-'], JSON.stringify(appDeployment({ ns: 'bench', name: 'burst', sa: 'burst', port: 8080, replicas: pods })));
    await new Promise((r) => setTimeout(r, 3000));
    const victim = k.kubectlOk(['-n', 'istio-system', 'get', 'pods', '-l', 'app=meshd', '-o', 'jsonpath={.items[0].metadata.name}']).trim();
    k.kubectlOk(['-n', 'istio-system', 'delete', 'pod', victim, '--force', '--grace-period=0']);
    await waitFor(`${pods} pods Ready`, () => readyPods(k, 'bench', 'app=burst') === pods, 1_200_000, 1000).catch(() => undefined);
    out.burst_pods = pods;
    out.burst_ready = readyPods(k, 'bench', 'app=burst');
    out.burst_injected = (JSON.parse(k.kubectlOk(['-n', 'bench', 'get', 'pods', '-l', 'app=burst', '-o', 'json'])) as { items: { spec: { initContainers?: { name: string }[] } }[] })
      .items.filter((p) => p.spec.initContainers?.some((c) => c.name === 'istio-proxy')).length;
    out.burst_all_ready_s = Math.round((Date.now() - t0) / 100) / 10;
    k.kubectlOk(['-n', 'bench', 'delete', 'deploy', 'burst', '--wait=false']);
    await waitFor('2 meshd replicas', () => readyPods(k, 'istio-system', 'app=meshd') === 2, 300_000, 1000);

    // 2. Every replica down for outageS seconds.
    const calls = (since: Date): { status?: number }[] => k.kubectl(['-n', 'bench', 'logs', 'deploy/client', '--since-time', since.toISOString()]).stdout.split('\n').filter((l) => l.startsWith('{"event":"call"')).map((l) => JSON.parse(l) as { status?: number });
    const late = Array.from({ length: 5 }, (_, i) => `late-${i}`);
    for (const name of late) {
      const d = appDeployment({ ns: 'bench', name, sa: 'server', port: 8080 }) as { spec: { template: { spec: Record<string, unknown> } } };
      k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'bench', labels: { app: 'late' } }, spec: { ...d.spec.template.spec, schedulingGates: [{ name: 'meshd.dev/outage-bench' }] } }));
    }
    const start = new Date();
    k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=0']);
    await waitFor('meshd gone', () => k.kubectl(['-n', 'istio-system', 'get', 'pods', '-l', 'app=meshd', '-o', 'name']).stdout.trim() === '', 120_000, 500);
    for (const name of late) k.kubectlOk(['-n', 'bench', 'patch', 'pod', name, '--type=json', '-p', '[{"op":"remove","path":"/spec/schedulingGates"}]']);
    await new Promise((r) => setTimeout(r, outageS * 1000));
    out.late_ready_during_outage = readyPods(k, 'bench', 'app=late');
    k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=1']);
    await waitFor('a meshd replica Ready', () => readyPods(k, 'istio-system', 'app=meshd') === 1, 300_000, 200);
    const back = Date.now();
    await waitFor('the late pods Ready', () => readyPods(k, 'bench', 'app=late') === late.length, 300_000, 200);
    out.outage_s = outageS;
    out.late_pods = late.length;
    out.late_pods_ready_after_meshd_back_s = Math.round((Date.now() - back) / 100) / 10;
    const during = calls(start);
    out.outage_requests = during.length;
    out.outage_failed_requests = during.filter((c) => c.status !== 200).length;
  } finally {
    node.down();
  }
  for (const [key, v] of Object.entries(out)) console.log(`${key} ${v}`);
  if (args.includes('--json')) console.log(JSON.stringify(out));
}

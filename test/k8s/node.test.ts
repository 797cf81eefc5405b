/**
 * Injected pods on a real node (kubelet + containerd + scheduler + controller-manager +
 * kube-proxy, all built here; scripts/node-up.sh): meshd from deploy/ runs as 2 pods; an
 * injected app Deployment starts (the webhook's output: native sidecars, rewritten probes);
 * the client's calls are intercepted by iptables inside its pod and reach the server over mTLS
 * with the client's SPIFFE id, which the agent got through its projected token and TokenReview;
 * readiness probes pass under STRICT; a probe on a port nobody listens on keeps only that pod
 * unready, with the agent naming the port; a Job with a sidecar completes; and with every meshd
 * replica down, existing pods keep serving and a pod created meanwhile starts once one is back.
 */
import { test, before, after } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { installMeshd, nodeUp, readyPods, appDeployment, type Node } from '../helpers/node.js';
import { waitFor } from '../helpers/ports.js';

let node: Node;
before(async () => {
  node = await nodeUp();
  await installMeshd(node, 2);
  const k = node.kube;
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } }));
  for (const sa of ['server', 'client', 'batch']) k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: 'shop' } }));
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'shop' }, spec: { mtls: { mode: 'STRICT' } } }));
}, { timeout: 1_800_000 });
after(() => node?.down());

interface Call { event: string; status?: number; error?: string; callerId?: string }
function clientCalls(since?: Date): Call[] {
  const out = node.kube.kubectl(['-n', 'shop', 'logs', 'deploy/client', '-c', 'app', ...(since ? ['--since-time', since.toISOString()] : ['--tail', '400'])]).stdout;
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Call).filter((c) => c.event === 'call');
}

/** meshd's /debug/k8s of every replica, read inside its pod with the admin token from its state dir. */
function meshdDebug(): { tokenReviews: number } {
  const pods = node.kube.kubectlOk(['-n', 'istio-system', 'get', 'pods', '-l', 'app=meshd', '-o', 'jsonpath={.items[*].metadata.name}']).trim().split(/\s+/);
  let reviews = 0;
  for (const pod of pods) {
    const out = node.kube.kubectl(['-n', 'istio-system', 'exec', pod, '-c', 'meshd', '--', 'node', '-e', "const t = require('fs').readFileSync('/var/lib/meshd/admin-token', 'utf8').trim(); fetch('http://127.0.0.1:15014/debug/k8s', { headers: { authorization: 'Bearer ' + t } }).then((r) => r.text()).then((b) => console.log(b))"]).stdout;
    try { reviews += (JSON.parse(out) as { tokenReviews: number }).tokenReviews; } catch { /* a replica not answering counts 0 */ }
  }
  return { tokenReviews: reviews };
}

test('meshd from deploy/ and an injected app run on the node: interception, mTLS with the client\'s id, certificate via projected token + TokenReview, probes under STRICT', { timeout: 900_000 }, async () => {
  const k = node.kube;
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify(appDeployment({ ns: 'shop', name: 'server', sa: 'server', port: 8080 })));
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'server', namespace: 'shop' }, spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 8080 }] } }));
  const serverIp = k.kubectlOk(['-n', 'shop', 'get', 'svc', 'server', '-o', 'jsonpath={.spec.clusterIP}']).trim();
  const client = appDeployment({ ns: 'shop', name: 'client', sa: 'client', call: `http://${serverIp}:8080/api/orders` }) as { spec: { template: { spec: { containers: { command: string[] }[] } } } };
  client.spec.template.spec.containers[0]!.command.push('--host-header', 'server.shop.svc.cluster.local');
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify(client));
  await waitFor('server and client Ready', () => readyPods(k, 'shop', 'app=server') === 1 && readyPods(k, 'shop', 'app=client') === 1, 300_000, 1000);

  // The webhook's output is what runs: native sidecars, the app's probe rewritten to the agent.
  const pod = JSON.parse(k.kubectlOk(['-n', 'shop', 'get', 'pods', '-l', 'app=server', '-o', 'json'])).items[0];
  const inits = pod.spec.initContainers.map((c: { name: string; restartPolicy?: string }) => `${c.name}${c.restartPolicy ? `(${c.restartPolicy})` : ''}`);
  assert.deepEqual(inits, ['meshd-init', 'meshd-bootstrap', 'meshd-agent(Always)', 'istio-proxy(Always)']);
  assert.deepEqual(pod.spec.containers[0].readinessProbe.httpGet, { path: '/app-health/app/readyz', port: 15020, scheme: 'HTTP' });
  assert.ok(pod.status.initContainerStatuses.find((s: { name: string; started?: boolean }) => s.name === 'istio-proxy').started);

  // The client's plain HTTP to the Service IP went through its sidecar (iptables in the pod)
  // and arrived over mTLS with the client's SPIFFE id.
  const ok = await waitFor('an mTLS call from client to server', () => clientCalls().find((c) => c.status === 200), 120_000, 1000);
  assert.equal(ok.callerId, 'spiffe://cluster.local/ns/shop/sa/client');
  // The agents' certificates came from projected service-account tokens checked by TokenReview.
  assert.ok(meshdDebug().tokenReviews >= 2, 'meshd reviewed the agents\' tokens');
});

test('bad input on the node: a probe on a port the app does not listen on keeps that pod unready, the agent names the port, other pods unaffected', { timeout: 600_000 }, async () => {
  const k = node.kube;
  const bad = appDeployment({ ns: 'shop', name: 'badprobe', sa: 'server', port: 8080, probePort: 9999 });
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify(bad));
  const agentLog = await waitFor('the agent to report the failing probe', () => {
    const out = k.kubectl(['-n', 'shop', 'logs', 'deploy/badprobe', '-c', 'meshd-agent']).stdout;
    return /app probe \/app-health\/app\/readyz failed: .*9999.*nothing listens on port 9999/.test(out) ? out : undefined;
  }, 240_000, 2000);
  assert.match(agentLog, /fix the probe's port or the app/);
  assert.equal(readyPods(k, 'shop', 'app=badprobe'), 0);
  assert.equal(readyPods(k, 'shop', 'app=server'), 1, 'the other pods stay Ready');
  k.kubectlOk(['-n', 'shop', 'delete', 'deploy', 'badprobe', '--wait=false']);
  // A bad annotation value: the webhook refuses the pod, naming the annotation.
  const r = k.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'badannotation', namespace: 'shop', annotations: { 'sidecar.istio.io/nativeSidecar': 'maybe' } }, spec: { serviceAccountName: 'server', containers: [{ name: 'app', image: 'meshd:0.1.0', imagePullPolicy: 'Never' }] } }));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /sidecar\.istio\.io\/nativeSidecar: must be "true" or "false", got "maybe"/);
});

test('a Job with an injected sidecar completes (native sidecars stop after the app)', { timeout: 600_000 }, async () => {
  const k = node.kube;
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: 'shop' },
    spec: { backoffLimit: 0, template: { spec: { serviceAccountName: 'batch', restartPolicy: 'Never', containers: [{ name: 'app', image: 'meshd:0.1.0', imagePullPolicy: 'Never', securityContext: { runAsUser: 1000 }, command: ['node', '-e', 'setTimeout(() => process.exit(0), 1000)'] }] } } },
  }));
  await waitFor('the Job to complete', () => k.kubectlOk(['-n', 'shop', 'get', 'job', 'once', '-o', 'jsonpath={.status.succeeded}']).trim() === '1', 300_000, 1000);
  const pod = JSON.parse(k.kubectlOk(['-n', 'shop', 'get', 'pods', '-l', 'job-name=once', '-o', 'json'])).items[0];
  assert.equal(pod.status.phase, 'Succeeded');
  assert.ok(pod.spec.initContainers.some((c: { name: string }) => c.name === 'istio-proxy'), 'the Job\'s pod was injected');
});

test('drain: a request in flight when the server pod is deleted still completes through both sidecars', { timeout: 600_000 }, async () => {
  const k = node.kube;
  const serverIp = k.kubectlOk(['-n', 'shop', 'get', 'svc', 'server', '-o', 'jsonpath={.spec.clusterIP}']).trim();
  const victim = k.kubectlOk(['-n', 'shop', 'get', 'pods', '-l', 'app=server', '-o', 'jsonpath={.items[0].metadata.name}']).trim();
  const client = k.kubectlOk(['-n', 'shop', 'get', 'pods', '-l', 'app=client', '-o', 'jsonpath={.items[0].metadata.name}']).trim();
  // From inside the client's app container: intercepted, to the server's sidecar, 4 s at the app.
  const script = `fetch('http://${serverIp}:8080/slow?delay=4000', { headers: { host: 'server.shop.svc.cluster.local' } }).then(async (r) => console.log(r.status, await r.text()), (e) => console.log('failed', e.cause?.code ?? e.message))`;
  const inFlight = spawnAsync('kubectl', ['--kubeconfig', k.kubeconfig, '-n', 'shop', 'exec', client, '-c', 'app', '--', 'node', '-e', script]);
  await new Promise((r) => setTimeout(r, 1500));
  k.kubectlOk(['-n', 'shop', 'delete', 'pod', victim, '--wait=false']);
  const out = await inFlight;
  assert.match(out, /^200 .*"callerId":"spiffe:\/\/cluster\.local\/ns\/shop\/sa\/client"/m, `the in-flight request: ${out}`);
  await waitFor('a replacement server Ready', () => readyPods(k, 'shop', 'app=server') === 1 && !k.kubectl(['-n', 'shop', 'get', 'pod', victim]).stdout.includes(victim), 240_000, 1000);
});

function spawnAsync(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('close', () => resolve(out));
  });
}

/** Injected pods (the webhook runs now) held back from scheduling by a gate, to start later. */
function gatedPods(names: readonly string[], ns: string, sa: string, label: string): void {
  const k = node.kube;
  for (const name of names) {
    const d = appDeployment({ ns, name, sa, port: 8080 }) as { spec: { template: { spec: Record<string, unknown> } } };
    k.kubectlOk(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: label } },
      spec: { ...d.spec.template.spec, schedulingGates: [{ name: 'meshd.dev/outage-test' }] },
    }));
  }
}

/** Lets gated pods be scheduled: the kubelet starts them from now on. */
function ungate(names: readonly string[], ns: string): void {
  for (const name of names) node.kube.kubectlOk(['-n', ns, 'patch', 'pod', name, '--type=json', '-p', '[{"op":"remove","path":"/spec/schedulingGates"}]']);
}

test('control plane outage: with every meshd replica down existing pods keep serving; pods starting meanwhile wait and are Ready soon after a replica is back', { timeout: 900_000 }, async () => {
  const k = node.kube;
  const late = ['late-0', 'late-1'];
  gatedPods(late, 'shop', 'server', 'late');
  const injected = JSON.parse(k.kubectlOk(['-n', 'shop', 'get', 'pod', 'late-0', '-o', 'json'])) as { spec: { initContainers?: { name: string }[] } };
  assert.ok(injected.spec.initContainers?.some((c) => c.name === 'istio-proxy'), 'injected while meshd was up');
  // Steady state first (the drain test's replacement server must be in the client's endpoints).
  await waitFor('the client\'s recent calls all 200', () => { const c = clientCalls(new Date(Date.now() - 5000)); return c.length >= 6 && c.every((x) => x.status === 200); }, 120_000, 1000);
  const outageStart = new Date();
  k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=0']);
  await waitFor('every meshd pod gone', () => k.kubectl(['-n', 'istio-system', 'get', 'pods', '-l', 'app=meshd', '-o', 'name']).stdout.trim() === '', 120_000, 1000);
  const downAt = Date.now();
  ungate(late, 'shop');
  await new Promise((r) => setTimeout(r, 20_000));
  assert.equal(readyPods(k, 'shop', 'app=late'), 0, 'pods that start during the outage wait for meshd (no crash loop)');
  const restarts = k.kubectlOk(['-n', 'shop', 'get', 'pods', '-l', 'app=late', '-o', 'jsonpath={.items[*].status.initContainerStatuses[*].restartCount}']).trim().split(/\s+/).map(Number);
  k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=1']);
  await waitFor('a meshd replica Ready', () => readyPods(k, 'istio-system', 'app=meshd') === 1, 240_000, 250);
  const backAt = Date.now();
  await waitFor('the late pods Ready', () => readyPods(k, 'shop', 'app=late') === late.length, 240_000, 250);
  const startedMs = Date.now() - backAt;
  const during = clientCalls(outageStart);
  assert.ok(during.length > 40, `the client kept calling during the outage (${during.length} calls)`);
  const failed = during.filter((c) => c.status !== 200);
  process.stdout.write(`# outage ${Math.round((backAt - downAt) / 1000)} s: client calls seen ${during.length}, failed ${failed.length}; pods started during it Ready ${startedMs} ms after meshd was back; agent restarts ${restarts.join(',')}\n`);
  assert.equal(failed.length, 0, `calls failed during the outage: ${JSON.stringify(failed.slice(0, 3))}`);
  assert.ok(restarts.every((r) => r === 0), `no sidecar restarted while waiting: ${restarts.join(',')}`);
  k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=2']);
});

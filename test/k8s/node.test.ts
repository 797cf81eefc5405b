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
function clientCalls(): Call[] {
  const out = node.kube.kubectl(['-n', 'shop', 'logs', 'deploy/client', '-c', 'app', '--tail', '400']).stdout;
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Call).filter((c) => c.event === 'call');
}

async function meshdDebug(): Promise<{ tokenReviews: number }> {
  const ips = node.kube.kubectlOk(['-n', 'istio-system', 'get', 'pods', '-l', 'app=meshd', '-o', 'jsonpath={.items[*].status.podIP}']).trim().split(/\s+/);
  let reviews = 0;
  for (const ip of ips) {
    const r = await fetch(`http://${ip}:15014/debug/k8s`, { signal: AbortSignal.timeout(3000) }).then((x) => x.json() as Promise<{ tokenReviews: number }>).catch(() => ({ tokenReviews: 0 }));
    reviews += r.tokenReviews;
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
  assert.ok((await meshdDebug()).tokenReviews >= 2, 'meshd reviewed the agents\' tokens');
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

test('control plane outage: existing pods keep serving with every meshd replica down; a pod created meanwhile starts once one is back', { timeout: 900_000 }, async () => {
  const k = node.kube;
  const before = clientCalls().length;
  k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=0']);
  await waitFor('every meshd pod gone', () => k.kubectl(['-n', 'istio-system', 'get', 'pods', '-l', 'app=meshd', '-o', 'name']).stdout.trim() === '', 120_000, 1000);
  const downAt = Date.now();
  // A pod created while meshd is down (the webhook is failurePolicy Ignore: without meshd it is
  // admitted uninjected, so this one is created from an already injected template by scaling).
  k.kubectlOk(['-n', 'shop', 'scale', 'deploy/server', '--replicas=2']);
  await new Promise((r) => setTimeout(r, 20_000));
  assert.equal(readyPods(k, 'shop', 'app=server'), 1, 'the new pod waits for meshd');
  k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=1']);
  await waitFor('a meshd replica Ready', () => readyPods(k, 'istio-system', 'app=meshd') === 1, 240_000, 500);
  const backAt = Date.now();
  await waitFor('the new server pod Ready', () => readyPods(k, 'shop', 'app=server') === 2, 240_000, 500);
  const startedMs = Date.now() - backAt;
  const calls = clientCalls();
  const during = calls.slice(Math.max(0, before - calls.length));
  const failed = during.filter((c) => c.status !== 200);
  process.stdout.write(`# outage ${Math.round((backAt - downAt) / 1000)} s: ${during.length} calls, ${failed.length} failed; new pod Ready ${startedMs} ms after meshd was back\n`);
  assert.equal(failed.length, 0, `calls failed during the outage: ${JSON.stringify(failed.slice(0, 3))}`);
  k.kubectlOk(['-n', 'istio-system', 'scale', 'deploy/meshd', '--replicas=2']);
});

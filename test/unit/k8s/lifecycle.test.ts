/**
 * Pod lifecycle in injection: native sidecars (default), classic containers with
 * holdApplicationUntilProxyStarts, probe rewriting (HTTP, TCP, gRPC; named ports; exec left
 * alone; opt-out), and bad annotations or probes refused with messages naming them, through
 * `injectPod`, the webhook and `meshctl inject` alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultInjectOptions, injectManifest, injectPod } from '../../../src/k8s/inject.js';
import { lifecyclePlan, durationSeconds } from '../../../src/k8s/lifecycle.js';
import { rewriteProbes, APP_PROBERS_ENV } from '../../../src/k8s/probes.js';
import { admitInjection } from '../../../src/k8s/webhook.js';
import { injectYaml } from '../../../src/cli/inject-command.js';

type C = { name: string; restartPolicy?: string; startupProbe?: unknown; readinessProbe?: unknown; livenessProbe?: unknown; lifecycle?: Record<string, unknown>; env?: { name: string; value?: string }[]; command?: string[] };
const o = defaultInjectOptions({});
const app = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'web', image: 'web:1', ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9090 }], ...extra,
});
function inject(annotations: Record<string, string> = {}, containers: unknown[] = [app()]): { init: C[]; containers: C[] } {
  const r = injectPod(Object.freeze({ name: 'p', annotations }), Object.freeze({ containers }), o);
  assert.ok(r.injected, JSON.stringify(r));
  return { init: r.spec.initContainers as C[], containers: r.spec.containers as C[] };
}

test('native sidecars by default: agent then proxy as init containers with restartPolicy Always, held by startup probes', () => {
  const { init, containers } = inject();
  assert.deepEqual(init.map((c) => [c.name, c.restartPolicy]), [['meshd-init', undefined], ['meshd-bootstrap', undefined], ['meshd-agent', 'Always'], ['istio-proxy', 'Always']]);
  assert.deepEqual(containers.map((c) => c.name), ['web']);
  assert.deepEqual((init[2]!.startupProbe as { httpGet: unknown }).httpGet, { path: '/healthz/agent', port: 15020 });
  assert.deepEqual((init[3]!.startupProbe as { httpGet: unknown }).httpGet, { path: '/healthz/ready', port: 15020 });
  assert.deepEqual((init[3]!.readinessProbe as { httpGet: unknown }).httpGet, { path: '/healthz/ready', port: 15020 }, 'Envoy\'s admin is loopback-only: probed through the agent');
  assert.deepEqual(init[3]!.lifecycle, { preStop: { httpGet: { path: '/drain', port: 15020 } } });
  // holdApplicationUntilProxyStarts: false drops the proxy's startup probe only.
  const free = inject({ 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: false' });
  assert.equal(free.init[3]!.startupProbe, undefined);
  assert.ok(free.init[2]!.startupProbe);
});

test('classic containers (nativeSidecar "false"): agent and proxy first; hold adds a postStart wait; drain duration reaches the agent', () => {
  const plain = inject({ 'sidecar.istio.io/nativeSidecar': 'false' });
  assert.deepEqual(plain.containers.map((c) => c.name), ['meshd-agent', 'istio-proxy', 'web']);
  assert.equal(plain.containers[1]!.lifecycle!.postStart, undefined, 'Istio default: not held');
  const held = inject({ 'sidecar.istio.io/nativeSidecar': 'false', 'proxy.istio.io/config': '{"holdApplicationUntilProxyStarts": true, "terminationDrainDuration": "12s"}' });
  assert.deepEqual(held.containers[1]!.lifecycle!.postStart, { httpGet: { path: '/healthz/wait-ready', port: 15020 } });
  const cmd = held.containers[0]!.command!;
  assert.equal(cmd[cmd.indexOf('--drain-duration') + 1], '12s');
  assert.equal(held.containers[0]!.env!.find((e) => e.name === 'MESHD_NATIVE_SIDECAR')!.value, 'false');
  assert.equal(held.containers[0]!.env!.find((e) => e.name === 'MESHD_APP_PORTS')!.value, '8080,9090');
});

test('probes: HTTP, TCP and gRPC go to the agent with timings kept; named ports resolved; exec untouched; opt-out keeps them', () => {
  const probed = app({
    readinessProbe: { httpGet: { path: '/ready', port: 'http', httpHeaders: [{ name: 'x', value: 'y' }] }, periodSeconds: 3, timeoutSeconds: 2 },
    livenessProbe: { tcpSocket: { port: 8080 }, failureThreshold: 7 },
    startupProbe: { grpc: { port: 9090, service: 'web' } },
  });
  const { init, containers } = inject({}, [probed, { name: 'side', image: 's', livenessProbe: { exec: { command: ['true'] } } }]);
  const web = containers[0]!;
  assert.deepEqual(web.readinessProbe, { periodSeconds: 3, timeoutSeconds: 2, httpGet: { path: '/app-health/web/readyz', port: 15020, scheme: 'HTTP' } });
  assert.deepEqual(web.livenessProbe, { failureThreshold: 7, httpGet: { path: '/app-health/web/livez', port: 15020, scheme: 'HTTP' } });
  assert.deepEqual(web.startupProbe, { httpGet: { path: '/app-health/web/startupz', port: 15020, scheme: 'HTTP' } });
  assert.deepEqual(containers[1]!.livenessProbe, { exec: { command: ['true'] } });
  const probers = JSON.parse(init[2]!.env!.find((e) => e.name === APP_PROBERS_ENV)!.value!);
  assert.deepEqual(probers, {
    '/app-health/web/readyz': { httpGet: { path: '/ready', port: 8080, scheme: 'HTTP', httpHeaders: [{ name: 'x', value: 'y' }] }, timeoutSeconds: 2 },
    '/app-health/web/livez': { tcpSocket: { port: 8080 }, timeoutSeconds: 1 },
    '/app-health/web/startupz': { grpc: { port: 9090, service: 'web' }, timeoutSeconds: 1 },
  });
  const kept = inject({ 'sidecar.istio.io/rewriteAppHTTPProbers': 'false' }, [probed]);
  assert.deepEqual(kept.containers[0]!.readinessProbe, probed.readinessProbe);
  assert.equal(rewriteProbes([probed]).errors.length, 0);
});

test('bad input: a bad annotation value or a probe on an undeclared port name refuses the pod, naming them, in every path', () => {
  const cases: [Record<string, string>, unknown[], RegExp][] = [
    [{ 'sidecar.istio.io/nativeSidecar': 'yes' }, [app()], /annotation sidecar\.istio\.io\/nativeSidecar: must be "true" or "false", got "yes"/],
    [{ 'sidecar.istio.io/rewriteAppHTTPProbers': '1' }, [app()], /rewriteAppHTTPProbers: must be "true" or "false"/],
    [{ 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: sometimes' }, [app()], /proxy\.istio\.io\/config: holdApplicationUntilProxyStarts: must be true or false, got "sometimes"/],
    [{ 'proxy.istio.io/config': 'terminationDrainDuration: soon' }, [app()], /terminationDrainDuration: must be a duration such as "5s"/],
    [{ 'proxy.istio.io/config': '{ not: [yaml' }, [app()], /proxy\.istio\.io\/config: not YAML or JSON/],
    [{}, [app({ readinessProbe: { httpGet: { path: '/', port: 'metrics' } } })], /container web: readinessProbe\.httpGet\.port: no port named "metrics" among the container's ports/],
  ];
  for (const [annotations, containers, re] of cases) {
    const r = injectPod({ name: 'p', annotations }, { containers }, o);
    assert.ok(!r.injected && r.errors, JSON.stringify(annotations));
    assert.match(r.errors.join('\n'), re);
    const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { kind: 'Pod' }, operation: 'CREATE', object: { metadata: { name: 'p', annotations }, spec: { containers } } } };
    const res = admitInjection(review, o);
    assert.equal(res.allowed, false);
    assert.match(String((res.status as { message: string }).message), re);
    const offline = injectYaml(JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { metadata: { annotations }, spec: { containers } } } }), {});
    assert.match(offline.errors.join('\n'), re);
    assert.match(offline.errors.join('\n'), /Deployment\/d/);
  }
  // Another pod in the same manifest is still injected.
  const two = injectManifest({ kind: 'List', items: [{ kind: 'Pod', metadata: { name: 'bad', annotations: { 'sidecar.istio.io/nativeSidecar': 'x' } }, spec: { containers: [app()] } }, { kind: 'Pod', metadata: { name: 'good' }, spec: { containers: [app()] } }] }, o);
  assert.deepEqual(two.notes.map((n) => n.split(':').slice(0, 2).join(':')), ['Pod/bad: refused', 'Pod/good: injected']);
  assert.equal(durationSeconds('1m30s'), 90);
  assert.equal(durationSeconds('250ms'), 0.25);
  assert.ok(lifecyclePlan({}).ok);
});

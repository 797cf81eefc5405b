/**
 * Telemetry and the mesh config in Kubernetes, on a real kube-apiserver: the `istio` ConfigMap's
 * `mesh` key is watched (a malformed provider is a diagnostic naming the ConfigMap and field,
 * the last good mesh config stays), Telemetry resources are watched and checked against it,
 * and the validating webhook refuses a Telemetry with a sampling percentage outside 0-100.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { kubeUp, type Kube } from '../helpers/kube.js';
import type { RunningMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import { installCrds, k8sDebug, namespace, registerWebhooks, startK8sMeshd } from './setup.js';

let kube: Kube;
let meshd: RunningMeshd;

before(async () => {
  kube = await kubeUp();
  installCrds(kube);
  namespace(kube, 'istio-system', {}, []);
  namespace(kube, 'shop', {}, ['default']);
  meshd = await startK8sMeshd(kube);
  await registerWebhooks(kube, (await k8sDebug(meshd)).webhookPort);
});

after(async () => {
  await meshd?.stop();
  kube?.down();
});

const configMap = (mesh: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh } });
const diagnostics = async (): Promise<string> => JSON.stringify(await meshd.adminJson<unknown>('/debug/diagnostics'));

test('the istio ConfigMap is the mesh config; Telemetry is watched and checked against its providers', async () => {
  kube.kubectlOk(['apply', '-f', '-'], configMap('extensionProviders:\n- name: zipkin\n  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}\n'));
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'traces', namespace: 'shop' },
    spec: { tracing: [{ providers: [{ name: 'zipkin' }], randomSamplingPercentage: 10 }] },
  }));
  await waitFor('Telemetry seen', async () => ((await k8sDebug(meshd)).resources.find((r) => r.kind === 'Telemetry')?.objects ?? 0) >= 1 || undefined, 20_000, 200);
  await new Promise((r) => setTimeout(r, 1500));
  assert.doesNotMatch(await diagnostics(), /zipkin/, 'the provider resolves');

  // A malformed provider: the ConfigMap is named with the field; the last good mesh config stays, so the Telemetry still resolves.
  kube.kubectlOk(['apply', '-f', '-'], configMap('extensionProviders:\n- name: zipkin\n  zipkin: {service: zipkin.istio-system.svc.cluster.local}\n'));
  const bad = await waitFor('mesh config diagnostic', async () => { const d = await diagnostics(); return d.includes('zipkin.port') ? d : undefined; }, 20_000, 200);
  assert.match(bad, /ConfigMap istio-system\/istio/);
  assert.doesNotMatch(bad, /no extension provider/);

  // A Telemetry naming a provider the mesh config lacks.
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'logs', namespace: 'shop' },
    spec: { accessLogging: [{ providers: [{ name: 'otel-als' }] }] },
  }));
  const unknown = await waitFor('unknown provider diagnostic', async () => { const d = await diagnostics(); return d.includes('otel-als') ? d : undefined; }, 20_000, 200);
  assert.match(unknown, /spec\.accessLogging\[0\]\.providers\[0\]\.name/);
});

test('the validating webhook refuses a Telemetry with sampling outside 0-100, naming the field', () => {
  const r = kube.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'too-much', namespace: 'shop' },
    spec: { tracing: [{ randomSamplingPercentage: 150 }] },
  }));
  assert.notEqual(r.code, 0, 'refused');
  assert.match(r.stderr, /spec\.tracing\[0\]\.randomSamplingPercentage: must be a number from 0 to 100/);
  assert.equal(kube.kubectl(['get', 'telemetry', 'too-much', '-n', 'shop']).code, 1, 'not stored');
});

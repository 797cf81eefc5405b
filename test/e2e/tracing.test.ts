/**
 * Tracing end to end on real Envoy: a mesh config with a Zipkin provider, a Telemetry resource
 * with 100 % sampling, one request frontend → backend through two sidecars; the test collector
 * (Zipkin v2 JSON) receives a client span from frontend's sidecar and a server span from
 * backend's, in one trace, named after the workloads; the app sees the B3 headers. A Telemetry
 * naming an unknown provider is reported and traces nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import { startTraceCollector } from '../../src/telemetry/trace-collector.js';

test('a request frontend → backend yields one trace with both sidecars\' spans at the Zipkin collector', async (t) => {
  const collector = await startTraceCollector('127.0.0.1');
  t.after(() => collector.close());
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  const meshConfig = join(mesh.dir, 'mesh.yaml');
  writeFileSync(meshConfig, `
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: ${collector.port}}
- name: json-log
  envoyFileAccessLog: {path: /dev/stdout, logFormat: {labels: {meshd_path: "%REQ(:PATH)%", code: "%RESPONSE_CODE%"}}}
`);
  mesh.writeConfig('05-zipkin.yaml', `
apiVersion: v1
kind: Service
metadata: {name: zipkin, namespace: istio-system}
spec:
  selector: {app: zipkin}
  ports: [{name: http-zipkin, port: ${collector.port}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: zipkin, namespace: istio-system, labels: {sidecar.istio.io/inject: "false"}}
spec: {address: 127.0.0.1, labels: {app: zipkin}, serviceAccount: zipkin, ports: {http-zipkin: ${collector.port}}}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: 100
    customTags:
      team: {literal: {value: payments}}
`);
  await mesh.startMeshd(['--mesh-config', meshConfig]);
  await mesh.startWorkloads();
  const r = await mesh.waitForCall('frontend', 'backend', 200, { path: '/traced' });
  const reply = JSON.parse(r.body) as { trace?: Record<string, string> };
  const traceId = reply.trace?.['x-b3-traceid'];
  assert.ok(traceId, `the app sees x-b3-traceid: ${r.body}`);
  assert.equal(reply.trace?.['x-b3-sampled'], '1');
  const spans = await waitFor('both spans at the collector', () => {
    const s = collector.trace(traceId);
    return s.some((x) => x.kind === 'CLIENT') && s.some((x) => x.kind === 'SERVER') ? s : undefined;
  }, 20000, 200);
  const client = spans.find((s) => s.kind === 'CLIENT')!;
  const server = spans.find((s) => s.kind === 'SERVER')!;
  assert.equal(client.localEndpoint?.serviceName, 'frontend.production');
  assert.equal(server.localEndpoint?.serviceName, 'backend.production');
  assert.equal(server.parentId, client.id, 'the server span is the client span\'s child');
  assert.equal(client.tags?.team, 'payments', 'custom tag from the Telemetry resource');
  assert.equal(server.tags?.['http.status_code'], '200');

  // A Telemetry naming an unknown provider: reported, and the namespace traces nothing.
  mesh.writeConfig('06-bad-telemetry.yaml', `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: tracing, namespace: production}
spec:
  tracing: [{providers: [{name: jaeger}], randomSamplingPercentage: 100}]
`);
  const problem = await waitFor('diagnostic for the unknown provider', async () => {
    const d = await (await fetch(`http://127.0.0.1:${mesh.meshd!.adminPort}/debug/diagnostics`)).text();
    return d.includes('jaeger') ? d : undefined;
  }, 20000, 200);
  assert.match(problem, /Telemetry/);
  assert.match(problem, /spec\.tracing\[0\]\.providers\[0\]\.name/);
  // The mesh-wide tracing stays in force.
  const again = JSON.parse((await mesh.call('frontend', 'backend', { path: '/still-traced' })).body) as { trace?: Record<string, string> };
  assert.equal(again.trace?.['x-b3-sampled'], '1');

  // Access logging from the Telemetry API: JSON lines to stdout with the provider's labels.
  mesh.removeConfig('06-bad-telemetry.yaml');
  mesh.writeConfig('07-logs.yaml', `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: production}
spec:
  accessLogging: [{providers: [{name: json-log}], match: {mode: SERVER}}]
`);
  await waitFor('a JSON access log line on backend', async () => {
    await mesh.call('frontend', 'backend', { path: '/logged' });
    return mesh.get('backend').envoy!.log().includes('"meshd_path":"/logged"') || undefined;
  }, 20000, 300);
  assert.match(mesh.get('backend').envoy!.log(), /\{[^\n]*"code":200[^\n]*"meshd_path":"\/logged"|\{[^\n]*"meshd_path":"\/logged"[^\n]*"code":200/);
});

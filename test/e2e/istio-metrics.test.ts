/**
 * Istio's standard metrics on real Envoy: 100 requests frontend → backend through two
 * sidecars, scraped from each sidecar's Prometheus port (15090) as Prometheus would, compared
 * with Istio's names and label sets; an RBAC 403, plaintext under PERMISSIVE, TCP connections,
 * and a Telemetry resource that disables a metric.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import { parsePrometheus, select, sum, type Sample } from '../helpers/prometheus.js';
import { ISTIO_METRICS } from '../helpers/istio-metrics.js';

const POLICIES = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: production}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: production}
spec:
  selector: {matchLabels: {app: backend}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin"]}}]}]
`;

function labelSetsOf(samples: readonly Sample[], base: string): string[][] {
  const names = new Set([base, `${base}_bucket`, `${base}_sum`, `${base}_count`]);
  return samples.filter((s) => names.has(s.name)).map((s) => Object.keys(s.labels).filter((k) => k !== 'le').sort());
}

test('sidecars serve Istio\'s standard metrics on 15090: names, label sets, per-request counts, 403, plaintext, TCP, Telemetry overrides', async (t) => {
  const mesh = await MeshFixture.create([
    { name: 'frontend', labels: { version: 'v1' } }, { name: 'backend', labels: { version: 'v2' } },
    { name: 'db', portName: 'tcp-db' },
  ]);
  t.after(() => mesh.close());
  mesh.writeConfig('20-policies.yaml', POLICIES);
  await mesh.startMeshd();
  await mesh.startWorkloads({ stats: true });
  await mesh.waitForCall('frontend', 'backend', 200);
  const before = parsePrometheus(await mesh.scrape('backend'));
  const base = { reporter: 'destination', source_workload: 'frontend', destination_workload: 'backend', response_code: '200', connection_security_policy: 'mutual_tls' };
  const already = sum(before, 'istio_requests_total', base);

  for (let i = 0; i < 100; i++) assert.equal((await mesh.call('frontend', 'backend', { path: `/api/${i}` })).status, 200);
  const server = parsePrometheus(await mesh.scrape('backend'));
  assert.equal(sum(server, 'istio_requests_total', base) - already, 100, 'backend counts 100 more requests from frontend');
  const row = select(server, 'istio_requests_total', base)[0]!;
  assert.deepEqual(
    { ...row.labels },
    {
      reporter: 'destination', source_workload: 'frontend', source_workload_namespace: 'production',
      source_principal: 'spiffe://cluster.local/ns/production/sa/frontend', source_app: 'frontend', source_version: 'v1',
      source_canonical_service: 'frontend', source_canonical_revision: 'v1', source_cluster: 'Kubernetes',
      destination_workload: 'backend', destination_workload_namespace: 'production',
      destination_principal: 'spiffe://cluster.local/ns/production/sa/backend', destination_app: 'backend', destination_version: 'v2',
      destination_service: 'backend.production.svc.cluster.local', destination_service_name: 'backend', destination_service_namespace: 'production',
      destination_canonical_service: 'backend', destination_canonical_revision: 'v2', destination_cluster: 'Kubernetes',
      request_protocol: 'http', response_code: '200', grpc_response_status: row.labels.grpc_response_status!, response_flags: '-', connection_security_policy: 'mutual_tls',
    },
  );

  const client = parsePrometheus(await mesh.scrape('frontend'));
  const src = { reporter: 'source', source_workload: 'frontend', destination_workload: 'backend', response_code: '200' };
  assert.ok(sum(client, 'istio_requests_total', src) >= 100, 'frontend reports the same requests as reporter="source"');
  const srow = select(client, 'istio_requests_total', src)[0]!;
  assert.equal(srow.labels.destination_service, 'backend.production.svc.cluster.local');
  assert.equal(srow.labels.destination_principal, 'spiffe://cluster.local/ns/production/sa/backend');
  assert.equal(srow.labels.source_principal, 'spiffe://cluster.local/ns/production/sa/frontend');
  assert.equal(srow.labels.destination_version, 'v2', 'the server sidecar told the client who it is');

  // An RBAC denial is a 403 in the metrics.
  assert.equal((await mesh.call('frontend', 'backend', { path: '/admin' })).status, 403);
  const denied = parsePrometheus(await mesh.scrape('backend'));
  assert.equal(sum(denied, 'istio_requests_total', { ...base, response_code: '403' }), 1, 'the 403 is counted with response_code="403"');

  // TCP: connections opened and bytes through the sidecars.
  const db = mesh.get('db');
  await new Promise<void>((resolve, reject) => {
    const s = createConnection({ host: mesh.get('frontend').outboundAddress, port: db.port }, () => { s.write('GET / HTTP/1.0\r\n\r\n'); });
    s.on('data', () => s.end());
    s.on('close', () => resolve());
    s.on('error', reject);
    setTimeout(() => { s.destroy(); resolve(); }, 3000);
  });
  await waitFor('TCP metrics at db', async () => sum(parsePrometheus(await mesh.scrape('db')), 'istio_tcp_connections_closed_total', { reporter: 'destination' }) >= 1 || undefined, 10000, 200);

  // Every metric has exactly Istio's label set (histograms show up after Envoy's stats flush).
  const all = await waitFor('histograms flushed', async () => {
    const s = [...parsePrometheus(await mesh.scrape('backend')), ...parsePrometheus(await mesh.scrape('frontend')), ...parsePrometheus(await mesh.scrape('db'))];
    return sum(s, 'istio_request_duration_milliseconds_count', base) - already >= 100 ? s : undefined;
  }, 15000, 500);
  for (const m of ISTIO_METRICS) {
    const sets = labelSetsOf(all, m.name);
    assert.ok(sets.length > 0, `${m.name} is served`);
    for (const s of sets) assert.deepEqual(s, [...m.labels].sort(), `${m.name} has Istio's labels`);
  }
  assert.equal(sum(all, 'istio_request_duration_milliseconds_count', base) - already, 100);
  assert.ok(sum(all, 'istio_response_bytes_sum', base) > 0);
  assert.ok(sum(all, 'istio_tcp_received_bytes_total', { reporter: 'destination', destination_workload: 'db' }) > 0);
  assert.ok(!all.some((s) => s.name.startsWith('envoy_wasmcustom')), 'no envoy_ prefix on Istio metrics');

  // PERMISSIVE: plaintext is counted with connection_security_policy="none".
  mesh.writeConfig('20-policies.yaml', POLICIES.replace('mode: STRICT', 'mode: PERMISSIVE'));
  await waitFor('plaintext accepted', async () => { try { return (await mesh.callDirect('backend')).status === 200 || undefined; } catch { return undefined; } }, 20000, 200);
  const plain = parsePrometheus(await mesh.scrape('backend'));
  const p = select(plain, 'istio_requests_total', { reporter: 'destination', connection_security_policy: 'none', response_code: '200' });
  assert.ok(p.length >= 1, 'plaintext request counted');
  assert.equal(p[0]!.labels.source_principal, 'unknown');
  assert.equal(p[0]!.labels.source_workload, 'unknown');

  // A Telemetry resource disables a metric and drops a tag.
  mesh.writeConfig('30-telemetry.yaml', `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_SIZE}
      disabled: true
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        request_protocol: {operation: REMOVE}
        request_host: {value: "request.host"}
`);
  await waitFor('override applied', async () => {
    await mesh.call('frontend', 'backend', { path: '/after' });
    const s = select(parsePrometheus(await mesh.scrape('backend')), 'istio_requests_total', { reporter: 'destination' });
    return s.some((x) => x.labels.request_host !== undefined) || undefined;
  }, 20000, 300);
  const after = parsePrometheus(await mesh.scrape('backend'));
  const fresh = select(after, 'istio_requests_total', { reporter: 'destination' }).find((x) => x.labels.request_host !== undefined)!;
  assert.equal(fresh.labels.request_host, `backend.production.svc.cluster.local`);
  assert.equal(fresh.labels.request_protocol, undefined, 'request_protocol removed');
});

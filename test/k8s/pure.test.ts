/** The pure parts of Kubernetes mode, without an API server: parsing, endpoints, injection, admission. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePod } from '../../src/k8s/pod.js';
import { endpointWorkloads, parseEndpointSlice, ENDPOINTS_OF_LABEL } from '../../src/k8s/endpoint-slice.js';
import { injectManifest, injectPod, defaultInjectOptions } from '../../src/k8s/inject.js';
import { admitInjection, admitValidation, BadReviewError } from '../../src/k8s/webhook.js';
import type { Service } from '../../src/model/types.js';

const ctx = { source: 'k8s', defaultNamespace: 'default' };

test('Pod → Workload: IP, readiness, named ports, sidecar; pending pods have no workload; bad shapes are diagnostics', () => {
  const pod = (status: unknown, containers: unknown = [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }]): unknown => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } }, spec: { serviceAccountName: 'web', containers }, status,
  });
  const r = parsePod(pod({ podIP: '10.0.0.5', conditions: [{ type: 'Ready', status: 'True' }] }, [{ name: 'istio-proxy' }, { name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }]), ctx);
  assert.ok(r.ok);
  assert.deepEqual({ ...r.value.workload, meta: undefined }, { meta: undefined, name: 'web-1', namespace: 'shop', address: '10.0.0.5', labels: { app: 'web' }, serviceAccount: 'web', ports: { http: 8080 }, meshed: true, ready: true });
  const pending = parsePod(pod({ phase: 'Pending' }), ctx);
  assert.ok(pending.ok && pending.value.workload === undefined && pending.value.meshed === false);
  const bad = parsePod(pod({ podIP: 'not-an-ip' }, 'nope'), ctx);
  assert.ok(!bad.ok);
  assert.deepEqual(bad.diagnostics.map((d) => d.field).sort(), ['spec.containers', 'status.podIP']);
  assert.ok(!parsePod(42, ctx).ok);
});

test('EndpointSlices: endpoints not covered by a selected pod become workloads; selector-less services get a synthetic selector', () => {
  const slice = parseEndpointSlice({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'db-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv4', ports: [{ name: 'tcp', port: 5432 }], endpoints: [{ addresses: ['10.1.0.1'], targetRef: { kind: 'Pod', name: 'db-0' } }, { addresses: ['10.1.0.2'], conditions: { ready: false } }],
  }, ctx);
  assert.ok(slice.ok);
  const svc: Service = { meta: { name: 'db', namespace: 'shop', labels: {}, annotations: {}, source: 'k8s' }, hostname: 'db.shop.svc.cluster.local', ports: [{ name: 'tcp', port: 5432, targetPort: 5432, protocol: 'TCP' }] };
  const out = endpointWorkloads([svc], [slice.value], {
    byName: (_ns, n) => (n === 'db-0' ? { namespace: 'shop', name: 'db-0', serviceAccount: 'db', meshed: true } : undefined),
    byAddress: () => undefined,
  });
  assert.deepEqual(out.services[0]!.selector, { [ENDPOINTS_OF_LABEL]: 'db' });
  assert.deepEqual(out.workloads.map((w) => [w.address, w.ready, w.meshed, w.serviceAccount, w.ports]), [['10.1.0.1', true, true, 'db', { tcp: 5432 }], ['10.1.0.2', false, false, 'default', { tcp: 5432 }]]);
  const noService = parseEndpointSlice({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'x', namespace: 'shop' }, endpoints: 'no' }, ctx);
  assert.ok(!noService.ok);
  assert.deepEqual(noService.diagnostics.map((d) => d.field).sort(), ['endpoints', 'metadata.labels["kubernetes.io/service-name"]']);
});

test('injection: the webhook patch and meshctl inject make the same pod; opt-out and re-injection are no-ops', () => {
  const o = defaultInjectOptions({});
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'a' } }, spec: { containers: [{ name: 'app', image: 'x' }] } };
  const offline = injectManifest(pod, o).doc as typeof pod;
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { kind: 'Pod' }, operation: 'CREATE', object: pod } };
  const res = admitInjection(review, o);
  const patch = JSON.parse(Buffer.from(String(res.patch), 'base64').toString()) as { path: string; value: unknown }[];
  const patched = structuredClone(pod) as unknown as Record<string, Record<string, unknown>>;
  for (const op of patch) { const [, a, b] = op.path.split('/'); patched[a!]![b!] = op.value; }
  assert.deepEqual(patched, offline);
  assert.equal(injectPod(offline.metadata, offline.spec, o).injected, false, 'already injected');
  assert.equal(injectPod({ labels: { 'sidecar.istio.io/inject': 'false' } }, pod.spec, o).injected, false);
  const dep = injectManifest({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { metadata: {}, spec: pod.spec } } }, o);
  assert.deepEqual(dep.notes, ['Deployment/d: injected']);
  assert.deepEqual(injectManifest({ kind: 'ConfigMap' }, o).doc, { kind: 'ConfigMap' });
});

test('validation: errors deny with formatDiagnostic text, warnings ride along, malformed reviews throw BadReviewError', () => {
  const review = (object: unknown, operation = 'CREATE'): unknown => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', namespace: 'shop', operation, object } });
  const bad = admitValidation(review({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'x' }, spec: { action: 'NOPE' } }));
  assert.equal(bad.allowed, false);
  assert.match(String((bad.status as { message: string }).message), /^error: k8s: AuthorizationPolicy shop\/x: spec\.action: /);
  assert.equal(admitValidation(review({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'd' }, spec: { mtls: { mode: 'STRICT' } } })).allowed, true);
  assert.equal(admitValidation(review({}, 'DELETE')).allowed, true);
  assert.throws(() => admitValidation({ kind: 'AdmissionReview' }), BadReviewError);
  assert.throws(() => admitInjection('x', defaultInjectOptions({})), BadReviewError);
});

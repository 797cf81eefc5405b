/**
 * The pure parts of Kubernetes mode for the traffic kinds, without an API server: admission
 * of every bad-input case (same text as the file store), pods' localities from nodes and
 * labels, which discovered resources are unread, and the Gateway API route status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { admitValidation } from '../../../src/k8s/webhook.js';
import { nodeLocality, parseNode } from '../../../src/k8s/locality.js';
import { parsePod } from '../../../src/k8s/pod.js';
import { unreadResources, type DiscoveredResource } from '../../../src/k8s/unread-kinds.js';
import { MESH_CONTROLLER, mergeParents, routeParentStatuses, type RefResolver } from '../../../src/k8s/route-status.js';
import { RESOURCES, type PolicyState } from '../../../src/k8s/source.js';
import { parseObject } from '../../../src/config/parse.js';
import { formatDiagnostic } from '../../../src/model/types.js';
import { TRAFFIC_BAD_CASES } from '../../helpers/traffic-bad-cases.js';

const ctx = { source: 'k8s', defaultNamespace: 'default' };
const review = (object: unknown, operation = 'CREATE'): unknown => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', namespace: 'shop', operation, object } });
const message = (r: ReturnType<typeof admitValidation>): string => String((r.status as { message?: string } | undefined)?.message ?? '');

test('admission: each traffic bad-input case is denied with the file store\'s diagnostic; its good version is allowed', () => {
  for (const c of TRAFFIC_BAD_CASES) {
    const good = YAML.parse(c.good) as Record<string, unknown>;
    assert.equal(admitValidation(review(good)).allowed, true, `${c.name}: good version allowed`);
    const bad = structuredClone(good);
    c.edit(bad);
    const r = admitValidation(review(bad, 'UPDATE'));
    assert.equal(r.allowed, false, c.name);
    assert.ok(message(r).split('\n').includes(`error: k8s: ${c.expect}`), `${c.name}: ${message(r)}`);
  }
});

test('admission: a Gateway API route attached only to Gateways is never refused; with a Service parent it is; other kinds pass', () => {
  const route = (parent: Record<string, unknown>): Record<string, unknown> => ({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'shop' },
    spec: { parentRefs: [parent], rules: [{ backendRef: [{ name: 'x', port: 80 }] }] },
  });
  assert.equal(admitValidation(review(route({ name: 'public-gw' }))).allowed, true, 'a gateway controller\'s route');
  const mesh = admitValidation(review(route({ group: '', kind: 'Service', name: 'reviews' })));
  assert.equal(mesh.allowed, false);
  assert.match(message(mesh), /HTTPRoute shop\/r: spec\.rules\[0\]\.backendRef: unknown field \(did you mean "backendRefs"\?\)/);
  assert.equal(admitValidation(review({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: 'nonsense' } })).allowed, true, 'core kinds are not meshd\'s to refuse');
  assert.equal(admitValidation(review({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'e' }, spec: {} })).allowed, true);
  const we = admitValidation(review({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'vm' }, spec: { address: '10.0.0.1', locality: 'a//c' } }));
  assert.equal(we.allowed, false);
  assert.match(message(we), /WorkloadEntry shop\/vm: spec\.locality: /);
});

test('locality: node topology labels (GA, then deprecated), subzone; the pod label overrides; a bad label is a warning', () => {
  assert.deepEqual(nodeLocality({ 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': 'eu-1', 'topology.istio.io/subzone': 'rack3' }), { region: 'eu', zone: 'eu-1', subZone: 'rack3' });
  assert.deepEqual(nodeLocality({ 'failure-domain.beta.kubernetes.io/region': 'us', 'failure-domain.beta.kubernetes.io/zone': 'us-2' }), { region: 'us', zone: 'us-2' });
  assert.deepEqual(nodeLocality({ 'topology.kubernetes.io/zone': 'z' }), { region: '', zone: 'z' });
  assert.equal(nodeLocality({ 'kubernetes.io/hostname': 'n1' }), undefined);
  const node = parseNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'topology.kubernetes.io/region': 'eu' } }, status: { conditions: [] } }, ctx);
  assert.ok(node.ok);
  assert.deepEqual(node.value, { kind: 'Node', name: 'n1', locality: { region: 'eu' } });
  const pod = (labels: Record<string, string>): ReturnType<typeof parsePod> => parsePod({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', labels },
    spec: { nodeName: 'n1', containers: [{ name: 'app' }] }, status: { podIP: '10.0.0.9' },
  }, ctx);
  const plain = pod({});
  assert.ok(plain.ok);
  assert.equal(plain.value.nodeName, 'n1');
  assert.equal(plain.value.localityOverride, undefined);
  const over = pod({ 'istio-locality': 'us-east.us-east-1b.rack7' });
  assert.ok(over.ok);
  assert.deepEqual(over.value.localityOverride, { region: 'us-east', zone: 'us-east-1b', subZone: 'rack7' });
  const first = pod({ 'topology.istio.io/locality': 'a.b', 'istio-locality': 'c' });
  assert.ok(first.ok);
  assert.deepEqual(first.value.localityOverride, { region: 'a', zone: 'b' });
  const bad = pod({ 'istio-locality': 'a.b.c.d' });
  assert.ok(bad.ok);
  assert.equal(bad.value.localityOverride, undefined);
  assert.deepEqual(bad.warnings.map(formatDiagnostic), ['warning: k8s: Pod shop/p: metadata.labels.istio-locality: "a.b.c.d" is not a locality ("region", "region.zone" or "region.zone.subzone"); ignored']);
});

test('discovery: resources meshd reads are skipped (at any served version); the others are watched once, at the preferred version', () => {
  const d = (group: string, version: string, plural: string, kind: string, preferred = false): DiscoveredResource => ({ group, version, plural, kind, namespaced: true, preferred });
  const found = unreadResources([
    d('networking.istio.io', 'v1', 'virtualservices', 'VirtualService', true),
    d('networking.istio.io', 'v1beta1', 'virtualservices', 'VirtualService'),
    d('networking.istio.io', 'v1alpha3', 'envoyfilters', 'EnvoyFilter'),
    d('networking.istio.io', 'v1', 'gateways', 'Gateway', true),
    d('networking.istio.io', 'v1beta1', 'gateways', 'Gateway'),
    // A kind meshd reads, served only at a version it does not read.
    d('networking.istio.io', 'v2alpha1', 'workloadentries', 'WorkloadEntry'),
    d('gateway.networking.k8s.io', 'v1beta1', 'httproutes', 'HTTPRoute'),
    d('gateway.networking.k8s.io', 'v1alpha2', 'tcproutes', 'TCPRoute'),
  ], RESOURCES);
  assert.deepEqual(found.map((r) => `${r.apiVersion} ${r.kind}`), [
    'gateway.networking.k8s.io/v1alpha2 TCPRoute', 'networking.istio.io/v1 Gateway', 'networking.istio.io/v1alpha3 EnvoyFilter', 'networking.istio.io/v2alpha1 WorkloadEntry',
  ]);
  const p = parseObject({ apiVersion: 'networking.istio.io/v2alpha1', kind: 'WorkloadEntry', metadata: { name: 'vm', namespace: 'shop' }, spec: {} }, ctx);
  assert.equal(p.status, 'invalid');
  assert.match(formatDiagnostic(p.diagnostics[0]!), /WorkloadEntry shop\/vm: apiVersion: networking\.istio\.io\/v2alpha1 is not an apiVersion this mesh reads/);
});

const refs = (services: string[], hosts: string[] = []): RefResolver => ({ serviceExists: (ns, n) => services.includes(`${ns}/${n}`), hostKnown: (h) => hosts.includes(h) });
const routeState = (spec: Record<string, unknown>, diagnostics: PolicyState['diagnostics'] = [], status?: unknown): PolicyState => ({
  kind: 'HTTPRoute', namespace: 'shop', name: 'r', diagnostics, accepted: !diagnostics.some((d) => d.severity === 'error'),
  raw: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'shop', generation: 3 }, spec, ...(status ? { status } : {}) },
});

test('route status: one entry per Service parent; Accepted/ResolvedRefs with Gateway API reasons; other controllers kept; no rewrite when unchanged', () => {
  const spec = {
    parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }, { name: 'public-gw' }, { group: '', kind: 'Service', name: 'ghost' }],
    rules: [{ backendRefs: [{ name: 'reviews-v1', port: 9080 }, { name: 'missing', port: 9080 }, { group: 'networking.istio.io', kind: 'Hostname', name: 'api.example.com', port: 443 }] }],
  };
  const st = routeParentStatuses(routeState(spec), refs(['shop/reviews', 'shop/reviews-v1'], ['api.example.com']));
  assert.deepEqual(st.map((s) => [s.parentRef.name, s.controllerName, s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)]), [
    ['reviews', MESH_CONTROLLER, ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']],
    ['ghost', MESH_CONTROLLER, ['Accepted=False/NoMatchingParent', 'ResolvedRefs=False/BackendNotFound']],
  ]);
  assert.equal(st[0]!.conditions[1]!.message, 'spec.rules[0].backendRefs[1]: Service shop/missing not found');
  assert.equal(st[0]!.conditions[0]!.observedGeneration, 3);
  assert.deepEqual(st[0]!.parentRef, { group: '', kind: 'Service', name: 'reviews', port: 9080 });
  const invalid = routeParentStatuses(routeState(spec, [{ severity: 'error', source: 'k8s', kind: 'HTTPRoute', namespace: 'shop', name: 'r', field: 'spec.rules[0].timeouts.request', message: 'bad' }]), refs(['shop/reviews']));
  assert.deepEqual([invalid[0]!.conditions[0]!.status, invalid[0]!.conditions[0]!.reason, invalid[0]!.conditions[0]!.message], ['False', 'UnsupportedValue', 'error: k8s: HTTPRoute shop/r: spec.rules[0].timeouts.request: bad']);

  const other = { parentRef: { name: 'public-gw' }, controllerName: 'example.org/gateway', conditions: [{ type: 'Accepted', status: 'True' }] };
  const merged = mergeParents([other], st, '2026-01-01T00:00:00Z')!;
  assert.equal(merged.length, 3);
  assert.deepEqual(merged[0], other, 'another controller\'s entry is kept, first');
  // Stored as the API server returns it (keys sorted): nothing to write.
  const sorted = JSON.parse(JSON.stringify(merged, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v)));
  assert.equal(mergeParents(sorted, st, '2026-02-02T00:00:00Z'), undefined);
  // A condition that changes gets a new transition time; one that holds keeps its own.
  const fixed = routeParentStatuses(routeState(spec), refs(['shop/reviews', 'shop/reviews-v1', 'shop/missing', 'shop/ghost'], ['api.example.com']));
  const again = mergeParents(sorted, fixed, '2026-02-02T00:00:00Z') as { conditions: { type: string; status: string; lastTransitionTime: string }[] }[];
  assert.deepEqual(again[1]!.conditions.map((c) => [c.type, c.status, c.lastTransitionTime]), [['Accepted', 'True', '2026-01-01T00:00:00Z'], ['ResolvedRefs', 'True', '2026-02-02T00:00:00Z']]);
  // A route that loses its Service parents loses meshd's entries.
  assert.deepEqual(mergeParents(sorted, [], 'x'), [other]);
});

/**
 * The traffic kinds against a real kube-apiserver: a CRD missing at start-up does not block
 * meshd, is reported once and read once installed; `kubectl apply` of VirtualService,
 * DestinationRule, ServiceEntry, Sidecar, WorkloadEntry, HTTPRoute and GRPCRoute (at each
 * served version) reaches meshd's snapshot (`/debug/traffic`); the leader writes the Accepted
 * condition and Gateway API `status.parents` without a push; pods take their locality from
 * their node's topology labels or their own label; deploy/rbac.yaml grants what meshd reads.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { Kube } from '../helpers/kube.js';
import { REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import type { TrafficView } from '../../src/admin/traffic.js';
import { RESOURCES } from '../../src/k8s/source.js';
import { k8sDebug, meshdCluster, runningPod, settledPushes } from './setup.js';

let kube: Kube;
let meshd: RunningMeshd;
const NS = 'bookinfo';
const GRPC_CRD = 'grpcroutes.gateway.networking.k8s.io';

before(async () => {
  ({ kube, meshd } = await meshdCluster({ namespaces: [NS], skipCrds: [GRPC_CRD], env: { MESHD_K8S_BACKOFF_MAX_MS: '900', MESHD_K8S_DISCOVERY_MS: '500' } }));
});

after(async () => {
  await meshd?.stop();
  kube?.down();
});

const traffic = (): Promise<TrafficView> => meshd.adminJson<TrafficView>(`/debug/traffic?namespace=${NS}`);
const apply = (...docs: unknown[]): string => kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }));
const meta = (name: string): Record<string, unknown> => ({ name, namespace: NS });
const service = (name: string, app = name): unknown => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(name), spec: { selector: { app }, ports: [{ name: 'http', port: 9080 }] } });
const jsonpath = (kind: string, name: string, path: string): string => kube.kubectlOk(['-n', NS, 'get', kind, name, '-o', `jsonpath={${path}}`]);

test('a CRD missing at start-up: meshd starts, reports it once, and reads the kind once it is installed', async () => {
  const grpc = (await k8sDebug(meshd)).resources.find((r) => r.kind === 'GRPCRoute') as { missing?: boolean } | undefined;
  assert.equal(grpc?.missing, true, '/debug/k8s says GRPCRoute is not served');
  // The retry cycle is ~300 ms here: several cycles pass, one report.
  await new Promise((r) => setTimeout(r, 2500));
  const reports = meshd.logLines().filter((l) => l.msg === 'k8s: resource not served (its CRD is not installed): its objects are not read until it is; start-up does not wait for it');
  assert.deepEqual(reports.map((l) => l.kind), ['GRPCRoute']);
  assert.deepEqual(reports[0]!.tried, ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1alpha2']);

  const crd = YAML.parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'crds-networking.yaml'), 'utf8')).map((d) => d.toJS() as { metadata: { name: string } }).find((d) => d.metadata.name === GRPC_CRD);
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(crd));
  kube.kubectlOk(['wait', '--for=condition=Established', '--timeout=30s', `crd/${GRPC_CRD}`]);
  apply(service('grpc-echo'), {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: meta('echo'),
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'grpc-echo' }], rules: [{ matches: [{ method: { service: 'echo.Echo', method: 'Ping' } }], backendRefs: [{ name: 'grpc-echo', port: 9080 }] }] },
  });
  const t = await waitFor('the GRPCRoute in meshd\'s snapshot', async () => (await traffic()).routeSets.find((r) => r.meta.name === 'echo' && r.origin === 'GRPCRoute'), 20_000, 100);
  assert.deepEqual(t.hosts, ['grpc-echo.bookinfo.svc.cluster.local']);
  assert.ok(meshd.logLines().some((l) => l.msg === 'k8s: resource served now; reading it' && l.kind === 'GRPCRoute'));
});

test('kubectl apply of each traffic kind, at v1, v1beta1 and v1alpha3, reaches meshd\'s snapshot; updates and deletes follow', async () => {
  apply(
    service('reviews'), service('ratings'), service('ratings-v2', 'ratings'),
    {
      apiVersion: 'networking.istio.io/v1beta1', kind: 'VirtualService', metadata: meta('reviews'),
      spec: { hosts: ['reviews'], http: [{ match: [{ headers: { 'end-user': { exact: 'tester' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] }, { timeout: '3s', route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 90 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 10 }] }] },
    },
    { apiVersion: 'networking.istio.io/v1alpha3', kind: 'DestinationRule', metadata: meta('reviews'), spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: meta('api'), spec: { hosts: ['api.example.com'], ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }], location: 'MESH_EXTERNAL', resolution: 'DNS' } },
    { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: meta('default'), spec: { egress: [{ hosts: ['./*', 'istio-system/*'] }], outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } } },
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: meta('vm-1'), spec: { address: '10.9.0.1', labels: { app: 'reviews', version: 'v1' }, locality: 'eu-west/eu-west-1a', weight: 3 } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'HTTPRoute', metadata: meta('ratings'),
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'ratings', port: 9080 }], rules: [{ backendRefs: [{ name: 'ratings', port: 9080, weight: 80 }, { name: 'ratings-v2', port: 9080, weight: 20 }] }] },
    },
  );
  const t = await waitFor('every kind in /debug/traffic', async () => {
    const v = await traffic();
    return v.routeSets.length >= 3 && v.destinationRules.length && v.serviceEntries.length && v.sidecars.length && v.workloads.length ? v : undefined;
  }, 20_000, 100);
  const vs = t.routeSets.find((r) => r.origin === 'VirtualService')!;
  assert.deepEqual(vs.hosts, ['reviews.bookinfo.svc.cluster.local']);
  const weights = (r: typeof vs, i: number): unknown => {
    const a = r.http[i]!.action;
    return a.kind === 'route' ? a.destinations.map((d) => [d.destination.host.split('.')[0], d.destination.subset, d.weight]) : a.kind;
  };
  assert.deepEqual(weights(vs, 1), [['reviews', 'v1', 90], ['reviews', 'v2', 10]]);
  assert.equal(vs.http[1]!.timeoutMs, 3000);
  assert.deepEqual(t.destinationRules.map((d) => [d.host, d.subsets.map((s) => s.name)]), [['reviews.bookinfo.svc.cluster.local', ['v1', 'v2']]]);
  assert.deepEqual(t.serviceEntries.map((s) => [s.hosts, s.resolution]), [[['api.example.com'], 'DNS']]);
  assert.deepEqual(t.sidecars.map((s) => [s.egress[0]!.hosts.map((h) => `${h.namespace}/${h.host}`), s.outboundTrafficPolicy]), [[['bookinfo/*', 'istio-system/*'], 'REGISTRY_ONLY']]);
  assert.deepEqual(t.workloads, [{ namespace: NS, name: 'vm-1', address: '10.9.0.1', locality: { region: 'eu-west', zone: 'eu-west-1a' }, weight: 3 }]);
  const route = t.routeSets.find((r) => r.origin === 'HTTPRoute')!;
  assert.deepEqual([route.hosts, route.ports, weights(route, 0)], [['ratings.bookinfo.svc.cluster.local'], [9080], [['ratings', undefined, 80], ['ratings-v2', undefined, 20]]]);

  // An added subset, a VirtualService re-bound to gateways only (valid, nothing for the mesh), a delete.
  apply({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta('reviews'), spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }, { name: 'v3', labels: { version: 'v3' } }] } });
  kube.kubectlOk(['-n', NS, 'patch', 'virtualservice', 'reviews', '--type=merge', '-p', JSON.stringify({ spec: { gateways: ['istio-system/public'] } })]);
  kube.kubectlOk(['-n', NS, 'delete', 'serviceentry', 'api']);
  const t2 = await waitFor('the changes', async () => {
    const v = await traffic();
    return v.destinationRules[0]?.subsets.length === 3 && !v.routeSets.some((r) => r.origin === 'VirtualService') && v.serviceEntries.length === 0 ? v : undefined;
  }, 20_000, 100);
  assert.deepEqual(t2.destinationRules[0]!.subsets.map((s) => s.name), ['v1', 'v2', 'v3']);
  const diags = await meshd.adminJson<{ kind: string; name?: string; field: string; message: string }[]>('/debug/diagnostics');
  assert.ok(diags.some((d) => d.kind === 'VirtualService' && d.name === 'reviews' && d.field === 'spec.gateways' && /not applied to sidecars/.test(d.message)));
  kube.kubectlOk(['-n', NS, 'patch', 'virtualservice', 'reviews', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/gateways' }])]);
  await waitFor('the VirtualService back', async () => (await traffic()).routeSets.some((r) => r.origin === 'VirtualService'), 20_000, 100);
});

test('status: Accepted on the Istio kinds (False with the diagnostic, last good kept); status.parents on HTTPRoute; no push', async () => {
  for (const [kind, name] of [['virtualservice', 'reviews'], ['destinationrule', 'reviews'], ['sidecar', 'default'], ['workloadentry', 'vm-1']] as const) {
    await waitFor(`${kind} ${name} Accepted`, () => jsonpath(kind, name, '.status.conditions[?(@.type=="Accepted")].status') === 'True' || undefined, 20_000, 200);
  }
  // No webhook in this cluster: an invalid update is stored, refused by meshd, and the last good version stays.
  kube.kubectlOk(['-n', NS, 'patch', 'destinationrule', 'reviews', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/subsets/2/labels' }])]);
  const msg = await waitFor('Accepted False', () => (jsonpath('destinationrule', 'reviews', '.status.conditions[?(@.type=="Accepted")].status') === 'False' ? jsonpath('destinationrule', 'reviews', '.status.conditions[?(@.type=="Accepted")].message') : undefined), 20_000, 200);
  assert.equal(msg, 'error: k8s: DestinationRule bookinfo/reviews: spec.subsets[2].labels: a subset must select at least one label');
  assert.deepEqual((await traffic()).destinationRules[0]!.subsets.map((s) => s.name), ['v1', 'v2', 'v3'], 'last good version in force');

  const parents = async (name: string): Promise<{ controllerName: string; parentRef: { name: string }; conditions: { type: string; status: string; reason: string; message: string }[] }[]> =>
    waitFor(`${name} status.parents`, () => {
      const out = jsonpath('httproute', name, '.status.parents');
      return out ? JSON.parse(out) : undefined;
    }, 20_000, 200);
  const mine = (await parents('ratings')).filter((p) => p.controllerName === 'meshd.dev/mesh');
  assert.deepEqual(mine.map((p) => [p.parentRef.name, p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)]), [['ratings', ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']]]);

  // Another controller's entry survives meshd's writes; a missing backend and a missing parent are named.
  const other = { parentRef: { name: 'edge', namespace: 'infra' }, controllerName: 'example.org/gateway', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
  await kube.client.json('PATCH', `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/ratings/status`, { body: { status: { parents: [other, ...mine] } }, contentType: 'application/merge-patch+json' });
  apply({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: meta('ratings'),
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'ratings', port: 9080 }, { group: '', kind: 'Service', name: 'ghost' }], rules: [{ backendRefs: [{ name: 'ratings', port: 9080 }, { name: 'ratings-v3', port: 9080 }] }] },
  });
  const after2 = await waitFor('route status rewritten', async () => {
    const p = await parents('ratings');
    return p.filter((x) => x.controllerName === 'meshd.dev/mesh').length === 2 ? p : undefined;
  }, 20_000, 200);
  assert.deepEqual(after2[0], other, 'the other controller\'s entry is kept');
  assert.deepEqual(after2.slice(1).map((p) => [p.parentRef.name, p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)]), [
    ['ratings', ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']],
    ['ghost', ['Accepted=False/NoMatchingParent', 'ResolvedRefs=False/BackendNotFound']],
  ]);
  assert.equal(after2[1]!.conditions[1]!.message, 'spec.rules[0].backendRefs[1]: Service bookinfo/ratings-v3 not found');

  // Status writes and resyncs are not pushes.
  const p0 = await settledPushes(meshd);
  await new Promise((r) => setTimeout(r, 1500)); // several leader passes (MESHD_LEADER_RESYNC_MS=500)
  assert.equal(await settledPushes(meshd), p0);
});

test('pods take their locality from their node\'s topology labels, or from their own istio-locality label; node heartbeats do not push', async () => {
  const node = (name: string, labels: Record<string, string>): unknown => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
  apply(
    node('node-a', { 'topology.kubernetes.io/region': 'eu-west', 'topology.kubernetes.io/zone': 'eu-west-1a', 'topology.istio.io/subzone': 'rack1' }),
    node('node-b', { 'topology.kubernetes.io/region': 'eu-west', 'topology.kubernetes.io/zone': 'eu-west-1b' }),
  );
  await runningPod(kube, { namespace: NS, name: 'reviews-a', ip: '10.8.0.1', labels: { app: 'reviews', version: 'v1' }, serviceAccount: 'default', nodeName: 'node-a' });
  await runningPod(kube, { namespace: NS, name: 'reviews-b', ip: '10.8.0.2', labels: { app: 'reviews', version: 'v2', 'istio-locality': 'us-east.us-east-1c' }, serviceAccount: 'default', nodeName: 'node-b' });
  await runningPod(kube, { namespace: NS, name: 'reviews-c', ip: '10.8.0.3', labels: { app: 'reviews', version: 'v2' }, serviceAccount: 'default', nodeName: 'node-unknown' });
  const loc = async (): Promise<Record<string, unknown>> => Object.fromEntries((await traffic()).workloads.filter((w) => w.name.startsWith('reviews-')).map((w) => [w.name, w.locality]));
  const want = { 'reviews-a': { region: 'eu-west', zone: 'eu-west-1a', subZone: 'rack1' }, 'reviews-b': { region: 'us-east', zone: 'us-east-1c' } };
  await waitFor('pod localities', async () => JSON.stringify(await loc()) === JSON.stringify(want) || undefined, 20_000, 100);

  const p0 = await settledPushes(meshd);
  await kube.client.json('PATCH', '/api/v1/nodes/node-a/status', { body: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'heartbeat', lastHeartbeatTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } }, contentType: 'application/merge-patch+json' });
  kube.kubectlOk(['annotate', 'node', 'node-a', 'touched=1']);
  assert.equal(await settledPushes(meshd), p0, 'a node heartbeat or annotation changes nothing');

  kube.kubectlOk(['label', 'node', 'node-a', '--overwrite', 'topology.kubernetes.io/zone=eu-west-1c']);
  await waitFor('the new zone', async () => ((await loc())['reviews-a'] as { zone?: string } | undefined)?.zone === 'eu-west-1c' || undefined, 20_000, 100);
});

test('deploy/rbac.yaml grants meshd\'s service account what it watches, the status it writes and the kinds it only reports', async () => {
  kube.kubectlOk(['apply', '-f', join(REPO_ROOT, 'deploy', 'rbac.yaml')]);
  // SubjectAccessReviews ask the API server's own RBAC authorizer.
  const can = async (verb: string, group: string, resource: string, subresource = '', namespace = ''): Promise<boolean> => {
    const r = await kube.client.json('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { body: {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user: 'system:serviceaccount:istio-system:meshd', groups: ['system:serviceaccounts', 'system:serviceaccounts:istio-system', 'system:authenticated'], resourceAttributes: { verb, group, resource, subresource, namespace } },
    } }) as { status: { allowed: boolean } };
    return r.status.allowed;
  };
  const denied: string[] = [];
  // /apis/<group>/<v>/<plural>, /api/v1/<plural>, or a namespaced list (/api/v1/namespaces/{root}/<plural>, asked in the root namespace).
  const resources = new Map(RESOURCES.flatMap((r) => r.paths.map((p) => {
    const m = /^\/api(?:s\/([^/]+))?\/v[^/]+\/(?:namespaces\/([^/]+)\/)?([^/]+)$/.exec(p.path);
    assert.ok(m, `a resource path the test understands: ${p.path}`);
    const [, group = '', ns = '', plural] = m;
    return [`${plural}${group ? `.${group}` : ''}${ns ? ` in ${ns}` : ''}`, [group, plural!, ns.replace('{root}', 'istio-system')]] as const;
  })));
  for (const [name, [group, plural, ns]] of resources) {
    for (const verb of ['list', 'watch']) if (!await can(verb, group, plural, '', ns)) denied.push(`${verb} ${name}`);
    if (/^(security|networking)\.istio\.io$|^gateway\.networking\.k8s\.io$/.test(group) && !await can('patch', group, plural, 'status')) denied.push(`patch ${name}/status`);
  }
  for (const [group, plural] of [['networking.istio.io', 'envoyfilters'], ['extensions.istio.io', 'wasmplugins'], ['gateway.networking.k8s.io', 'gateways'], ['gateway.networking.k8s.io', 'tcproutes']] as const) {
    if (!await can('list', group, plural)) denied.push(`list ${plural}.${group}`);
  }
  assert.deepEqual(denied, []);
  assert.equal(await can('patch', '', 'services'), false, 'least privilege: no writes to what it only reads');
  assert.equal(await can('patch', 'networking.istio.io', 'virtualservices'), false);
});

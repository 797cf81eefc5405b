/**
 * The traffic kinds through a real kube-apiserver with meshd's validating webhook registered:
 * every valid object of the golden inputs is accepted unchanged by our CRDs and the webhook;
 * `kubectl apply` of each bad input of the file store's table is refused with the file store's
 * text and the stored object stays the good one; a route attached only to Gateways is never
 * sent to meshd. Objects of kinds meshd does not read (their CRDs installed by the test), and
 * of a kind it reads served only at a version it does not, get one diagnostic each, logged once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import type { Kube } from '../helpers/kube.js';
import { REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import { TRAFFIC_BAD_CASES } from '../helpers/traffic-bad-cases.js';
import type { Diagnostic } from '../../src/model/types.js';
import { formatDiagnostic } from '../../src/model/types.js';
import { k8sDebug, meshdCluster } from './setup.js';

let kube: Kube;
let meshd: RunningMeshd;

before(async () => {
  ({ kube, meshd } = await meshdCluster({ namespaces: ['shop', 'egress', 'mesh'], webhooks: true, env: { MESHD_K8S_BACKOFF_MAX_MS: '900', MESHD_K8S_DISCOVERY_MS: '500' } }));
});

after(async () => {
  await meshd?.stop();
  kube?.down();
});

const diagnostics = (): Promise<string[]> => meshd.adminJson<Diagnostic[]>('/debug/diagnostics').then((l) => l.map(formatDiagnostic));

test('every valid traffic object of the golden inputs is accepted unchanged by our CRDs and meshd\'s webhook (server dry run)', () => {
  const root = join(REPO_ROOT, 'test', 'golden', 'traffic-model');
  const docs = readdirSync(root).filter((c) => c !== 'invalid-objects' && c !== 'unknown-kinds')
    .flatMap((c) => YAML.parseAllDocuments(readFileSync(join(root, c, 'in.yaml'), 'utf8')).map((d) => ({ c, doc: d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; spec: unknown } })))
    .filter(({ doc }) => doc && doc.kind !== 'Service' && doc.kind !== 'Namespace');
  assert.ok(docs.length > 50, `${docs.length} objects`);
  for (const ns of new Set(docs.map(({ doc }) => doc.metadata.namespace ?? 'default'))) kube.kubectl(['create', 'namespace', ns]);
  const r = kube.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs.map(({ doc }) => doc) }));
  assert.equal(r.code, 0, r.stderr);
  // meshd's warnings reach kubectl as admission warnings; nothing else is said.
  assert.deepEqual(r.stderr.trim().split('\n').filter((l) => l && !l.startsWith('Warning: warning: k8s: ')), []);
  assert.ok(r.stderr.includes('Warning: warning: k8s: Sidecar dev/open: spec.outboundTrafficPolicy.egressProxy: not supported by meshd; ignored'), r.stderr);
  const out = (JSON.parse(r.stdout) as { items: { spec: unknown }[] }).items;
  assert.equal(out.length, docs.length);
  const changed = docs.filter(({ doc }, i) => !isDeepStrictEqual(out[i]!.spec, doc.spec)).map(({ c, doc }) => `${c} ${doc.kind} ${doc.metadata.name}`);
  assert.deepEqual(changed, [], 'the API server changed (pruned) nothing');
});

test('kubectl apply of each bad input of the file store\'s table is refused with the file store\'s text; the good version stays stored', async () => {
  type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: unknown };
  // The good versions (a few objects the cases share) are stored first; a refused update leaves them as they are.
  const goods = [...new Set(TRAFFIC_BAD_CASES.map((c) => c.good))].map((t) => YAML.parse(t) as Obj);
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: goods }));
  const problems: string[] = [];
  for (const c of TRAFFIC_BAD_CASES) {
    const good = YAML.parse(c.good) as Obj;
    const bad = structuredClone(good);
    c.edit(bad);
    const r = kube.kubectl(['apply', '-f', '-'], JSON.stringify(bad));
    if (r.code === 0) { problems.push(`${c.name}: accepted`); continue; }
    if (bad.apiVersion !== good.apiVersion) {
      // A version the CRD does not serve never reaches the webhook: the API server refuses it.
      if (!/no matches for kind "VirtualService" in version "networking\.istio\.io\/v2"/.test(r.stderr)) problems.push(`${c.name}: ${r.stderr}`);
    } else if (!r.stderr.includes('denied the request') || !r.stderr.includes(`error: k8s: ${c.expect}`)) {
      problems.push(`${c.name}: stderr lacks "error: k8s: ${c.expect}":\n${r.stderr}`);
    }
    const plural = { VirtualService: 'virtualservices', DestinationRule: 'destinationrules', ServiceEntry: 'serviceentries', Sidecar: 'sidecars', HTTPRoute: 'httproutes' }[good.kind];
    const stored = await kube.client.json('GET', `/apis/${good.apiVersion}/namespaces/${good.metadata.namespace}/${plural}/${good.metadata.name}`) as { spec: unknown };
    if (!isDeepStrictEqual(stored.spec, good.spec)) problems.push(`${c.name}: the stored object changed`);
  }
  assert.deepEqual(problems, []);
  // What the webhook refused never reached meshd: no error diagnostics for these objects.
  assert.deepEqual((await diagnostics()).filter((l) => l.startsWith('error:')), []);
});

test('a route attached only to Gateways is never sent to meshd\'s webhook (matchConditions) and is not judged by it', async () => {
  const route = {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'edge', namespace: 'mesh' },
    spec: { parentRefs: [{ name: 'public', namespace: 'infra' }], rules: [{ backendRef: [{ name: 'web', port: 80 }], filters: [{ type: 'Nope' }] }] },
  };
  const calls = (await k8sDebug(meshd)).webhookCalls;
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(route));
  assert.equal((await k8sDebug(meshd)).webhookCalls, calls, 'the webhook was not called');
  const line = 'warning: k8s: HTTPRoute mesh/edge: spec.parentRefs[0]: Gateway parent infra/public is not supported by meshd (it runs no gateways); ignored';
  await waitFor('the route\'s warning', async () => (await diagnostics()).includes(line) || undefined, 20_000, 100);
  assert.deepEqual((await diagnostics()).filter((l) => l.includes('mesh/edge')), [line], 'only the warning: its rules are not meshd\'s to judge');
});

/** A minimal CRD (namespaced, one version, anything in spec) for a kind meshd does not read. */
function crd(group: string, kind: string, plural: string, versions: readonly string[]): unknown {
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}`, ...(group.endsWith('.k8s.io') ? { annotations: { 'api-approved.kubernetes.io': 'unapproved, test' } } : {}) },
    spec: {
      group, scope: 'Namespaced', names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: versions.map((name, i) => ({ name, served: true, storage: i === 0, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } })),
    },
  };
}

test('objects of kinds meshd does not read get one diagnostic each (kind, apiVersion, object), logged once; a read kind served only at an unread version too', async () => {
  const crds = [
    crd('networking.istio.io', 'EnvoyFilter', 'envoyfilters', ['v1alpha3']),
    crd('extensions.istio.io', 'WasmPlugin', 'wasmplugins', ['v1alpha1']),
    crd('gateway.networking.k8s.io', 'Gateway', 'gateways', ['v1', 'v1beta1']),
    crd('gateway.networking.k8s.io', 'TCPRoute', 'tcproutes', ['v1alpha2']),
  ] as { metadata: { name: string } }[];
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }));
  kube.kubectlOk(['wait', '--for=condition=Established', '--timeout=30s', ...crds.map((c) => `crd/${c.metadata.name}`)]);
  const obj = (apiVersion: string, kind: string, name: string): unknown => ({ apiVersion, kind, metadata: { name, namespace: 'mesh' }, spec: {} });
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    obj('networking.istio.io/v1alpha3', 'EnvoyFilter', 'lua'), obj('extensions.istio.io/v1alpha1', 'WasmPlugin', 'auth'),
    obj('gateway.networking.k8s.io/v1', 'Gateway', 'public'), obj('gateway.networking.k8s.io/v1alpha2', 'TCPRoute', 'db'),
  ] }));
  const want = [
    'warning: k8s: EnvoyFilter mesh/lua: kind: networking.istio.io/v1alpha3 EnvoyFilter is not a kind this mesh reads; ignored',
    'warning: k8s: WasmPlugin mesh/auth: kind: extensions.istio.io/v1alpha1 WasmPlugin is not a kind this mesh reads; ignored',
    'warning: k8s: Gateway mesh/public: kind: gateway.networking.k8s.io/v1 Gateway is not a kind this mesh reads; ignored',
    'warning: k8s: TCPRoute mesh/db: kind: gateway.networking.k8s.io/v1alpha2 TCPRoute is not a kind this mesh reads; ignored',
  ];
  await waitFor('a diagnostic per object', async () => { const d = await diagnostics(); return want.every((l) => d.includes(l)) || undefined; }, 20_000, 100);

  // A kind meshd reads, served only at a version it does not read: its objects are named too.
  const weighted = async (): Promise<string[]> => (await meshd.adminJson<{ workloads: { name: string }[] }>('/debug/traffic?namespace=mesh')).workloads.map((w) => w.name);
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'vm-0', namespace: 'mesh' }, spec: { address: '10.7.0.1', weight: 2 } }));
  await waitFor('the WorkloadEntry read', async () => (await weighted()).includes('vm-0') || undefined, 20_000, 100);
  kube.kubectlOk(['delete', 'crd', 'workloadentries.networking.istio.io']);
  await waitFor('a deleted CRD takes its objects out of the snapshot', async () => !(await weighted()).includes('vm-0') || undefined, 20_000, 100);
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(crd('networking.istio.io', 'WorkloadEntry', 'workloadentries', ['v2alpha1'])));
  kube.kubectlOk(['wait', '--for=condition=Established', '--timeout=30s', 'crd/workloadentries.networking.istio.io']);
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(obj('networking.istio.io/v2alpha1', 'WorkloadEntry', 'vm-2')));
  const unread = 'error: k8s: WorkloadEntry mesh/vm-2: apiVersion: networking.istio.io/v2alpha1 is not an apiVersion this mesh reads for WorkloadEntry (use networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3)';
  await waitFor('the unread version named', async () => (await diagnostics()).includes(unread) || undefined, 20_000, 100);
  const wk = (await k8sDebug(meshd)).resources.find((r) => r.kind === 'WorkloadEntry' && !(r as { unread?: boolean }).unread) as { missing?: boolean } | undefined;
  assert.equal(wk?.missing, true, 'the v1/v1beta1/v1alpha3 reflector knows no version is served');

  // Removing a CRD removes its objects' diagnostics; each diagnostic was logged once, not on every snapshot.
  kube.kubectlOk(['delete', 'crd', 'envoyfilters.networking.istio.io']);
  await waitFor('the EnvoyFilter diagnostic gone', async () => !(await diagnostics()).includes(want[0]!) || undefined, 20_000, 100);
  const generation = async (): Promise<number> => (await meshd.adminJson<{ generation: number }>('/debug/traffic')).generation;
  const g0 = await generation();
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'nudge', namespace: 'mesh' }, spec: { ports: [{ name: 'http', port: 80 }] } }));
  await waitFor('another snapshot', async () => (await generation()) > g0 || undefined, 20_000, 100);
  for (const line of [...want.slice(1), unread]) {
    const n = meshd.logLines().filter((l) => l.msg === 'config' && formatDiagnostic(l.diagnostic as Diagnostic) === line).length;
    assert.equal(n, 1, `${line} logged ${n} times`);
  }
});

/**
 * The admission webhooks called by a real kube-apiserver (registered with `url:` on loopback and
 * meshd's root as caBundle): a pod created in a labelled namespace comes back injected, the
 * same as `meshctl inject` offline; pods opting out and unlabelled namespaces are untouched; an
 * invalid AuthorizationPolicy is refused with the file store's diagnostic text.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { Kube } from '../helpers/kube.js';
import { REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import { parseObject } from '../../src/config/parse.js';
import { formatDiagnostic } from '../../src/model/types.js';
import { k8sDebug, meshdCluster } from './setup.js';

let kube: Kube;
let meshd: RunningMeshd;

before(async () => {
  ({ kube, meshd } = await meshdCluster({
    namespaces: [['shop', { 'meshd-injection': 'enabled' }, ['default', 'web']], ['legacy', { 'istio-injection': 'enabled' }, ['default', 'web']], ['plain', {}, ['default', 'web']]],
    webhooks: true,
  }));
});

after(async () => {
  await meshd?.stop();
  kube?.down();
});

const pod = (ns: string, name: string, labels: Record<string, string> = {}): Record<string, unknown> => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: 'web', ...labels } },
  spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'example/web:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
});

interface PodJson { metadata: { annotations?: Record<string, string>; labels?: Record<string, string> }; spec: Record<string, unknown> }

/** The parts injection touches, minus what the ServiceAccount admission plugin adds (random names). */
function injectedParts(p: PodJson): unknown {
  const noApiAccess = (list: unknown): unknown => Array.isArray(list)
    ? list.filter((v: { name?: string }) => !v.name?.startsWith('kube-api-access-')).map((c: Record<string, unknown>) => Array.isArray(c.volumeMounts)
      ? { ...c, volumeMounts: c.volumeMounts.filter((m: { name: string }) => !m.name.startsWith('kube-api-access-')) } : c)
    : list;
  return {
    initContainers: noApiAccess(p.spec.initContainers), containers: noApiAccess(p.spec.containers), volumes: noApiAccess(p.spec.volumes),
    status: p.metadata.annotations?.['sidecar.istio.io/status'], tlsMode: p.metadata.labels?.['security.istio.io/tlsMode'],
  };
}

test('a pod created in a labelled namespace comes back injected; meshctl inject gives the same spec offline', async () => {
  const created = JSON.parse(kube.kubectlOk(['create', '-o', 'json', '-f', '-'], JSON.stringify(pod('shop', 'web-1')))) as PodJson;
  const names = (l: unknown): string[] => (l as { name: string }[]).map((c) => c.name);
  // Native sidecars (the default): the agent and the proxy are init containers with restartPolicy Always.
  assert.deepEqual(names(created.spec.containers), ['app']);
  assert.deepEqual(names(created.spec.initContainers), ['meshd-init', 'meshd-bootstrap', 'meshd-agent', 'istio-proxy']);
  assert.deepEqual((created.spec.initContainers as { restartPolicy?: string }[]).map((c) => c.restartPolicy ?? null), [null, null, 'Always', 'Always']);
  assert.ok(names(created.spec.volumes).includes('istio-token'));
  const token = (created.spec.volumes as { name: string; projected?: { sources: { serviceAccountToken?: { audience: string } }[] } }[]).find((v) => v.name === 'istio-token');
  assert.equal(token?.projected?.sources[0]?.serviceAccountToken?.audience, 'istio-ca');
  const init = (created.spec.initContainers as { name: string; command: string[] }[])[0]!;
  assert.match(init.command.join(' '), /REDIRECT --to-ports 15001/);
  assert.match(init.command.join(' '), /--uid-owner 1337/);

  // Offline: meshctl inject on the same pod, then let the API server default it (dry run in an unlabelled namespace).
  const offline = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'inject', '-f', '-'], { input: YAML.stringify(pod('plain', 'web-1')), encoding: 'utf8' });
  assert.equal(offline.status, 0, offline.stderr);
  const dry = JSON.parse(kube.kubectlOk(['create', '--dry-run=server', '-o', 'json', '-f', '-'], offline.stdout)) as PodJson;
  assert.deepEqual(injectedParts(dry), injectedParts(created));
});

test('istio-injection=enabled also injects; sidecar.istio.io/inject=false and unlabelled namespaces do not', () => {
  const legacy = JSON.parse(kube.kubectlOk(['create', '-o', 'json', '-f', '-'], JSON.stringify(pod('legacy', 'web-2')))) as PodJson;
  assert.ok((legacy.spec.initContainers as { name: string }[]).some((c) => c.name === 'istio-proxy'));
  const optOut = JSON.parse(kube.kubectlOk(['create', '-o', 'json', '-f', '-'], JSON.stringify(pod('shop', 'web-3', { 'sidecar.istio.io/inject': 'false' })))) as PodJson;
  assert.deepEqual((optOut.spec.containers as { name: string }[]).map((c) => c.name), ['app']);
  const plain = JSON.parse(kube.kubectlOk(['create', '-o', 'json', '-f', '-'], JSON.stringify(pod('plain', 'web-4')))) as PodJson;
  assert.deepEqual((plain.spec.containers as { name: string }[]).map((c) => c.name), ['app']);
});

test('kubectl apply of an invalid AuthorizationPolicy is refused with the file store\'s diagnostic', () => {
  const bad = {
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'bad', namespace: 'shop' },
    spec: { action: 'MAYBE', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
  };
  const r = kube.kubectl(['apply', '-f', '-'], JSON.stringify(bad));
  assert.notEqual(r.code, 0, 'refused');
  const p = parseObject(bad, { source: 'k8s', defaultNamespace: 'shop' });
  const expected = p.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
  assert.ok(expected.length > 0);
  for (const line of expected) assert.ok(r.stderr.includes(line), `stderr has ${JSON.stringify(line)}:\n${r.stderr}`);
  assert.match(r.stderr, /denied the request/);
  assert.equal(kube.kubectl(['-n', 'shop', 'get', 'authorizationpolicy', 'bad']).code, 1, 'not stored');
  // A valid one goes through (the webhook only refuses what the parser refuses).
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ ...bad, spec: { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] } }));
});

test('RequestAuthentication: the webhook refuses an invalid one naming the field; a valid one is watched and gets Accepted', async () => {
  const bad = {
    apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'jwt-bad', namespace: 'shop' },
    spec: { jwtRules: [{ issuer: 'https://issuer.test', jwks: '{"keys":[]}' }] },
  };
  const r = kube.kubectl(['apply', '-f', '-'], JSON.stringify(bad));
  assert.notEqual(r.code, 0, 'refused');
  assert.match(r.stderr, /spec\.jwtRules\[0\]\.jwks: must be a JSON Web Key Set/);
  const jwks = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'IcxJEvawWw5G_k7MbxSDbQoKIQhgPXETXIO4ZMhh5z4', y: 'vzldYLst84LbdEOFT_YMa5BPbbyIgz0rvZbY9sUNwAs' }] });
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ ...bad, metadata: { name: 'jwt', namespace: 'shop' }, spec: { jwtRules: [{ issuer: 'https://issuer.test', jwks }] } }));
  await waitFor('RequestAuthentication watched', async () => {
    const d = await k8sDebug(meshd);
    const ra = d.resources.find((x) => x.kind === 'RequestAuthentication');
    return ra && ra.synced && ra.objects >= 1 ? true : undefined;
  }, 15_000, 200);
  await waitFor('Accepted status on the RequestAuthentication', () =>
    (kube.kubectlOk(['-n', 'shop', 'get', 'requestauthentication', 'jwt', '-o', 'jsonpath={.status.conditions[0].status}']) === 'True' ? true : undefined), 15_000, 200);
});

test('malformed webhook requests get HTTP 400 with a message; meshd keeps serving', async () => {
  const port = (await k8sDebug(meshd)).webhookPort;
  const post = (path: string, body: string): { code: number; out: string } => {
    const r = spawnSync('curl', ['-sk', '-o', '-', '-w', '\n%{http_code}', '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', body, `https://127.0.0.1:${port}${path}`], { encoding: 'utf8' });
    const i = r.stdout.lastIndexOf('\n');
    return { code: Number(r.stdout.slice(i + 1)), out: r.stdout.slice(0, i) };
  };
  for (const [path, body, msg] of [
    ['/inject', 'not json', /not JSON/],
    ['/inject', '{"apiVersion":"v1","kind":"Pod"}', /expected apiVersion admission\.k8s\.io\/v1/],
    ['/validate', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}', /request\.uid is required/],
  ] as const) {
    const r = post(path, body);
    assert.equal(r.code, 400, r.out);
    assert.match(r.out, msg);
  }
  // A well-formed review with an odd object is allowed unchanged, not an error.
  const odd = post('/inject', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', kind: { kind: 'Pod' }, operation: 'CREATE', object: { spec: 'weird' } } }));
  assert.equal(odd.code, 200);
  assert.equal((JSON.parse(odd.out) as { response: { allowed: boolean } }).response.allowed, true);
  assert.equal((await meshd.admin('/ready')).status, 200);
});

test('a root rotation step through meshd reaches the root-cert ConfigMaps and the webhooks\' caBundle', async () => {
  const count = (pem: string): number => (pem.match(/BEGIN CERTIFICATE/g) ?? []).length;
  const configMapRoots = (): number => count(kube.kubectlOk(['get', 'configmap', 'istio-ca-root-cert', '-n', 'shop', '-o', 'jsonpath={.data.root-cert\\.pem}']));
  const caBundleRoots = (): number => count(Buffer.from(kube.kubectlOk(['get', 'mutatingwebhookconfiguration', 'meshd-sidecar-injector', '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']), 'base64').toString('utf8'));
  assert.equal(configMapRoots(), 1);
  const token = readFileSync(join(meshd.stateDir, 'admin-token'), 'utf8').trim();
  const r = await fetch(`http://127.0.0.1:${meshd.adminPort}/ca/rotate-root?step=introduce`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 200, await r.text());
  // meshd's own CA instance is the one the leader publishes from: both roots appear.
  await waitFor('two roots in istio-ca-root-cert', () => (configMapRoots() === 2 ? true : undefined), 20_000, 200);
  await waitFor('two roots in the webhook caBundle', () => (caBundleRoots() === 2 ? true : undefined), 20_000, 200);
});

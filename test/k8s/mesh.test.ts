/**
 * meshd against a real kube-apiserver: the seed's policies applied with kubectl reach a real
 * Envoy (TLS + RBAC, apply→ACK time printed); Services and EndpointSlices become clusters and
 * endpoints; `kubectl create token` gets a certificate for its own service account only; policy
 * status is written without a push; a burst of 500 pod changes is one push.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { kubeUp, type Kube } from '../helpers/kube.js';
import { REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { startEnvoy, stopAllEnvoys, type RunningEnvoy } from '../helpers/envoy.js';
import { waitFor } from '../helpers/ports.js';
import { renderBootstrap } from '../../src/bootstrap/render.js';
import { caServiceDefinition, type IstioCertificateResponse } from '../../src/ca/ca-proto.js';
import { createCsr, csrToPem } from '../../src/ca/csr.js';
import { generateP256, p256PrivateKeyObject } from '../../src/ca/keys.js';
import { tokenReviewer } from '../../src/k8s/token-review.js';
import { installCrds, k8sDebug, namespace, runningPod, settledPushes, startK8sMeshd } from './setup.js';

let kube: Kube;
let meshd: RunningMeshd;
let envoy: RunningEnvoy;
const NS = 'production';

before(async () => {
  kube = await kubeUp();
  installCrds(kube);
  namespace(kube, 'istio-system', {}, []);
  namespace(kube, NS, {}, ['default', 'frontend', 'backend']);
  // meshd's default debounce (100 ms quiet, 1 s ceiling), so apply→ACK is what users get.
  meshd = await startK8sMeshd(kube, { args: ['--debounce-quiet', '100ms', '--debounce-max', '1s'] });
});

after(async () => {
  await stopAllEnvoys();
  await meshd?.stop();
  kube?.down();
});

async function dumpText(e: RunningEnvoy): Promise<string> {
  return JSON.stringify(await (await e.admin('/config_dump?include_eds')).json());
}

test('a backend pod and its Service: a real Envoy authenticated by a service-account token gets its config', async () => {
  kube.kubectlOk(['-n', NS, 'apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'backend', namespace: NS },
    spec: { selector: { app: 'backend' }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] },
  }));
  await runningPod(kube, {
    namespace: NS, name: 'backend-0', ip: '127.0.77.12', labels: { app: 'backend' }, serviceAccount: 'backend', ports: { http: 18080 },
    annotations: { 'meshd.dev/app-address': '127.0.78.12', 'meshd.dev/outbound-address': '127.0.79.12' },
  });
  const token = kube.kubectlOk(['-n', NS, 'create', 'token', 'backend', '--audience', 'istio-ca', '--duration', '1h']).trim();
  envoy = await startEnvoy('k8s-backend', renderBootstrap({
    namespace: NS, workload: 'backend-0', serviceAccount: 'backend', ip: '127.0.77.12', meshd: `127.0.0.1:${meshd.xdsPort}`, token, labels: { app: 'backend' },
  }));
  await waitFor('Envoy to get the backend cluster', async () => (await dumpText(envoy)).includes('outbound|8080||backend.production.svc.cluster.local'), 20_000, 100);
  const dump = await dumpText(envoy);
  assert.match(dump, /127\.0\.77\.12/, 'the pod is an endpoint of its Service');
  assert.match(dump, /spiffe:\/\/cluster\.local\/ns\/production\/sa\/backend/, 'SDS secret for the token\'s service account');
});

test('kubectl apply of the seed\'s YAML: Envoy ACKs the STRICT mTLS and RBAC config (apply→ACK time)', async () => {
  const before = (await k8sDebug(meshd)).pushes;
  const t0 = performance.now();
  kube.kubectlOk(['apply', '-f', join(REPO_ROOT, 'examples', 'mesh', '30-security.yaml')]);
  const tApply = performance.now();
  await waitFor('RBAC of backend-access in Envoy', async () => (await dumpText(envoy)).includes('ns[production]-policy[backend-access]-rule[0]'), 20_000, 20);
  const tAck = performance.now();
  const dump = await dumpText(envoy);
  assert.match(dump, /require_client_certificate/, 'STRICT: inbound TLS requires a client certificate');
  assert.match(dump, /production\/sa\/frontend/, 'the principal of the rule');
  // The listener shows up in the dump only once Envoy accepted it; no rejection was recorded.
  const syncz = await meshd.adminJson<{ rejections: unknown[] }>('/debug/syncz');
  assert.deepEqual(syncz.rejections, []);
  console.log(`apply→ACK: ${Math.round(tAck - t0)} ms (kubectl apply itself ${Math.round(tApply - t0)} ms, debounce quiet 100 ms)`);
  assert.ok((await k8sDebug(meshd)).pushes > before);
});

test('policy status: Accepted condition written by the leader without another push', async () => {
  await waitFor('status on the seed policies', () => {
    const out = kube.kubectlOk(['-n', NS, 'get', 'authorizationpolicy', 'backend-access', '-o', 'jsonpath={.status.conditions[0].status}']);
    return out === 'True' ? true : undefined;
  }, 15_000, 200);
  const p0 = await settledPushes(meshd);
  // Status writes (and any further status-only update) change resourceVersion but not content.
  await kube.client.json('PATCH', `/apis/security.istio.io/v1/namespaces/${NS}/authorizationpolicies/backend-access/status`, {
    body: { status: { conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'touched by test' }] } }, contentType: 'application/merge-patch+json',
  });
  kube.kubectlOk(['-n', NS, 'annotate', 'serviceaccount', 'frontend', 'touched=1']);
  assert.equal(await settledPushes(meshd), p0, 'status-only and irrelevant updates do not push');
});

test('Services and EndpointSlices created with kubectl become clusters and endpoints', async () => {
  kube.kubectlOk(['-n', NS, 'apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'legacy-db', namespace: NS }, spec: { ports: [{ name: 'tcp-pg', port: 5432 }] } },
      {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: 'legacy-db-1', namespace: NS, labels: { 'kubernetes.io/service-name': 'legacy-db' } },
        addressType: 'IPv4', ports: [{ name: 'tcp-pg', port: 5432, protocol: 'TCP' }],
        endpoints: [{ addresses: ['10.1.2.3'], conditions: { ready: true } }, { addresses: ['10.1.2.4'], conditions: { ready: false } }],
      },
    ],
  }));
  await waitFor('legacy-db cluster and endpoint', async () => {
    const d = await dumpText(envoy);
    return d.includes('outbound|5432||legacy-db.production.svc.cluster.local') && d.includes('10.1.2.3');
  }, 20_000, 100);
  assert.doesNotMatch(await dumpText(envoy), /10\.1\.2\.4/, 'a not-ready endpoint is not sent');
  kube.kubectlOk(['-n', NS, 'delete', 'endpointslice', 'legacy-db-1']);
  await waitFor('endpoint removed', async () => !(await dumpText(envoy)).includes('10.1.2.3'), 20_000, 100);
});

function requestCert(port: number, token: string, spiffe: string): Promise<IstioCertificateResponse> {
  const def = caServiceDefinition().CreateCertificate;
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const key = generateP256();
  const csr = csrToPem(createCsr(p256PrivateKeyObject(key), key.spki, { uris: [spiffe] }));
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { csr, validity_duration: 3600 }, md, (err: ServiceError | null, res?: IstioCertificateResponse) => {
      client.close();
      if (err || !res) reject(err ?? new Error('no response')); else resolve(res);
    });
  });
}

test('kubectl create token: SA frontend gets a frontend certificate; SA backend\'s token never gets it; wrong audience refused', async () => {
  const frontend = kube.kubectlOk(['-n', NS, 'create', 'token', 'frontend', '--audience', 'istio-ca']).trim();
  const backend = kube.kubectlOk(['-n', NS, 'create', 'token', 'backend', '--audience', 'istio-ca']).trim();
  const apiAudience = kube.kubectlOk(['-n', NS, 'create', 'token', 'frontend']).trim();
  const want = 'spiffe://cluster.local/ns/production/sa/frontend';
  const ok = await requestCert(meshd.xdsPort, frontend, want);
  const leaf = new X509Certificate(ok.cert_chain[0]!);
  assert.match(leaf.subjectAltName ?? '', new RegExp(want.replace(/[/.]/g, '\\$&')));
  // The CA takes the identity from the credential, never from the CSR: B asking for A gets B.
  const other = await requestCert(meshd.xdsPort, backend, want).then((r) => new X509Certificate(r.cert_chain[0]!).subjectAltName ?? '', (e: ServiceError) => `refused: ${e.details}`);
  assert.doesNotMatch(other, /sa\/frontend/);
  // (The chain reports the join-token authenticator's complaint first; the refusal is what counts.)
  await assert.rejects(requestCert(meshd.xdsPort, apiAudience, want));
  const review = await tokenReviewer(kube.client).review(apiAudience);
  assert.equal(review.authenticated, false);
  assert.match(review.error ?? '', /audience/i);
  assert.deepEqual(await tokenReviewer(kube.client).review(frontend), { authenticated: true, username: 'system:serviceaccount:production:frontend' });
  await assert.rejects(requestCert(meshd.xdsPort, 'not-a-token', want));
});

test('a burst of 500 pod creations, then 500 pod changes: one debounced push each', async () => {
  namespace(kube, 'burst', {}, ['default']);
  // Its own meshd with a 1 s quiet period / 20 s ceiling: the burst (written by 50 parallel
  // requests, a few seconds on a loaded machine) has no 1 s gap, so it must be one push.
  const m = await startK8sMeshd(kube, { args: ['--debounce-quiet', '1s', '--debounce-max', '20s'] });
  after(() => m.stop());
  const p0 = await settledPushes(m, 2500);
  const pods = Array.from({ length: 500 }, (_, i) => `p-${i}`);
  const all = async (fn: (name: string) => Promise<unknown>): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: 50 }, async () => { while (next < pods.length) await fn(pods[next++]!); }));
  };
  await all((name) => kube.client.json('POST', '/api/v1/namespaces/burst/pods', { body: {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'burst' } },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'example/app' }] },
  } }));
  const p1 = await settledPushes(m, 2500);
  assert.equal(p1 - p0, 1, `500 pod creations gave ${p1 - p0} pushes`);
  await all((name) => kube.client.json('PATCH', `/api/v1/namespaces/burst/pods/${name}/status`, {
    body: { status: { phase: 'Running', podIP: `10.9.${Number(name.slice(2)) >> 8}.${Number(name.slice(2)) & 255}`, conditions: [{ type: 'Ready', status: 'True' }] } },
    contentType: 'application/merge-patch+json',
  }));
  const p2 = await settledPushes(m, 2500);
  assert.equal(p2 - p1, 1, `500 pod changes gave ${p2 - p1} pushes`);
});

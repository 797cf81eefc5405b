/**
 * Admin access in Kubernetes mode, on a real kube-apiserver with RBAC: a service-account token
 * is accepted by TokenReview and then needs a SubjectAccessReview allowing the route's verb on
 * `<resource>.meshd.dev`. meshd listens on 0.0.0.0 here, so its debug views are closed too.
 * Every route is walked with an intruder's token and a workload's (istio-ca audience) token;
 * the operator's token, allowed by a ClusterRole, reads and rotates. Watch events are counted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeUp, type Kube } from '../helpers/kube.js';
import YAML from 'yaml';
import { REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { walkAdminRoutes } from '../helpers/admin-walk.js';
import { metricSum } from '../../src/cli/check-command.js';
import { installCrds, k8sDebug, namespace, startK8sMeshd } from './setup.js';
import { waitFor } from '../helpers/ports.js';

let kube: Kube;
let meshd: RunningMeshd;

before(async () => {
  kube = await kubeUp();
  installCrds(kube);
  namespace(kube, 'istio-system', {}, ['default', 'operator', 'intruder']);
  // The operator role as deploy/rbac.yaml ships it.
  const role = YAML.parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } })
    .find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'meshd-operator');
  assert.ok(role, 'deploy/rbac.yaml has the meshd-operator ClusterRole');
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'meshd-operator' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshd-operator' },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: 'istio-system' }],
  };
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [role, binding] }));
  meshd = await startK8sMeshd(kube, { args: ['--listen-address', '0.0.0.0'] });
});

after(async () => {
  await meshd?.stop();
  kube?.down();
});

const token = (sa: string, audience?: string): string => kube.kubectlOk(['-n', 'istio-system', 'create', 'token', sa, '--duration', '1h', ...(audience ? ['--audience', audience] : [])]).trim();

async function call(path: string, bearer: string | undefined, method = 'GET'): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${meshd.adminPort}${path}`, {
    method, headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { body: '{}' } : {}),
  });
  return { status: r.status, text: await r.text() };
}

test('TokenReview + SubjectAccessReview: every route refuses the intruder and a workload token; the operator reads and rotates', async () => {
  const operator = token('operator');
  const intruder = token('intruder');
  const workload = token('default', 'istio-ca');
  const adminToken = readFileSync(join(meshd.stateDir, 'admin-token'), 'utf8').trim();
  const state = async (): Promise<string> => (await call('/ca/status', adminToken)).text;
  const walk = await walkAdminRoutes({ base: `http://127.0.0.1:${meshd.adminPort}`, readsClosed: true, wrongTokens: [intruder, workload], state });
  console.log(`# k8s walk: ${walk.routes} routes, ${walk.requests} requests`);

  const denied = await call('/ca/rotate-root?step=introduce', intruder, 'POST');
  assert.equal(denied.status, 403);
  assert.match(denied.text, /system:serviceaccount:istio-system:intruder may not rotate ca\.meshd\.dev/);
  const wrongAudience = await call('/debug/syncz', workload);
  assert.equal(wrongAudience.status, 403);
  assert.match(wrongAudience.text, /TokenReview/);
  assert.equal(JSON.parse((await call('/ca/status', adminToken)).text).phase, 'steady', 'nothing changed');

  assert.equal((await call('/debug/syncz', operator)).status, 200, 'the operator may get debug.meshd.dev');
  assert.equal((await call('/debug/k8s', operator)).status, 200);
  const rotated = await call('/ca/rotate-root?step=introduce', operator, 'POST');
  assert.equal(rotated.status, 200, rotated.text);
  assert.equal(JSON.parse((await call('/ca/status', operator)).text).phase, 'introduced');
  assert.ok((await k8sDebug({ ...meshd, adminJson: async <T>(p: string) => JSON.parse((await call(p, adminToken)).text) as T } as RunningMeshd)).leader);

  assert.ok(metricSum((await call('/metrics', undefined)).text, 'meshd_admin_requests_refused_total{reason="forbidden"}') >= 1, 'RBAC refusals counted');
  // A watch event: a namespace created after meshd started.
  namespace(kube, 'events-check', {}, []);
  await waitFor('the ADDED event counted', async () => metricSum((await call('/metrics', undefined)).text, 'meshd_k8s_events_total{kind="Namespace",type="ADDED"}') >= 1, 20_000, 200);
  for (const t of [operator, intruder, workload, adminToken]) assert.ok(!meshd.log().includes(t), 'no token in the log');
});

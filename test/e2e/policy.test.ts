/**
 * Real Envoy, the seed's two YAML documents verbatim (PeerAuthentication STRICT in production;
 * AuthorizationPolicy "only frontend can call backend"): who passes, who gets 403, plaintext
 * refused at the connection; meshd's access logs name the denying policy; and `meshctl authz
 * check` says what Envoy did, for the same calls.
 */
import { seedYaml } from '../helpers/seed.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import type { EdgeRow, DenialRow } from '../../src/telemetry/index.js';

const SEED = seedYaml();

type Outcome = 'ALLOW' | 'DENY' | 'REJECT';
const outcome = async (p: Promise<{ status: number }>): Promise<Outcome | number> => {
  try {
    const r = await p;
    return r.status === 200 ? 'ALLOW' : r.status === 403 ? 'DENY' : r.status;
  } catch { return 'REJECT'; }
};

function meshctl(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('seed verbatim: frontend GET /api/* passes; other methods, paths and callers get 403 naming the policy; plaintext refused; meshctl authz check agrees with Envoy', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'intruder' }]);
  t.after(() => mesh.close());
  mesh.writeConfig('20-seed.yaml', SEED);
  await mesh.startMeshd();
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend', 200, { path: '/api/users' });
  const backend = mesh.get('backend');

  const calls: { name: string; from: string; method: string; path: string; run: () => Promise<Outcome | number>; want: Outcome }[] = [
    { name: 'frontend GET /api/users', from: 'production/frontend', method: 'GET', path: '/api/users', run: () => outcome(mesh.call('frontend', 'backend', { path: '/api/users' })), want: 'ALLOW' },
    { name: 'frontend POST /api/users', from: 'production/frontend', method: 'POST', path: '/api/users', run: () => outcome(mesh.call('frontend', 'backend', { method: 'POST', path: '/api/users' })), want: 'ALLOW' },
    { name: 'frontend DELETE /api/x', from: 'production/frontend', method: 'DELETE', path: '/api/x', run: () => outcome(mesh.call('frontend', 'backend', { method: 'DELETE', path: '/api/x' })), want: 'DENY' },
    { name: 'frontend GET /admin', from: 'production/frontend', method: 'GET', path: '/admin', run: () => outcome(mesh.call('frontend', 'backend', { path: '/admin' })), want: 'DENY' },
    { name: 'intruder GET /api/users', from: 'production/intruder', method: 'GET', path: '/api/users', run: () => outcome(mesh.call('intruder', 'backend', { path: '/api/users' })), want: 'DENY' },
    { name: 'plaintext GET /api/users', from: 'plaintext', method: 'GET', path: '/api/users', run: () => outcome(mesh.callDirect('backend', { path: '/api/users' })), want: 'REJECT' },
  ];
  const t0 = Date.now();
  for (const c of calls) {
    const got = await c.run();
    assert.equal(got, c.want, `Envoy: ${c.name}`);
    // The evaluator, over the real translation of the same YAML folder, says what Envoy did.
    const viaDir = meshctl(['authz', 'check', '--config-dir', mesh.configDir, '--to', 'production/backend', '--from', c.from, '--port', String(backend.port), '--method', c.method, '--path', c.path, '-o', 'json']);
    const d = JSON.parse(viaDir.out) as { decision: string; policy: string | null };
    assert.equal(d.decision, got, `meshctl authz check --config-dir: ${c.name}: ${viaDir.out}${viaDir.err}`);
    assert.equal(viaDir.code, got === 'ALLOW' ? 0 : 1);
    if (got === 'ALLOW') assert.equal(d.policy, 'production/backend-access');
    // ... and over the listeners the running meshd sent backend's Envoy.
    const viaMeshd = meshctl(['authz', 'check', '--meshd', `http://127.0.0.1:${mesh.meshd!.adminPort}`, '--to', 'production/backend', '--from', c.from, '--port', String(backend.port), '--method', c.method, '--path', c.path, '-o', 'json']);
    assert.equal((JSON.parse(viaMeshd.out) as { decision: string }).decision, got, `meshctl authz check --meshd: ${c.name}: ${viaMeshd.out}${viaMeshd.err}`);
  }
  const denied = await mesh.call('frontend', 'backend', { method: 'DELETE', path: '/api/x' });
  assert.equal(denied.body, 'RBAC: access denied', 'the 403 body does not name the policy to the caller');

  // meshd's access logs: the edges, and which policy denied.
  const edges = await waitFor('edges with denials', async () => {
    const e = await mesh.meshd!.adminJson<EdgeRow[]>('/debug/edges?namespace=production');
    const fe = e.find((x) => x.src === 'frontend' && x.dst === 'backend');
    const intr = e.find((x) => x.src === 'intruder' && x.dst === 'backend');
    return fe && fe.denied >= 3 && intr && intr.denied >= 1 ? e : undefined;
  }, 15000);
  const fe = edges.find((x) => x.src === 'frontend' && x.dst === 'backend')!;
  assert.deepEqual(Object.keys(fe).sort(), ['clientId', 'denied', 'dst', 'dstNamespace', 'lastSeen', 'requests', 'secured', 'serverId', 'src', 'srcNamespace'].sort());
  assert.equal(fe.clientId, 'spiffe://cluster.local/ns/production/sa/frontend');
  assert.equal(fe.serverId, 'spiffe://cluster.local/ns/production/sa/backend');
  assert.equal(fe.secured, true);
  assert.equal(fe.srcNamespace, 'production');
  assert.ok(fe.requests >= 5 && Date.parse(fe.lastSeen) >= t0 - 1000, JSON.stringify(fe));
  // STRICT refused the plaintext connection before any filter chain: no plaintext edge exists.
  assert.ok(!edges.some((e) => e.dst === 'backend' && !e.secured), 'no plaintext edge under STRICT');
  const denials = await mesh.meshd!.adminJson<DenialRow[]>('/debug/denials?namespace=production');
  const denial = denials.find((d) => d.workload === 'backend');
  assert.ok(denial, JSON.stringify(denials));
  assert.equal(denial.policy, 'production/backend-access');
  assert.equal(denial.rbacPolicy, 'none', 'an ALLOW policy that matched nothing: Envoy says [none]; meshd names the ALLOW policy');
  assert.ok(denial.count >= 4, JSON.stringify(denial));
  const metrics = await (await mesh.meshd!.admin('/metrics')).text();
  assert.match(metrics, /meshd_authz_denied_total\{namespace="production",workload="backend",policy="production\/backend-access"\} ([4-9]|\d\d+)/);
  assert.match(metrics, /meshd_edge_requests_total\{src_namespace="production",namespace="production",workload="backend",secured="true"\} \d+/);
  assert.doesNotMatch(metrics, /meshd_plaintext_requests_total\{[^}]*workload="backend"/);
});

test('a DENY policy names itself: the rule key reaches meshd from Envoy\'s response details', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  mesh.writeConfig('20-deny.yaml', [{
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'no-admin', namespace: 'production' },
    spec: { selector: { matchLabels: { app: 'backend' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] },
  }]);
  await mesh.startMeshd();
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend', 200);
  assert.equal((await mesh.call('frontend', 'backend', { path: '/admin/x' })).status, 403);
  const d = await waitFor('a denial', async () => (await mesh.meshd!.adminJson<DenialRow[]>('/debug/denials')).find((x) => x.workload === 'backend'), 15000);
  assert.equal(d.policy, 'production/no-admin');
  assert.equal(d.rbacPolicy, 'ns[production]-policy[no-admin]-rule[0]');
  assert.equal(d.lastClient, 'spiffe://cluster.local/ns/production/sa/frontend');
});

/**
 * Bad conditions against a real kube-apiserver: the API server stopped and started again (meshd
 * keeps serving, resyncs, does not crash, does not storm); an invalid policy stored without the
 * validating webhook (diagnostic + status False, last good version stays in force); rejected
 * kubeconfig credentials (a clear error, no crash).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeUp, type Kube } from '../helpers/kube.js';
import { REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import type { Diagnostic } from '../../src/model/types.js';
import { installCrds, k8sDebug, namespace, settledPushes, startK8sMeshd } from './setup.js';

let kube: Kube;
let meshd: RunningMeshd;
const NS = 'shop';

before(async () => {
  kube = await kubeUp();
  installCrds(kube);
  namespace(kube, 'istio-system', {}, []);
  namespace(kube, NS);
  meshd = await startK8sMeshd(kube, { env: { MESHD_K8S_BACKOFF_MAX_MS: '1000' } });
});

after(async () => {
  await meshd?.stop();
  kube?.down();
});

const policy = (action: string): string => JSON.stringify({
  apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-delete', namespace: NS },
  spec: { action, rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] },
});

test('an invalid update (no validating webhook here): diagnostic and status False, the last good version stays', async () => {
  kube.kubectlOk(['apply', '-f', '-'], policy('DENY'));
  await waitFor('accepted', () => kube.kubectlOk(['-n', NS, 'get', 'authorizationpolicy', 'deny-delete', '-o', 'jsonpath={.status.conditions[0].status}']) === 'True' || undefined, 15_000, 200);
  kube.kubectlOk(['apply', '-f', '-'], policy('MAYBE'));
  const diags = await waitFor('diagnostic', async () => {
    const d = await meshd.adminJson<Diagnostic[]>('/debug/diagnostics');
    return d.find((x) => x.kind === 'AuthorizationPolicy' && x.name === 'deny-delete' && x.field === 'spec.action');
  }, 15_000, 100);
  assert.equal(diags.severity, 'error');
  const cond = await waitFor('status False', () => {
    const out = kube.kubectlOk(['-n', NS, 'get', 'authorizationpolicy', 'deny-delete', '-o', 'jsonpath={.status.conditions[0]}']);
    const c = out ? JSON.parse(out) as { status: string; message: string } : undefined;
    return c?.status === 'False' ? c : undefined;
  }, 15_000, 200);
  assert.match(cond.message, /spec\.action/);
  // The last good (DENY) version stays in force: the failed update caused no snapshot change.
  assert.ok(!meshd.log().includes('"action":"MAYBE"'));
  kube.kubectlOk(['apply', '-f', '-'], policy('DENY'));
  await waitFor('accepted again', () => kube.kubectlOk(['-n', NS, 'get', 'authorizationpolicy', 'deny-delete', '-o', 'jsonpath={.status.conditions[0].status}']) === 'True' || undefined, 15_000, 200);
});

test('API server stopped then started: meshd keeps serving, resyncs, no crash, no storm', async () => {
  const p0 = await settledPushes(meshd);
  const t0 = performance.now();
  await kube.stopApiserver();
  // While it is down: meshd stays ready and keeps its state.
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await meshd.admin('/ready')).status, 200, 'still ready while the API server is down');
  }
  const down = await k8sDebug(meshd);
  assert.ok(down.resources.some((r) => r.error), 'watch errors are reported');
  await kube.startApiserver();
  const restartMs = performance.now() - t0;
  // Reconnected: a new object shows up; nothing unchanged caused a push.
  await waitFor('watches to recover', async () => (await k8sDebug(meshd)).resources.every((r) => !r.error) || undefined, 30_000, 200);
  assert.equal(await settledPushes(meshd), p0, 'no push for the unchanged objects after the resync');
  kube.kubectlOk(['-n', NS, 'apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'after-restart', namespace: NS }, spec: { ports: [{ name: 'http', port: 80 }] } }));
  await waitFor('change after restart seen', async () => (await k8sDebug(meshd)).pushes === p0 + 1 || undefined, 15_000, 100);
  assert.equal(meshd.process.exitCode, null, 'meshd did not exit');
  const log = meshd.log();
  assert.match(log, /k8s: watch error, retrying with backoff/);
  console.log(`API server down/up cycle: ${Math.round(restartMs)} ms; pushes before ${p0}, after resync ${p0}, after one new Service ${p0 + 1}`);
});

test('a kubeconfig whose credentials are rejected: a clear error, no crash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-badkc-'));
  const bad = join(dir, 'kubeconfig');
  writeFileSync(bad, readFileSync(kube.kubeconfig, 'utf8').replace(/token: \S+/, 'token: expired-or-revoked-token'), { mode: 0o600 });
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'meshd'), '--kubeconfig', bad, '--state-dir', join(dir, 'state'), '--xds-port', '0', '--secure-xds-port', '0', '--admin-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '', MESHD_WEBHOOK_PORT: '0', MESHD_NAMESPACE: 'istio-system' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    // It cannot read its CA Secret: it says why and keeps retrying rather than crashing.
    await waitFor('a clear error', () => /credentials rejected: is the kubeconfig token or client certificate expired\?/.test(out) || undefined, 20_000, 100);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(child.exitCode, null, `meshd is still running:\n${out.slice(-2000)}`);
    assert.doesNotMatch(out, /at .*\.js:\d+/, 'no stack trace');
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

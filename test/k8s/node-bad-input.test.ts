/**
 * Bad input for the node test bed: a missing image stops scripts/node-up.sh before anything
 * starts, with a message naming the image and the script that builds it; nothing is left
 * running, and the control plane beside it keeps working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kubeUp } from '../helpers/kube.js';
import { REPO_ROOT } from '../helpers/meshd.js';

test('node-up with a missing image: a clear message naming it and what to run, nothing started, the control plane unaffected', { timeout: 300_000 }, async (t) => {
  const kube = await kubeUp();
  t.after(() => kube.down());
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'node-up.sh')], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, KUBE_WORK_DIR: kube.workDir, MESH_NODE_IMAGES: 'meshd/no-such-image:0 meshd/pause:3.10' },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /node-up: (image meshd\/no-such-image:0 is missing in the Docker engine: run bash scripts\/build-images\.sh|no Docker engine answers)/);
  assert.equal(r.stdout, '', 'no export lines');
  assert.ok(!existsSync(join(kube.workDir, 'node', 'containerd', 'containerd.sock')), 'containerd never started');
  const pids = spawnSync('pgrep', ['-f', kube.workDir], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
  const procs = pids.map((p) => spawnSync('ps', ['-o', 'comm=', '-p', String(p)], { encoding: 'utf8' }).stdout.trim()).filter(Boolean);
  assert.deepEqual(procs.filter((c) => !['etcd', 'kube-apiserver'].includes(c)), [], 'only the control plane runs');
  assert.match(kube.kubectlOk(['get', 'ns', 'default', '-o', 'name']), /namespace\/default/);
});

/**
 * Real Envoy receiving partial EDS responses: an endpoint change reaches Envoy as one
 * ClusterLoadAssignment (SotW and Delta); Envoy keeps every other cluster's endpoints
 * (checked in its /clusters), no CDS or LDS update happens, and traffic keeps flowing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import { outboundClusterName } from '../../src/xds/names.js';

interface ClusterStatus { name: string; host_statuses?: { address?: { socket_address?: { address?: string } } }[] }

async function hosts(mesh: MeshFixture, sidecar: string): Promise<Map<string, string[]>> {
  const r = await mesh.get(sidecar).envoy!.admin('/clusters?format=json');
  const body = (await r.json()) as { cluster_statuses?: ClusterStatus[] };
  return new Map((body.cluster_statuses ?? []).map((c) => [c.name, (c.host_statuses ?? []).map((h) => h.address?.socket_address?.address ?? '').sort()]));
}

for (const delta of [false, true]) {
  test(`${delta ? 'Delta' : 'SotW'}: an endpoint change updates one cluster's endpoints in Envoy; every other cluster keeps its own`, async (t) => {
    const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'extra', noSidecar: true }]);
    t.after(() => mesh.close());
    await mesh.startMeshd();
    await mesh.startWorkloads({ delta });
    await mesh.waitForCall('frontend', 'backend');
    const fe = mesh.get('frontend').envoy!;
    const backend = mesh.get('backend');
    const extra = mesh.get('extra');
    const backendCluster = outboundClusterName(backend.port, 'backend.production.svc.cluster.local');
    const extraCluster = outboundClusterName(extra.port, 'extra.production.svc.cluster.local');
    const before = await hosts(mesh, 'frontend');
    assert.deepEqual(before.get(backendCluster), [backend.address]);
    assert.deepEqual(before.get(extraCluster), [extra.appAddress]);
    const watched = ['cluster_manager.cds.update_success', 'listener_manager.lds.update_success', `cluster.${backendCluster}.update_success`, `cluster.${extraCluster}.update_success`];
    const stats0 = await fe.stats('update_success');
    const second = extra.appAddress.replace(/\d+$/, '99');

    // A second endpoint for extra (a new WorkloadEntry without a sidecar): only extra's ClusterLoadAssignment changes.
    mesh.writeConfig('20-extra-2.yaml', [{
      apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
      metadata: { name: 'extra-2', namespace: 'production', labels: { 'sidecar.istio.io/inject': 'false' } },
      spec: { address: second, labels: { app: 'extra' }, serviceAccount: 'extra', ports: { http: extra.port } },
    }]);
    const after = await waitFor('extra has two endpoints in Envoy', async () => {
      const h = await hosts(mesh, 'frontend');
      return h.get(extraCluster)?.length === 2 ? h : undefined;
    }, 20000);
    assert.deepEqual(after.get(extraCluster), [extra.appAddress, second].sort());
    assert.deepEqual(after.get(backendCluster), [backend.address], 'backend keeps its endpoint (not in the partial response)');
    for (const [name, list] of before) assert.ok(after.has(name), `cluster ${name} still present`);
    const stats1 = await fe.stats('update_success');
    const delta1 = (k: string): number => (stats1.get(k) ?? 0) - (stats0.get(k) ?? 0);
    assert.ok(watched.every((k) => stats0.has(k)), `Envoy reports ${watched.join(', ')}`);
    assert.equal(delta1('cluster_manager.cds.update_success'), 0, 'no CDS update');
    assert.equal(delta1('listener_manager.lds.update_success'), 0, 'no LDS update');
    assert.equal(delta1(`cluster.${backendCluster}.update_success`), 0, 'backend\'s EDS was not updated');
    assert.equal(delta1(`cluster.${extraCluster}.update_success`), 1, 'extra\'s EDS was updated once');
    assert.equal((await mesh.call('frontend', 'backend')).status, 200, 'traffic keeps flowing');
  });
}

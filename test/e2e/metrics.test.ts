/**
 * meshd's metrics against real Envoys: every metric docs/metrics.md lists is served, and the
 * xDS, CA and SDS ones move after a config push, an Envoy NACK and a root rotation. The whole
 * meshd log of the run is then checked: JSON lines, no key material, no token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT } from '../helpers/meshd.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { assertCleanLog } from '../helpers/log-hygiene.js';
import { metricSum } from '../../src/cli/check-command.js';

/** The metric names in docs/metrics.md's tables, with whether they exist only in Kubernetes mode. */
function documented(): { name: string; k8sOnly: boolean }[] {
  let k8s = false;
  const out: { name: string; k8sOnly: boolean }[] = [];
  for (const line of readFileSync(join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8').split('\n')) {
    if (line.startsWith('## ')) k8s = /Kubernetes/.test(line);
    const m = /^\| `(meshd_[a-z_]+)` \|/.exec(line);
    if (m) out.push({ name: m[1]!, k8sOnly: k8s });
  }
  return out;
}

test('metrics: documented names served; pushes, convergence, queue time, config size, NACKs, issuance and root expiry move', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  const m = await mesh.startMeshd(['--cert-ttl', '2h']);
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  const scrape = async (): Promise<string> => (await m.admin('/metrics')).text();
  const v = (text: string, name: string): number => metricSum(text, name);

  const names = documented();
  assert.ok(names.length >= 25, `docs/metrics.md lists the metrics (${names.length})`);
  const first = await scrape();
  for (const n of names.filter((x) => !x.k8sOnly)) assert.match(first, new RegExp(`^# TYPE ${n.name} `, 'm'), `${n.name} is served`);
  assert.equal(v(first, 'meshd_xds_connected_proxies'), 2);
  assert.equal(v(first, 'meshd_sds_certificates_expiring{within="1h"}'), 0, '2 h certificates: none within 1 h');
  assert.equal(v(first, 'meshd_sds_certificates_expiring{within="6h"}'), 2, 'both within 6 h');

  // A config change: a push to both proxies, every affected ACK observed.
  const before = await scrape();
  mesh.writeConfig('20-extra.yaml', [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'extra', namespace: 'production' }, spec: { selector: { app: 'frontend' }, ports: [{ name: 'http-extra', port: await freePort() }] } }]);
  const afterPush = await waitFor('the push to converge', async () => {
    const s = await scrape();
    return v(s, 'meshd_xds_convergence_seconds_count') > v(before, 'meshd_xds_convergence_seconds_count') ? s : undefined;
  }, 20_000, 200);
  for (const name of ['meshd_xds_pushes_total{type="CDS"}', 'meshd_xds_pushes_total{type="LDS"}', 'meshd_xds_push_duration_seconds_count', 'meshd_xds_queue_seconds_count{type="CDS"}', 'meshd_xds_config_size_bytes_count{type="LDS"}']) {
    assert.ok(v(afterPush, name) > v(before, name), `${name} moved after a push: ${v(before, name)} → ${v(afterPush, name)}`);
  }
  assert.ok(v(afterPush, 'meshd_xds_config_size_bytes_sum{type="LDS"}') > v(before, 'meshd_xds_config_size_bytes_sum{type="LDS"}') + 100, 'config bytes counted');

  // A NACK: a new listener port already taken on frontend's outbound address.
  const fe = mesh.get('frontend');
  const port = await freePort();
  const blocker = createServer(() => undefined);
  await new Promise<void>((res) => blocker.listen(port, fe.outboundAddress, res));
  t.after(() => blocker.close());
  mesh.writeConfig('30-blocked.yaml', [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'blocked', namespace: 'production' }, spec: { selector: { app: 'backend' }, ports: [{ name: 'http-blocked', port }] } }]);
  await waitFor('an LDS NACK counted', async () => v(await scrape(), 'meshd_xds_nacks_total{type="LDS"}') >= 1, 20_000, 200);
  mesh.removeConfig('30-blocked.yaml');

  // A root rotation: introduce (bundle pushed), activate (certificates re-issued, root expiry moves).
  await new Promise((r) => setTimeout(r, 1100)); // the new root's NotAfter is at least a second later
  const preRotation = await scrape();
  const token = readFileSync(join(mesh.stateDir, 'admin-token'), 'utf8').trim();
  const step = async (s: string): Promise<void> => {
    const r = await fetch(`http://127.0.0.1:${m.adminPort}/ca/rotate-root?step=${s}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 200, await r.text());
  };
  await step('introduce');
  await waitFor('the trust bundle pushed', async () => v(await scrape(), 'meshd_xds_pushes_total{type="SDS"}') > v(preRotation, 'meshd_xds_pushes_total{type="SDS"}'), 20_000, 200);
  await step('activate');
  const rotated = await waitFor('certificates re-issued under the new root', async () => {
    const s = await scrape();
    return v(s, 'meshd_ca_issuance_seconds_count') >= v(preRotation, 'meshd_ca_issuance_seconds_count') + 2 ? s : undefined;
  }, 30_000, 200);
  assert.ok(v(rotated, 'meshd_ca_root_expiry_timestamp_seconds') > v(preRotation, 'meshd_ca_root_expiry_timestamp_seconds'), 'the signing root\'s expiry moved to the new root');
  assert.equal(v(rotated, 'meshd_ca_signing_errors_total'), 0);
  assert.equal(v(rotated, 'meshd_sds_push_errors_total'), 0);
  await mesh.waitForCall('frontend', 'backend');

  const clean = assertCleanLog(m.log(), [token]);
  console.log(`# meshd log: ${clean.lines} JSON lines, no key material, no token`);
});

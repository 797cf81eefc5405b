/**
 * Real Envoy, SotW and Delta: a VirtualService on `reviews` (DestinationRule subsets v1/v2,
 * two workloads behind one Service) as an Istio user writes it. frontend's sidecar routes:
 * a 90/10 canary, shifted to 0/100 under traffic without a failed request; a header match to
 * v2; a 0.5 s timeout (504); retries on 5xx over a 1-in-2 failing upstream; fault abort and
 * delay; a mirror the shadow app counts. Bounds are loose: the machine is shared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshFixture } from '../helpers/mesh.js';
import { httpCall, type HttpResult } from '../helpers/apps.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { appOf, many, reviewsRouting } from '../helpers/traffic.js';

const NS = 'production';
const HOST = `reviews.${NS}.svc.cluster.local`;

const routing = (v1: number, v2: number): unknown[] => reviewsRouting(NS, v1, v2);

for (const delta of [false, true]) {
  test(`VirtualService routing through real Envoy: canary, shift, header match, timeout, retries, fault, mirror (${delta ? 'Delta' : 'SotW'})`, async (t) => {
    const mesh = await MeshFixture.create([
      { name: 'frontend' },
      { name: 'reviews-v1', labels: { pool: 'reviews', version: 'v1' } },
      { name: 'reviews-v2', labels: { pool: 'reviews', version: 'v2' } },
      { name: 'shadow' },
    ]);
    t.after(() => mesh.close());
    const port = await freePort();
    mesh.writeConfig('20-reviews.yaml', [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: NS }, spec: { selector: { pool: 'reviews' }, ports: [{ name: 'http', port }] } }]);
    mesh.writeConfig('30-routing.yaml', routing(90, 10));
    await mesh.startMeshd();
    await mesh.startWorkloads({ delta });
    const fe = mesh.get('frontend');
    const call = (path = '/', headers?: Record<string, string>, timeoutMs = 5000): Promise<HttpResult> =>
      httpCall({ host: fe.outboundAddress, port, hostHeader: HOST, path, ...(headers ? { headers } : {}), timeoutMs });
    // Ready when both subsets answer (their clusters and endpoints arrived).
    await waitFor('reviews v1 and v2 through the canary', async () => {
      const rs = await many(40, 4, () => call('/'));
      const apps = new Set(rs.map(appOf));
      return apps.has('reviews-v1') && apps.has('reviews-v2') ? true : undefined;
    }, 30000, 200);

    // Canary 90/10 over 1,000 requests: within ±3 points.
    const split = await many(1000, 8, () => call('/'));
    const bad = split.filter((r) => r.status !== 200);
    assert.ok(bad.length <= 2, `canary requests succeed (${bad.length} failed: ${bad.slice(0, 3).map((r) => `${r.status} ${r.body.slice(0, 120)}`).join('; ')})`);
    const v2 = split.filter((r) => appOf(r) === 'reviews-v2').length / 10;
    assert.ok(v2 >= 7 && v2 <= 13, `v2 got ${v2}% of 1,000 requests (want 10 ± 3)`);

    // Header match: the tester always reaches v2.
    const tester = await many(20, 4, () => call('/', { 'x-tester': 'yes' }));
    assert.deepEqual(new Set(tester.map(appOf)), new Set(['reviews-v2']), 'x-tester: yes goes to v2');

    // Timeout 0.5 s against a 2 s app: 504 in about 0.5 s.
    const t0 = performance.now();
    const slow = await call('/sleep/2000');
    const took = performance.now() - t0;
    assert.equal(slow.status, 504, `timeout answer: ${slow.status} ${slow.body}`);
    assert.ok(took >= 400 && took < 1900, `504 after ${took.toFixed(0)} ms (want ~500)`);

    // Retries on 5xx: a 1-in-2 failing upstream, every call succeeds, the app saw the retries.
    const v1app = mesh.get('reviews-v1').app!;
    const before = v1app.requests.filter((r) => r.path.startsWith('/flaky')).length;
    const flaky = await many(20, 1, () => call('/flaky'));
    assert.deepEqual(flaky.map((r) => r.status), Array(20).fill(200), 'retries turn the failures into successes');
    const attempts = v1app.requests.filter((r) => r.path.startsWith('/flaky')).length - before;
    assert.ok(attempts >= 30, `the upstream saw ${attempts} attempts for 20 calls (retries happened)`);

    // Fault abort 503 at 50 %.
    const aborted = await many(100, 4, () => call('/abort')).then((rs) => rs.filter((r) => r.status === 503).length);
    assert.ok(aborted >= 25 && aborted <= 75, `${aborted}/100 aborted with 503 (want ~50)`);

    // Fault delay 1 s at 100 %.
    const d0 = performance.now();
    const delayed = await call('/delay');
    const delay = performance.now() - d0;
    assert.equal(delayed.status, 200);
    assert.ok(delay >= 900, `delayed request took ${delay.toFixed(0)} ms (want ≥ 1 s)`);

    // Mirror: the shadow app gets a copy of each request.
    const shadow = mesh.get('shadow').app!;
    const mirrored = await many(10, 2, () => call('/mirror/x'));
    assert.ok(mirrored.every((r) => appOf(r) === 'reviews-v1'), 'the primary answers');
    await waitFor('the shadow app counted 10 mirrored requests', async () => (shadow.requests.filter((r) => r.path.startsWith('/mirror')).length >= 10 ? true : undefined), 10000, 100);

    // Shift to 0/100 under traffic: no failed request on the way.
    let stop = false;
    const during: HttpResult[] = [];
    const load = (async () => {
      while (!stop) during.push(...await many(8, 4, () => call('/')));
    })();
    await new Promise((r) => setTimeout(r, 300));
    mesh.writeConfig('30-routing.yaml', routing(0, 100));
    await waitFor('all traffic on v2', async () => {
      const rs = during.slice(-30);
      return rs.length === 30 && rs.every((r) => appOf(r) === 'reviews-v2') ? true : undefined;
    }, 30000, 100);
    stop = true;
    await load;
    const failed = during.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `no request fails during the shift (${during.length} sent): ${failed.slice(0, 3).map((r) => `${r.status} ${r.body}`).join('; ')}`);
  });
}

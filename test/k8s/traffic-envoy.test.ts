/**
 * Istio's traffic API through `kubectl apply` against a real kube-apiserver, carried by real
 * Envoy sidecars (authenticated by `kubectl create token`): the reviews canary (90/10 within
 * ±3 points, shifted to 0/100 under traffic without a failed request) on SotW and Delta; header
 * match, timeout, retries, fault abort and delay, mirror; outlierDetection and connectionPool;
 * a ServiceEntry with TLS origination; REGISTRY_ONLY from the `istio` ConfigMap; Sidecar
 * egress scoping. One cluster, one meshd and five Envoys for the whole file.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeUp, type Kube } from '../helpers/kube.js';
import type { RunningMeshd } from '../helpers/meshd.js';
import { startEnvoy, stopAllEnvoys, type RunningEnvoy } from '../helpers/envoy.js';
import { httpCall, startEchoApp, type HttpResult, type RunningApp } from '../helpers/apps.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { appOf, summarize, dynamicClusters, externalHttpsApp, listenerNames, many, outboundClusters, reviewsRouting, statusApp, type ExternalHttpsApp, type StatusApp } from '../helpers/traffic.js';
import { renderBootstrap } from '../../src/bootstrap/render.js';
import { installCrds, namespace, runningPods, startK8sMeshd, type RunningPodSpec } from './setup.js';

const NS = 'production';
const OTHER = 'other';
/** A loopback /16 of our own (the file-store fixtures use 127.20–219). */
const NET = `127.${220 + (process.pid % 30)}`;
const host = (svc: string, ns = NS): string => `${svc}.${ns}.svc.cluster.local`;

interface Sidecar { readonly name: string; readonly outboundAddress: string; readonly envoy: RunningEnvoy; readonly app?: RunningApp }

let kube: Kube;
let meshd: RunningMeshd;
let dir: string;
const sidecars = new Map<string, Sidecar>();
const closers: (() => Promise<void>)[] = [];
const port: Record<'reviews' | 'shadow' | 'pool' | 'slow' | 'external' | 'elsewhere', number> = { reviews: 0, shadow: 0, pool: 0, slow: 0, external: 0, elsewhere: 0 };
let good: StatusApp;
let bad: StatusApp;
let ext: ExternalHttpsApp;

/** `kubectl apply` of `docs` (one List, on stdin). */
const apply = (...docs: unknown[]): string => kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }));
const service = (name: string, p: number, selector: Record<string, string>, ns = NS): unknown =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector, ports: [{ name: 'http', port: p }] } });
const sidecar = (name: string): Sidecar => { const s = sidecars.get(name); if (!s) throw new Error(`no sidecar ${name}`); return s; };

/** `from`'s app calls `hostHeader` on `p` through its sidecar's outbound listener. */
function call(from: string, hostHeader: string, p: number, path = '/', headers?: Record<string, string>): Promise<HttpResult> {
  return httpCall({ host: sidecar(from).outboundAddress, port: p, hostHeader, path, ...(headers ? { headers } : {}), timeoutMs: 8000 });
}
const reviews = (from: string, path = '/', headers?: Record<string, string>): Promise<HttpResult> => call(from, host('reviews'), port.reviews, path, headers);

/**
 * Waits until both callers' Envoys have cluster `name` active with `pred` true for it; prints
 * how long that took. 10 s at most: an updated cluster that waits for endpoints the server
 * never sends again stays warming for Envoy's initial_fetch_timeout (15 s) and fails here.
 */
async function clusterWith(name: string, what: string, pred: (c: Record<string, unknown>) => boolean): Promise<void> {
  const t0 = performance.now();
  await Promise.all(CALLERS.map(async ([from, mode]) => {
    await waitFor(`${what} on ${name} in ${from}'s Envoy (active, not warming)`, async () => {
      const c = (await dynamicClusters(sidecar(from).envoy)).find((x) => x.name === name);
      return (c !== undefined && pred(c)) || undefined;
    }, 10_000, 50);
    console.log(`${mode}: ${what} active ${Math.round(performance.now() - t0)} ms after kubectl apply`);
  }));
}

// The meshed pods: [name, service account, labels, app port, Delta]. frontend and frontend-delta are the callers.
const MESHED = [
  ['frontend', 'frontend', { app: 'frontend' }, undefined, false],
  ['frontend-delta', 'frontend', { app: 'frontend-delta' }, undefined, true],
  ['reviews-v1', 'reviews', { app: 'reviews', version: 'v1' }, 'reviews', false],
  ['reviews-v2', 'reviews', { app: 'reviews', version: 'v2' }, 'reviews', false],
  ['shadow', 'shadow', { app: 'shadow' }, 'shadow', false],
] as const;
const CALLERS = [['frontend', 'SotW'], ['frontend-delta', 'Delta']] as const;

before(async () => {
  kube = await kubeUp();
  dir = mkdtempSync(join(tmpdir(), 'meshd-k8s-traffic-'));
  installCrds(kube);
  namespace(kube, 'istio-system', {}, []);
  namespace(kube, NS, {}, ['default', 'frontend', 'reviews', 'shadow', 'pool', 'slow']);
  namespace(kube, OTHER);
  meshd = await startK8sMeshd(kube, { args: ['--debounce-quiet', '100ms', '--debounce-max', '1s'] });
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort();
  apply(
    service('reviews', port.reviews, { app: 'reviews' }), service('shadow', port.shadow, { app: 'shadow' }),
    service('pool', port.pool, { app: 'pool' }), service('slow', port.slow, { app: 'slow' }),
    service('elsewhere', port.elsewhere, { app: 'elsewhere' }, OTHER),
    ...reviewsRouting(NS, 90, 10),
  );
  // Sidecar-less backends for the DestinationRule tests answer on their pod IP directly.
  good = await statusApp('good', `${NET}.40.1`, port.pool, 200);
  bad = await statusApp('bad', `${NET}.40.2`, port.pool, 500);
  const slow = await statusApp('slow', `${NET}.40.3`, port.slow, 200, 1500);
  ext = await externalHttpsApp(dir, 'api.external.example');
  closers.push(good.close, bad.close, slow.close, ext.close);
  const plain = (name: string, app: string, i: number, p: number): RunningPodSpec => ({ namespace: NS, name, ip: `${NET}.40.${i}`, labels: { app }, serviceAccount: app, ports: { http: p }, meshed: false });
  await runningPods(kube, [
    ...MESHED.map(([name, sa, labels, svc], i): RunningPodSpec => ({
      namespace: NS, name, ip: `${NET}.10.${i + 1}`, labels: { ...labels }, serviceAccount: sa, ...(svc ? { ports: { http: port[svc] } } : {}),
      annotations: { 'meshd.dev/app-address': `${NET}.20.${i + 1}`, 'meshd.dev/outbound-address': `${NET}.30.${i + 1}` },
    })),
    plain('pool-good', 'pool', 1, port.pool), plain('pool-bad', 'pool', 2, port.pool), plain('slow-1', 'slow', 3, port.slow),
  ]);
  const tokens = new Map([...new Set(MESHED.map((m) => m[1]))].map((sa) => [sa, kube.kubectlOk(['-n', NS, 'create', 'token', sa, '--audience', 'istio-ca', '--duration', '1h']).trim()]));
  await Promise.all(MESHED.map(async ([name, sa, labels, svc, delta], i) => {
    const app = svc ? await startEchoApp(name, `${NET}.20.${i + 1}`, port[svc]) : undefined;
    if (app) closers.push(app.close);
    const envoy = await startEnvoy(`k8s-${name}`, renderBootstrap({
      namespace: NS, workload: name, serviceAccount: sa, ip: `${NET}.10.${i + 1}`, labels, meshd: `127.0.0.1:${meshd.xdsPort}`, token: tokens.get(sa)!, delta,
    }));
    sidecars.set(name, { name, outboundAddress: `${NET}.30.${i + 1}`, envoy, ...(app ? { app } : {}) });
  }));
  // Ready when both callers reach every Service (listeners, clusters and endpoints arrived).
  await Promise.all(CALLERS.flatMap(([from]) => (['reviews', 'shadow', 'pool', 'slow'] as const).map((svc) =>
    waitFor(`${from} → ${svc}`, async () => (await call(from, host(svc), port[svc])).status !== 404 || undefined, 30_000, 100))));
});

after(async () => {
  await stopAllEnvoys();
  for (const c of closers) await c();
  await meshd?.stop();
  kube?.down();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('kubectl apply of a DestinationRule (v1/v2) and a 90/10 VirtualService: 1,000 requests split within ±3 points (SotW and Delta)', async () => {
  await Promise.all(CALLERS.map(async ([from, mode]) => {
    // Ready when both subsets answer (their clusters and endpoints arrived).
    await waitFor(`reviews v1 and v2 through the canary (${mode})`, async () => {
      const apps = new Set((await many(40, 4, () => reviews(from))).map(appOf));
      return (apps.has('reviews-v1') && apps.has('reviews-v2')) || undefined;
    }, 30_000, 200);
    const split = await many(1000, 8, () => reviews(from));
    const failed = split.filter((r) => r.status !== 200);
    assert.ok(failed.length <= 2, `${mode}: canary requests succeed (${failed.length} failed: ${summarize(failed)})`);
    const v2 = split.filter((r) => appOf(r) === 'reviews-v2').length / 10;
    console.log(`${mode}: v2 got ${v2}% of 1,000 requests`);
    assert.ok(v2 >= 7 && v2 <= 13, `${mode}: v2 got ${v2}% of 1,000 requests (want 10 ± 3)`);
  }));
});

for (const [from, mode] of CALLERS) {
  test(`header match → v2, timeout 0.5 s → 504, retries on 5xx, fault abort 50 % and delay 1 s, mirror (${mode})`, async () => {
    const tester = await many(20, 4, () => reviews(from, '/', { 'x-tester': 'yes' }));
    assert.deepEqual(new Set(tester.map(appOf)), new Set(['reviews-v2']), 'x-tester: yes goes to v2');

    const t0 = performance.now();
    const slow = await reviews(from, '/sleep/2000');
    const took = performance.now() - t0;
    assert.equal(slow.status, 504, `timeout answer: ${slow.status} ${slow.body}`);
    assert.ok(took >= 400 && took < 1900, `504 after ${took.toFixed(0)} ms (want ~500)`);

    const v1 = sidecar('reviews-v1').app!;
    const flakyBefore = v1.requests.filter((r) => r.path.startsWith('/flaky')).length;
    const flaky = await many(20, 1, () => reviews(from, '/flaky'));
    assert.deepEqual(flaky.map((r) => r.status), Array(20).fill(200), `retries turn the failures into successes: ${summarize(flaky.filter((r) => r.status !== 200))}`);
    const attempts = v1.requests.filter((r) => r.path.startsWith('/flaky')).length - flakyBefore;
    assert.ok(attempts >= 30, `the upstream saw ${attempts} attempts for 20 calls (retries happened)`);

    const aborted = (await many(100, 4, () => reviews(from, '/abort'))).filter((r) => r.status === 503).length;
    assert.ok(aborted >= 25 && aborted <= 75, `${aborted}/100 aborted with 503 (want ~50)`);

    const d0 = performance.now();
    const delayed = await reviews(from, '/delay');
    const delay = performance.now() - d0;
    assert.equal(delayed.status, 200);
    assert.ok(delay >= 900, `delayed request took ${delay.toFixed(0)} ms (want ≥ 1 s)`);

    const shadow = sidecar('shadow').app!;
    const path = `/mirror/${mode}`;
    const mirrored = await many(10, 2, () => reviews(from, path));
    assert.ok(mirrored.every((r) => appOf(r) === 'reviews-v1'), `the primary answers: ${summarize(mirrored)}`);
    await waitFor('the shadow app counted 10 mirrored requests', () => shadow.requests.filter((r) => r.path === path).length >= 10 || undefined, 10_000, 100);
  });
}

test('kubectl apply of 0/100 under continuous traffic from both sidecars: no request fails, all traffic moves to v2', async () => {
  const during = new Map<string, HttpResult[]>(CALLERS.map(([from]) => [from, []]));
  let stop = false;
  const loads = CALLERS.map(async ([from]) => { while (!stop) during.get(from)!.push(...await many(8, 4, () => reviews(from))); });
  await new Promise((r) => setTimeout(r, 300));
  apply(...reviewsRouting(NS, 0, 100));
  try {
    await Promise.all(CALLERS.map(([from, mode]) => waitFor(`all ${mode} traffic on v2`, () => {
      const rs = during.get(from)!.slice(-30);
      return (rs.length === 30 && rs.every((r) => appOf(r) === 'reviews-v2')) || undefined;
    }, 30_000, 100)));
  } finally {
    stop = true;
    await Promise.all(loads);
  }
  for (const [from, mode] of CALLERS) {
    const all = during.get(from)!;
    const failed = all.filter((r) => r.status !== 200);
    if (failed.length) console.log(`${mode}: ${failed.length} of ${all.length} failed during the shift: ${summarize(failed, 10)}`);
    assert.equal(failed.length, 0, `${mode}: no request fails during the shift (${all.length} sent): ${summarize(failed)}`);
  }
});

test('kubectl apply of a DestinationRule with outlierDetection: the 5xx endpoint is ejected and traffic stays on the healthy one', async () => {
  const name = `outbound|${port.pool}||${host('pool')}`;
  apply({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'pool', namespace: NS },
    spec: { host: 'pool', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '120s', maxEjectionPercent: 100 } } },
  });
  await clusterWith(name, 'outlier_detection', (c) => c.outlier_detection !== undefined);
  const badBefore = bad.hits;
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await call('frontend', host('pool'), port.pool)).status);
  assert.deepEqual(statuses.slice(10).filter((s) => s !== 200), [], `after the ejection every request succeeds: ${statuses.join(',')}`);
  const badHits = bad.hits - badBefore;
  assert.ok(badHits >= 1 && badHits <= 3, `the bad endpoint was tried and then left alone (hits ${badHits})`);
  assert.ok(good.hits >= 27, `the good endpoint took the rest (${good.hits})`);
  const stats = await sidecar('frontend').envoy.stats('outlier_detection');
  const ejected = stats.get(`cluster.${name}.outlier_detection.ejections_enforced_total`);
  assert.ok(ejected !== undefined && ejected >= 1, `Envoy counted an ejection: ${[...stats].filter(([k]) => k.includes(host('pool'))).join(' ')}`);
});

test('kubectl apply of a DestinationRule connectionPool: the limit trips and upstream_rq_pending_overflow counts it', async () => {
  const name = `outbound|${port.slow}||${host('slow')}`;
  apply({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'slow', namespace: NS },
    spec: { host: 'slow', trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, http2MaxRequests: 1 } } } },
  });
  await clusterWith(name, 'circuit_breakers', (c) => c.circuit_breakers !== undefined);
  const codes = (await Promise.all(Array.from({ length: 8 }, () => call('frontend', host('slow'), port.slow)))).map((r) => r.status);
  assert.ok(codes.includes(200), `some requests got through: ${codes.join(',')}`);
  assert.ok(codes.includes(503), `some requests overflowed: ${codes.join(',')}`);
  const stats = await sidecar('frontend').envoy.stats(host('slow'));
  const overflow = stats.get(`cluster.${name}.upstream_rq_pending_overflow`);
  assert.ok(overflow !== undefined && overflow > 0, `upstream_rq_pending_overflow > 0: ${[...stats].filter(([k]) => k.includes('overflow')).join(' ')}`);
});

test('kubectl apply of a ServiceEntry (resolution DNS) and a DestinationRule tls SIMPLE: the sidecar originates TLS to the external host', async () => {
  const extHost = 'api.external.example';
  const se = {
    apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'external', namespace: NS },
    spec: {
      hosts: [extHost], ports: [{ number: port.external, name: 'http', protocol: 'HTTP', targetPort: ext.port }],
      // `localhost` resolves (to 127.0.0.1) without a DNS server.
      resolution: 'DNS', location: 'MESH_EXTERNAL', endpoints: [{ address: 'localhost' }],
    },
  };
  apply(se);
  // Without a DestinationRule the sidecar speaks plaintext to a TLS port: no answer from the app.
  const plain = await waitFor('external host routed', async () => { const r = await call('frontend', extHost, port.external); return r.status !== 404 ? r : undefined; }, 20_000, 200);
  assert.notEqual(plain.status, 200, `plaintext to the HTTPS app fails: ${plain.status} ${plain.body.slice(0, 200)}`);
  assert.equal(ext.seen.length, 0);
  apply(se, {
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'external', namespace: NS },
    spec: { host: extHost, trafficPolicy: { tls: { mode: 'SIMPLE', caCertificates: ext.cert, subjectAltNames: [extHost] } } },
  });
  let last: HttpResult | undefined;
  const r = await waitFor('TLS origination', async () => { last = await call('frontend', extHost, port.external); return last.status === 200 ? last : undefined; }, 20_000, 200)
    .catch((e: unknown) => { throw new Error(`${String(e)}; last answer ${last?.status} ${last?.body.slice(0, 300)}\n${sidecar('frontend').envoy.log().slice(-3000)}`); });
  assert.deepEqual(JSON.parse(r.body), { tls: true, sni: extHost });
  assert.ok(ext.seen.every((s) => s.encrypted && s.servername === extHost), JSON.stringify(ext.seen));
});

test('mesh config from the `istio` ConfigMap: REGISTRY_ONLY answers 502 for a host not in the registry; ALLOW_ANY passes it', async () => {
  const mode = (m: string): unknown => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: `outboundTrafficPolicy:\n  mode: ${m}\n` } });
  const unknown = (): Promise<HttpResult> => call('frontend', 'unknown.example.com', port.shadow);
  // ALLOW_ANY (the default): an unknown Host on a port one service owns still reaches it.
  const passed = await unknown();
  assert.equal(passed.status, 200, `ALLOW_ANY passes the unknown host: ${summarize([passed])}`);
  apply(mode('REGISTRY_ONLY'));
  await Promise.all(CALLERS.map(([from, m]) => waitFor(`unknown host blocked (${m})`, async () => (await call(from, 'unknown.example.com', port.shadow)).status === 502 || undefined, 20_000, 200)));
  assert.equal((await reviews('frontend')).status, 200, 'registry hosts still pass');
  apply(mode('ALLOW_ANY'));
  await waitFor('unknown host passing again', async () => (await unknown()).status === 200 || undefined, 20_000, 200);
});

test('kubectl apply of a Sidecar egress.hosts ["./*"]: the selected proxy keeps only its namespace\'s clusters and still reaches them', async () => {
  const hidden = `outbound|${port.elsewhere}||${host('elsewhere', OTHER)}`;
  const before = await outboundClusters(sidecar('frontend').envoy);
  assert.ok(before.includes(hidden), `every service before the Sidecar: ${before.join(' ')}`);
  apply({
    apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'frontend', namespace: NS },
    spec: { workloadSelector: { labels: { app: 'frontend' } }, egress: [{ hosts: ['./*'] }] },
  });
  const after = await waitFor('scoped clusters', async () => { const c = await outboundClusters(sidecar('frontend').envoy); return c.includes(hidden) ? undefined : c; }, 20_000, 200);
  console.log(`frontend's outbound clusters: ${before.length} before the Sidecar, ${after.length} after`);
  const inNamespace = (n: string): boolean => !n.endsWith('.svc.cluster.local') || n.endsWith(`.${NS}.svc.cluster.local`);
  assert.ok(before.some((n) => !inNamespace(n) && n !== hidden), `kubernetes.default is there before too: ${before.join(' ')}`);
  assert.deepEqual(after, before.filter(inNamespace), 'only the other namespaces\' clusters went');
  assert.equal((await reviews('frontend')).status, 200, 'the in-namespace service is still reachable');
  let names: string[] = [];
  await waitFor('hidden listener removed', async () => {
    names = await listenerNames(sidecar('frontend').envoy);
    return (names.length > 0 && !names.some((n) => n.endsWith(`_${port.elsewhere}`))) || undefined;
  }, 10_000, 200).catch(() => assert.fail(`no listener for the hidden service port ${port.elsewhere}: ${names.join(' ')}`));
  // The workloadSelector scopes frontend only: frontend-delta still sees the other namespace.
  assert.ok((await outboundClusters(sidecar('frontend-delta').envoy)).includes(hidden), 'an unselected proxy keeps its clusters');
});

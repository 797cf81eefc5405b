/**
 * `meshctl route check` and the traffic analyzers against a real meshd on a file store: the
 * real bin/meshctl asks meshd's /debug/routez (the route configuration meshd would send the
 * caller's proxy, translated for the named workload) with the admin token from the state dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, startMeshd } from '../helpers/meshd.js';

interface Run { status: number | null; stdout: string; stderr: string }

const R = 'reviews.shop.svc.cluster.local';
const E = R.replace(/\./g, '\\.');
const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v1, namespace: shop }
spec: { address: 127.0.0.11, labels: { app: reviews, version: v1 }, serviceAccount: reviews, ports: { http: 9080 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v2, namespace: shop }
spec: { address: 127.0.0.12, labels: { app: reviews, version: v2 }, serviceAccount: reviews, ports: { http: 9080 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: web, namespace: shop }
spec: { address: 127.0.0.13, labels: { app: web }, serviceAccount: web }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec: { host: reviews, subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
  - name: tester
    match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
    timeout: 0.5s
    retries: { attempts: 3, retryOn: 5xx }
  - name: split
    route: [{ destination: { host: reviews, subset: v1 }, weight: 90 }, { destination: { host: reviews, subset: v3 }, weight: 10 }]
`;

test('meshctl route check against a running meshd', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshctl-route-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'mesh.yaml'), CONFIG);
  const m = await startMeshd({ configDir: dir });
  t.after(() => m.stop());
  const env = { MESHD_ADDR: `http://127.0.0.1:${m.adminPort}`, MESHD_STATE_DIR: m.stateDir };
  const run = (...args: string[]): Run => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const check = (...extra: string[]): Run => run('route', 'check', '--from', 'shop/web', '--host', 'reviews', '--port', '9080', ...extra);

  // The default request: table output, exit 0, the route meshd would send shop/web's proxy.
  const plain = check('--path', '/reviews/1');
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /^Request:\s+GET \/reviews\/1 {2}\(Host: reviews:9080, from shop\/web, proxy sidecar~127\.0\.0\.13~web\.shop~shop\.svc\.cluster\.local\)$/m);
  assert.match(plain.stdout, /^Route config:\s+9080$/m);
  assert.match(plain.stdout, new RegExp(`^Virtual host:\\s+${R.replace(/\./g, '\\.')}:9080$`, 'm'));
  // No header: the VirtualService's second rule, a 90/10 split; v3 has no DestinationRule
  // subset, so the proxy gets no such cluster and meshctl says those requests get 503.
  assert.match(plain.stdout, /^Route:\s+#1 "split" \(match: prefix \/\)$/m);
  assert.match(plain.stdout, /^VirtualService:\s+shop\/reviews spec\.http\[1\]$/m);
  assert.match(plain.stdout, /^Timeout:\s+none \(0s\)$/m);
  assert.match(plain.stdout, new RegExp(`^outbound\\|9080\\|v1\\|${E}\\s+${E}\\s+9080\\s+v1\\s+90\\s+90%\\s+yes$`, 'm'));
  assert.match(plain.stdout, new RegExp(`^outbound\\|9080\\|v3\\|${E}\\s+${E}\\s+9080\\s+v3\\s+10\\s+10%\\s+NO \\(503\\)$`, 'm'));
  assert.match(plain.stdout, /those requests get 503/);
  // The tester header: the first rule, v2, with its timeout and retries.
  const tester = check('--path', '/reviews/1', '-H', 'end-user=jason');
  assert.equal(tester.status, 0, tester.stderr);
  assert.match(tester.stdout, /^Route:\s+#0 "tester" \(match: prefix \/, header end-user \{"exact":"jason"\}\)$/m);
  assert.match(tester.stdout, /^VirtualService:\s+shop\/reviews spec\.http\[0\]\.match\[0\]$/m);
  assert.match(tester.stdout, /^Timeout:\s+0\.5s$/m);
  assert.match(tester.stdout, /^Retries:\s+3 on 5xx$/m);
  assert.match(tester.stdout, new RegExp(`^outbound\\|9080\\|v2\\|${E}\\s+${E}\\s+9080\\s+v2\\s+100\\s+100%\\s+yes$`, 'm'));

  // JSON: the same answer as data, with the proxy meshd translated for.
  const json = check('--header', 'end-user=jason', '-o', 'json');
  assert.equal(json.status, 0, json.stderr);
  const j = JSON.parse(json.stdout) as { outcome: string; request: { headers: string[][] }; destinations: { cluster: string; sent: boolean }[]; proxy: { connected: boolean; interceptionMode: string } };
  assert.equal(j.outcome, 'route');
  assert.deepEqual(j.request.headers, [['end-user', 'jason']]);
  assert.deepEqual(j.destinations.map((d) => [d.cluster, d.sent]), [[`outbound|9080|v2|${R}`, true]]);
  assert.deepEqual((JSON.parse(json.stdout) as { origin: unknown }).origin, { kind: 'VirtualService', namespace: 'shop', name: 'reviews', rule: 0, match: 0 });
  assert.deepEqual(j.proxy, { id: 'sidecar~127.0.0.13~web.shop~shop.svc.cluster.local', connected: false, interceptionMode: 'NONE' });

  // A port with no HTTP service: a clear no-route line, exit 1.
  const none = run('route', 'check', '--from', 'shop/web', '--host', 'reviews', '--port', '9999');
  assert.equal(none.status, 1);
  assert.match(none.stdout, /^no route: no HTTP route configuration for port 9999/m);
  // Transparent interception: a host outside the registry passes through (ALLOW_ANY).
  const redirect = run('route', 'check', '--from', 'shop/web', '--host', 'ratings', '--port', '9080', '--interception', 'REDIRECT', '-o', 'json');
  assert.equal(redirect.status, 0, redirect.stderr);
  assert.deepEqual((JSON.parse(redirect.stdout) as { destinations: { cluster: string }[] }).destinations.map((d) => d.cluster), ['PassthroughCluster']);

  // Bad input: an unknown workload, a bad --from; each one line, no stack.
  const ghost = run('route', 'check', '--from', 'shop/ghost', '--host', 'reviews', '--port', '9080');
  assert.equal(ghost.status, 1);
  assert.match(ghost.stderr.trim(), /^meshctl route check: meshd at \S+ answered 404 for \/debug\/routez: no workload shop\/ghost in the registry/);
  const bad = run('route', 'check', '--from', 'ghost', '--host', 'reviews', '--port', '9080');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trim(), /^meshctl route check: --from must be <namespace>\/<workload>/);
  // /debug/routez keeps the admin access rules: a read route (open on loopback, behind the token when exposed).
  const index = await m.adminJson<{ routes: { path: string; access: string; needs?: string }[] }>('/debug');
  assert.deepEqual(index.routes.filter((r) => r.path === '/debug/routez').map((r) => [r.access, r.needs]), [['read', 'get debug.meshd.dev']]);

  // meshctl analyze (meshd's /debug/analyze) names the subset no DestinationRule defines.
  const an = run('analyze', '-o', 'json');
  const findings = JSON.parse(an.stdout) as { analyzer: string; kind: string; namespace: string; name: string; field: string }[];
  assert.deepEqual(findings.filter((f) => f.analyzer === 'missing-subset').map((f) => `${f.kind} ${f.namespace}/${f.name} ${f.field}`), ['VirtualService shop/reviews spec.http[1].route[1].destination.subset']);
  assert.match(run('analyze').stdout, /^Warning \[missing-subset\] \(VirtualService shop\/reviews spec\.http\[1\]\.route\[1\]\.destination\.subset\) subset "v3"/m);
});

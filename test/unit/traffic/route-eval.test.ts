/**
 * Simulation table: mesh YAML → translate() → the RouteConfiguration a proxy gets → the
 * evaluator (src/xds/translate/route-eval.ts) says where each request goes. Behaviour, not
 * structure: each row is one request and the cluster/subset, timeout and retries it gets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic, type MeshSnapshot, type ProxyInfo } from '../../../src/model/types.js';
import { translate } from '../../../src/xds/translate/index.js';
import { evaluateRoute, parseClusterName, selectVirtualHost, type RouteRequest } from '../../../src/xds/translate/route-eval.js';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';

/** A snapshot from YAML documents (every one must parse). */
export function snapshotOf(text: string): MeshSnapshot {
  const objects: MeshObject[] = [];
  for (const d of YAML.parseAllDocuments(text)) {
    const r = parseObject(d.toJS(), { source: 'test.yaml', defaultNamespace: 'default' }, { domainSuffix: 'cluster.local' });
    assert.equal(r.status, 'ok', r.diagnostics.map(formatDiagnostic).join('\n'));
    if (r.status === 'ok') objects.push(r.object);
  }
  return buildSnapshot(objects, DEFAULT_MESH_CONFIG, 1);
}

function proxy(namespace: string, labels: Record<string, string> = {}, name = 'client'): ProxyInfo {
  return { id: `sidecar~127.0.0.9~${name}.${namespace}~${namespace}.svc.cluster.local`, ip: '127.0.0.9', workloadName: name, namespace, labels, interceptionMode: 'NONE', proxyless: false };
}

const MESH = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec: {selector: {app: ratings}, ports: [{name: http, port: 9080}, {name: http-admin, port: 9090}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  hosts: [reviews]
  http:
  - name: tester
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: slow-api
    match: [{uri: {prefix: /api}, method: {exact: POST}}]
    timeout: 0.5s
    retries: {attempts: 3, perTryTimeout: 0.2s, retryOn: "5xx,503"}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: debug
    match: [{queryParams: {debug: {exact: "1"}}}, {uri: {regex: "/items/[0-9]+"}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: ratings-port
    match: [{uri: {exact: /r}}]
    route: [{destination: {host: ratings, port: {number: 9090}}}]
  - name: mirror
    match: [{uri: {prefix: /m}}]
    mirror: {host: ratings}
    mirrorPercentage: {value: 25}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: ghost
    match: [{uri: {prefix: /ghost}}]
    route: [{destination: {host: nowhere}}]
  - name: canary
    route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-late, namespace: shop, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  http: [{route: [{destination: {host: ratings}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  exportTo: ["."]
  http:
  - match: [{port: 9090}]
    route: [{destination: {host: ratings, port: {number: 9090}}}]
    timeout: 2s
  - match: [{sourceLabels: {app: productpage}}]
    route: [{destination: {host: ratings, subset: gold, port: {number: 9080}}}]
  - route: [{destination: {host: ratings, port: {number: 9080}}}]
`;

interface Row {
  readonly name: string;
  readonly proxy?: ProxyInfo;
  readonly req: RouteRequest;
  /** `cluster=percent` per target, or a status for direct responses / 404. */
  readonly want: string;
  readonly timeout?: string;
  readonly retries?: string;
  readonly fault?: string;
  readonly mirrors?: string;
}

const REVIEWS = 'reviews.shop.svc.cluster.local';
const RATINGS = 'ratings.shop.svc.cluster.local';
const TABLE: Row[] = [
  { name: 'default canary split', req: { host: 'reviews', port: 9080, path: '/' }, want: `outbound|9080|v1|${REVIEWS}=90 outbound|9080|v2|${REVIEWS}=10`, timeout: '0s', retries: '2:connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes,reset-before-request:' },
  { name: 'header match sends the tester to v2', req: { host: `${REVIEWS}:9080`, headers: { 'End-User': 'jason' } }, want: `outbound|9080|v2|${REVIEWS}=100` },
  { name: 'other user: canary', req: { host: REVIEWS, port: 9080, headers: { 'end-user': 'bob' } }, want: `outbound|9080|v1|${REVIEWS}=90 outbound|9080|v2|${REVIEWS}=10` },
  { name: 'POST /api: timeout and retries', req: { host: 'reviews.shop', port: 9080, path: '/api/x', method: 'POST' }, want: `outbound|9080|v1|${REVIEWS}=100`, timeout: '0.5s', retries: '3:5xx,retriable-status-codes:503:0.2s' },
  { name: 'GET /api: not the POST rule', req: { host: 'reviews.shop', port: 9080, path: '/api/x' }, want: `outbound|9080|v1|${REVIEWS}=90 outbound|9080|v2|${REVIEWS}=10` },
  { name: 'query param match: fault', req: { host: 'reviews', port: 9080, path: '/x?debug=1' }, want: `outbound|9080|v1|${REVIEWS}=100`, fault: 'abort 503 50%' },
  { name: 'regex uri is a full match', req: { host: 'reviews', port: 9080, path: '/items/42' }, want: `outbound|9080|v1|${REVIEWS}=100`, fault: 'abort 503 50%' },
  { name: 'regex uri does not match a longer path', req: { host: 'reviews', port: 9080, path: '/items/42/x' }, want: `outbound|9080|v1|${REVIEWS}=90 outbound|9080|v2|${REVIEWS}=10` },
  { name: 'destination port', req: { host: 'reviews', port: 9080, path: '/r' }, want: `outbound|9090||${RATINGS}=100` },
  { name: 'mirror 25%', req: { host: 'reviews', port: 9080, path: '/m' }, want: `outbound|9080|v1|${REVIEWS}=100`, mirrors: `outbound|9080||${RATINGS}=25` },
  { name: 'unknown destination host answers 503', req: { host: 'reviews', port: 9080, path: '/ghost' }, want: 'status 503' },
  { name: 'ratings on 9090: port match', req: { host: 'ratings', port: 9090, path: '/' }, want: `outbound|9090||${RATINGS}=100`, timeout: '2s' },
  { name: 'ratings on 9080: port rule left out', req: { host: 'ratings', port: 9080, path: '/' }, want: `outbound|9080||${RATINGS}=100`, timeout: '0s' },
  { name: 'sourceLabels: a proxy without the labels gets the plain route', proxy: proxy('shop', {}, 'productpage'), req: { host: 'ratings', port: 9080 }, want: `outbound|9080||${RATINGS}=100` },
  { name: 'ratings exported to its namespace only: default route elsewhere', proxy: proxy('other'), req: { host: RATINGS, port: 9090 }, want: `outbound|9090||${RATINGS}=100`, timeout: '0s' },
  { name: 'short name outside the namespace: no vhost (404)', proxy: proxy('other'), req: { host: 'reviews', port: 9080 }, want: 'no-vhost' },
];

function describe(cfgs: readonly EnvoyObject[], row: Row): Record<string, string | undefined> {
  const port = row.req.port ?? Number(/:(\d+)$/.exec(row.req.host)?.[1]);
  const cfg = cfgs.find((c) => c.name === String(port));
  assert.ok(cfg, `route configuration ${port}`);
  const d = evaluateRoute(cfg, row.req);
  if (d.kind === 'no-vhost' || d.kind === 'no-route') return { want: d.kind };
  if (d.kind !== 'route') return { want: `status ${d.status}` };
  const r = d.retries;
  return {
    want: d.clusters.map((c) => `${c.cluster}=${Math.round(c.percent)}`).join(' '),
    timeout: d.timeout,
    retries: r ? `${r.attempts}:${r.retryOn}:${r.retriableStatusCodes.join(',')}${r.perTryTimeout ? ':' + r.perTryTimeout : ''}` : undefined,
    fault: d.fault?.abort ? `abort ${d.fault.abort.httpStatus} ${d.fault.abort.percent}%` : undefined,
    mirrors: d.mirrors.map((m) => `${m.cluster}=${m.percent}`).join(' ') || undefined,
  };
}

test('route simulation table: request → cluster/subset, timeout, retries, fault, mirrors', () => {
  const snapshot = snapshotOf(MESH);
  for (const row of TABLE) {
    const p = row.proxy ?? proxy('shop');
    const r = translate(snapshot, p);
    const got = describe(r.routes.flat(), row);
    assert.equal(got.want, row.want, `${row.name}: destination`);
    for (const k of ['timeout', 'retries', 'fault', 'mirrors'] as const) if (row[k] !== undefined) assert.equal(got[k], row[k], `${row.name}: ${k}`);
  }
});

test('sourceLabels are decided per proxy and proxies with equal inputs share the route chunk', () => {
  const snapshot = snapshotOf(MESH + `
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: productpage, namespace: shop}
spec: {address: 127.0.0.7, labels: {app: productpage}, serviceAccount: productpage}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: productpage2, namespace: shop}
spec: {address: 127.0.0.8, labels: {app: productpage, v: "2"}, serviceAccount: productpage}
`);
  const pp = translate(snapshot, proxy('shop', {}, 'productpage'));
  const pp2 = translate(snapshot, proxy('shop', {}, 'productpage2'));
  const other = translate(snapshot, proxy('shop', {}, 'nobody'));
  const gold = (r: typeof pp): string => {
    const d = evaluateRoute(r.routes.flat().find((c) => c.name === '9080')!, { host: 'ratings', port: 9080 });
    return d.kind === 'route' ? d.clusters[0]!.cluster : d.kind;
  };
  assert.equal(gold(pp), `outbound|9080|gold|${RATINGS}`);
  assert.equal(gold(other), `outbound|9080||${RATINGS}`);
  assert.equal(pp.routes[0], pp2.routes[0], 'equal route inputs: one shared chunk');
  assert.notEqual(pp.routes[0], other.routes[0]);
});

test('conflicting route sets: the oldest wins, the other gets a diagnostic', () => {
  const r = translate(snapshotOf(MESH), proxy('shop'));
  const msgs = r.diagnostics.map(formatDiagnostic);
  assert.ok(msgs.some((m) => m.includes('VirtualService shop/reviews-late') && m.includes('shop/reviews, which wins')), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.includes('destination host nowhere.shop.svc.cluster.local is not in the registry')), msgs.join('\n'));
});

test('evaluator: domain precedence and cluster names', () => {
  const cfg = { virtual_hosts: [
    { name: 'any', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }] },
    { name: 'suffix', domains: ['*.example.com'], routes: [{ match: { prefix: '/' }, route: { cluster: 'b' } }] },
    { name: 'exact', domains: ['x.example.com'], routes: [{ match: { path_separated_prefix: '/foo' }, route: { cluster: 'c' } }] },
  ] };
  assert.equal(selectVirtualHost(cfg, 'X.example.com')?.name, 'exact');
  assert.equal(selectVirtualHost(cfg, 'y.example.com')?.name, 'suffix');
  assert.equal(selectVirtualHost(cfg, 'other')?.name, 'any');
  assert.equal(evaluateRoute(cfg, { host: 'x.example.com', path: '/foo/bar' }).kind, 'route');
  assert.equal(evaluateRoute(cfg, { host: 'x.example.com', path: '/foobar' }).kind, 'no-route');
  assert.deepEqual(parseClusterName('outbound|80|v2|h.ns.svc.cluster.local'), { port: 80, subset: 'v2', host: 'h.ns.svc.cluster.local' });
  assert.deepEqual(parseClusterName('outbound|80||h'), { port: 80, host: 'h' });
});

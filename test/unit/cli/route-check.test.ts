/**
 * `meshctl route check` over a hand-written RouteConfiguration (the shape VirtualService
 * translation produces): a simulation table (request → outcome, clusters, weights, policies)
 * and the exact table and JSON text for a few requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../src/demo/topology.js';
import { checkRoute, fractionPercent, parseClusterName, routeOrigin, type RouteRequest } from '../../../src/cli/route-check.js';
import { formatRouteCheck, splitHeaders } from '../../../src/cli/route-check-command.js';
import { deepFreeze } from '../../../src/config/snapshot.js';

const R = 'reviews.shop.svc.cluster.local';
const c = (subset: string): string => `outbound|9080|${subset}|${R}`;
/** The route origin as VirtualService translation writes it (ROUTE_ORIGIN_KEY in src/xds/translate/http-routes.ts). */
const vsMeta = (rule: number): unknown => ({ filter_metadata: { 'meshd.dev/route': { kind: 'VirtualService', namespace: 'shop', name: 'reviews', rule } } });

const ROUTES = deepFreeze([{
  name: '9080',
  virtual_hosts: [
    {
      name: `${R}:9080`, domains: [R, `${R}:9080`, 'reviews.shop.svc', 'reviews.shop', 'reviews', 'reviews:9080', '10.96.0.10', '10.96.0.10:9080'],
      routes: [
        {
          name: 'tester', match: { prefix: '/', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] }, metadata: vsMeta(0),
          route: { cluster: c('v2'), timeout: '0.5s', retry_policy: { retry_on: '5xx', num_retries: 3, per_try_timeout: '0.2s' },
            request_mirror_policies: [{ cluster: c('v3'), runtime_fraction: { default_value: { numerator: 50, denominator: 'HUNDRED' } } }] },
          typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
            abort: { http_status: 503, percentage: { numerator: 10, denominator: 'HUNDRED' } }, delay: { fixed_delay: '2s', percentage: { numerator: 500000, denominator: 'MILLION' } } } },
        },
        { name: 'api', match: { safe_regex: { regex: '/api/v[0-9]+/.*' }, query_parameters: [{ name: 'debug', present_match: true }] }, metadata: vsMeta(1), direct_response: { status: 418 } },
        { name: 'old', match: { path: '/old', case_sensitive: false }, metadata: vsMeta(2), redirect: { path_redirect: '/new', response_code: 'FOUND' } },
        { name: 'nope', match: { prefix: '/nope', headers: [{ name: 'x-canary', present_match: true, invert_match: true }] }, metadata: vsMeta(3), route: { cluster: c('v9'), timeout: '0s', retry_policy: { num_retries: 0 } } },
        { match: { prefix: '/' }, metadata: vsMeta(4), route: { weighted_clusters: { clusters: [{ name: c('v1'), weight: 90 }, { name: c('v2'), weight: 10 }] }, timeout: '0s' } },
      ],
    },
    { name: 'ext', domains: ['*.example.com', '*.example.com:9080'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'outbound|9080||api.example.com' } }] },
  ],
}]);
const CLUSTERS = new Set([c(''), c('v1'), c('v2'), c('v3'), 'outbound|9080||api.example.com']);

const req = (over: Partial<RouteRequest>): RouteRequest => ({ from: 'shop/web', host: 'reviews', port: 9080, path: '/', method: 'GET', headers: [], ...over });

test('route check: a simulation table over a fixed RouteConfiguration', () => {
  const table: { req: Partial<RouteRequest>; outcome: string; route?: string; clusters?: string; status?: number }[] = [
    { req: {}, outcome: 'route', route: '#4', clusters: `${c('v1')}=90 ${c('v2')}=10` },
    { req: { headers: [['end-user', 'jason']] }, outcome: 'route', route: '#0 tester', clusters: `${c('v2')}=100` },
    { req: { headers: [['end-user', 'JASON']] }, outcome: 'route', route: '#4' },
    { req: { host: R }, outcome: 'route', route: '#4' },
    { req: { host: '10.96.0.10' }, outcome: 'route', route: '#4' },
    { req: { path: '/api/v2/x?debug=1' }, outcome: 'direct-response', route: '#1 api', status: 418 },
    { req: { path: '/api/v2/x' }, outcome: 'route', route: '#4' },
    { req: { path: '/api/vx/x?debug' }, outcome: 'route', route: '#4' },
    { req: { path: '/OLD' }, outcome: 'redirect', route: '#2 old', status: 302 },
    { req: { path: '/nope/x' }, outcome: 'route', route: '#3 nope', clusters: `${c('v9')}=100` },
    { req: { path: '/nope/x', headers: [['x-canary', '1']] }, outcome: 'route', route: '#4' },
    { req: { host: 'a.example.com' }, outcome: 'route', route: '#0 default', clusters: 'outbound|9080||api.example.com=100' },
    { req: { host: 'example.com' }, outcome: 'no-virtual-host', status: 404 },
    { req: { host: 'ratings' }, outcome: 'no-virtual-host', status: 404 },
    { req: { port: 8080 }, outcome: 'no-route-config', status: 404 },
  ];
  for (const row of table) {
    const r = checkRoute(ROUTES, req(row.req), CLUSTERS);
    const what = JSON.stringify(row.req);
    assert.equal(r.outcome, row.outcome, what);
    if (row.route) assert.equal(`#${r.route?.index}${r.route?.name ? ` ${r.route.name}` : ''}`, row.route, what);
    if (row.clusters) assert.equal(r.destinations.map((d) => `${d.cluster}=${d.weight}`).join(' '), row.clusters, what);
    if (row.status !== undefined) assert.equal(r.status, row.status, what);
  }
});

test('route check: policies, subsets, origin, and a cluster the proxy does not get', () => {
  const jason = checkRoute(ROUTES, req({ headers: [['end-user', 'jason']] }), CLUSTERS);
  assert.deepEqual(jason.origin, { kind: 'VirtualService', namespace: 'shop', name: 'reviews', rule: 0 });
  assert.equal(jason.timeout, '0.5s');
  assert.deepEqual(jason.retries, { attempts: 3, retryOn: '5xx', perTryTimeout: '0.2s' });
  assert.deepEqual(jason.fault, { delay: { fixedDelay: '2s', percent: 50 }, abort: { httpStatus: 503, percent: 10 } });
  assert.deepEqual(jason.mirrors, [{ cluster: c('v3'), host: R, subset: 'v3', percent: 50 }]);
  assert.deepEqual(jason.destinations, [{ cluster: c('v2'), host: R, port: 9080, subset: 'v2', weight: 100, percent: 100, sent: true }]);
  const split = checkRoute(ROUTES, req({}), CLUSTERS);
  assert.deepEqual(split.destinations.map((d) => [d.subset, d.percent]), [['v1', 90], ['v2', 10]]);
  const nope = checkRoute(ROUTES, req({ path: '/nope' }), CLUSTERS);
  assert.equal(nope.retries, null);
  assert.equal(nope.destinations[0]!.sent, false);
  assert.match(nope.summary, /no cluster outbound\|9080\|v9\|reviews\.shop\.svc\.cluster\.local: those requests get 503/);
});

test('route check: the table text', () => {
  assert.equal(formatRouteCheck(checkRoute(ROUTES, req({ headers: [['end-user', 'jason']] }), CLUSTERS), 'sidecar~127.0.0.2~web.shop~shop.svc.cluster.local'), `\
Request:        GET /  (Host: reviews:9080, from shop/web, proxy sidecar~127.0.0.2~web.shop~shop.svc.cluster.local)
  header        end-user: jason
Route config:   9080
Virtual host:   ${R}:9080
Route:          #0 "tester" (match: prefix /, header end-user {"exact":"jason"})
VirtualService: shop/reviews spec.http[0]
Timeout:        0.5s
Retries:        3 on 5xx, per try 0.2s
Fault:          delay 2s for 50%; abort 503 for 10%
Mirrors:        ${c('v3')} (50%)

CLUSTER                                           HOST                             PORT   SUBSET   WEIGHT   PERCENT   IN CDS
${c('v2')}   ${R}   9080   v2       100      100%      yes
VirtualService shop/reviews spec.http[0] → ${c('v2')}
`);
  assert.equal(formatRouteCheck(checkRoute(ROUTES, req({ host: 'ratings' }), CLUSTERS)), `\
Request:        GET /  (Host: ratings:9080, from shop/web)
no route: 404 (no virtual host for ratings:9080 in route configuration 9080)
`);
  const split = formatRouteCheck(checkRoute(ROUTES, req({}), CLUSTERS));
  assert.match(split, /^outbound\|9080\|v1\|reviews\.shop\.svc\.cluster\.local\s+reviews\.shop\.svc\.cluster\.local\s+9080\s+v1\s+90\s+90%\s+yes$/m);
  assert.match(split, /^Route:\s+#4 \(match: prefix \/\)$/m);
  assert.match(split, /→ outbound\|9080\|v1\|\S+ \(90%\), outbound\|9080\|v2\|\S+ \(10%\)$/m);
});

test('route check helpers: cluster names, percentages, origins, domains, headers', () => {
  assert.deepEqual(parseClusterName(c('v2')), { port: 9080, subset: 'v2', host: R });
  assert.deepEqual(parseClusterName(`outbound|9080||${R}`), { port: 9080, host: R });
  assert.equal(parseClusterName('PassthroughCluster'), undefined);
  assert.equal(fractionPercent(undefined), 100);
  assert.equal(fractionPercent({ numerator: 1, denominator: 'TEN_THOUSAND' }), 0.01);
  assert.equal(fractionPercent({ default_value: { numerator: 25 } }), 25);
  assert.deepEqual(routeOrigin({ metadata: { filter_metadata: { meshd: { kind: 'HTTPRoute', namespace: 'a', name: 'b' } } } }), { kind: 'HTTPRoute', namespace: 'a', name: 'b' });
  assert.equal(routeOrigin({ name: 'default' }), undefined);
  assert.deepEqual(routeOrigin({ metadata: { filter_metadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/shop/virtual-service/reviews' } } } }), { kind: 'VirtualService', namespace: 'shop', name: 'reviews' });
  assert.deepEqual(splitHeaders(['--header', 'A=1', '-H', 'b: 2', '--header=c=3=4', '--port', '1']), { headers: [['a', '1'], ['b', '2'], ['c', '3=4']], rest: ['--port', '1'] });
  assert.throws(() => splitHeaders(['--header', 'novalue']), /--header must be k=v/);
});

test('route check --config-dir: the real translation of a folder, with translation\'s notes on the matched VirtualService', () => {
  const dir = mkdtempSync(join(tmpdir(), 'route-check-'));
  try {
    writeFileSync(join(dir, 'mesh.yaml'), `
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: web, namespace: shop }
spec: { address: 127.0.0.13, labels: { app: web }, serviceAccount: web }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews }, weight: 80 }, { destination: { host: ghost }, weight: 20 }] }] }
`);
    const run = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'route', 'check', '--config-dir', dir, ...args], { encoding: 'utf8' });
    const r = run('--from', 'shop/web', '--host', 'reviews.shop', '--port', '9080');
    assert.equal(r.status, 0, String(r.stderr));
    const out = String(r.stdout);
    assert.match(out, /^VirtualService:\s+shop\/reviews spec\.http\[0\]$/m);
    assert.match(out, /^outbound\|9080\|\|reviews\.shop\.svc\.cluster\.local\s+reviews\.shop\.svc\.cluster\.local\s+9080\s+-\s+80\s+80%\s+yes$/m);
    assert.match(out, /^note: spec\.http\[0\]\.route\[1\]\.destination: destination host ghost\.shop\.svc\.cluster\.local is not in the registry/m);
    // Explicit interception with one service on the port: any other host takes the `*` virtual host to it (as Envoy would).
    assert.match(String(run('--from', 'shop/web', '--host', 'ratings.data', '--port', '9080').stdout), /^Virtual host:\s+default$/m);
    const none = run('--from', 'shop/web', '--host', 'reviews', '--port', '9999');
    assert.equal(none.status, 1);
    assert.match(String(none.stdout).trim().split('\n').pop()!, /^no route: no HTTP route configuration for port 9999/);
    const ghost = run('--from', 'shop/nobody', '--host', 'reviews', '--port', '9080');
    assert.equal(ghost.status, 1);
    assert.match(String(ghost.stderr), /^meshctl route check: no workload shop\/nobody in the registry/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

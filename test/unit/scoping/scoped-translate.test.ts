/** Translation with a learned scope (scoping.ts, index.ts, on-demand.ts): structure checked on the output. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translate } from '../../../src/xds/translate/index.js';
import { resolveScope, type ScopeDecision } from '../../../src/xds/translate/scoping.js';
import { ON_DEMAND_CLUSTER_HEADER, onDemandLua } from '../../../src/xds/translate/on-demand.js';
import { proxy, snap, svc } from '../traffic-xlate/snap.js';

const mesh = snap(svc('web', 'apps', [8080]) + svc('orders', 'shop', [9080]) + svc('stock', 'shop', [9080]) + svc('pay', 'bank', [7070]));
const web = proxy({ id: 'web', namespace: 'apps' });
const decision = (kept: string[], onDemand = true): ScopeDecision => Object.freeze({
  mode: 'observed', reason: 'test', onDemand,
  kept: kept.map((h) => ({ hostname: h, namespace: h.split('.')[1]!, source: 'observed' as const, lastSeen: 0, expiresAt: 1 })),
});
type Rec = Record<string, unknown>;
const names = (chunks: readonly (readonly Rec[])[]): string[] => chunks.flat().map((r) => String(r.name)).filter((n) => n.startsWith('outbound|')).sort();

test('a scoped proxy gets clusters for its namespace and its kept dependencies only; without a scope, all', () => {
  assert.deepEqual(names(translate(mesh, web).clusters), ['outbound|7070||pay.bank.svc.cluster.local', 'outbound|8080||web.apps.svc.cluster.local', 'outbound|9080||orders.shop.svc.cluster.local', 'outbound|9080||stock.shop.svc.cluster.local']);
  assert.deepEqual(names(translate(mesh, web, { scope: decision([]) }).clusters), ['outbound|8080||web.apps.svc.cluster.local']);
  assert.deepEqual(names(translate(mesh, web, { scope: decision(['orders.shop.svc.cluster.local']) }).clusters), ['outbound|8080||web.apps.svc.cluster.local', 'outbound|9080||orders.shop.svc.cluster.local']);
});

test('the scope is a synthetic Sidecar over the registry: equal decisions share one resolved scope and one cluster chunk', () => {
  const a = resolveScope(mesh, web, decision(['orders.shop.svc.cluster.local']));
  const b = resolveScope(mesh, web, decision(['orders.shop.svc.cluster.local']));
  assert.equal(a.key, b.key);
  assert.deepEqual(a.scope.hosts.map((h) => h.hostname), ['orders.shop.svc.cluster.local', 'web.apps.svc.cluster.local']);
  const ta = translate(mesh, web, { scope: a.decision });
  const tb = translate(mesh, proxy({ id: 'web-2', namespace: 'apps' }), { scope: b.decision });
  assert.equal(ta.clusters[0], tb.clusters[0], 'shared chunk');
});

test('on demand: every HTTP port keeps its listener; the HCM has Lua + on_demand before the router; the catch-all routes by the cluster header', () => {
  const out = translate(mesh, web, { scope: decision([]) });
  const listeners = out.listeners.flat() as Rec[];
  const outbound = listeners.filter((l) => l.traffic_direction === 'OUTBOUND');
  assert.equal(outbound.length, 3, 'ports 7070, 8080, 9080');
  for (const l of outbound) {
    const hcm = ((l.filter_chains as Rec[])[0]!.filters as Rec[])[0]!.typed_config as Rec;
    assert.deepEqual((hcm.http_filters as Rec[]).map((f) => f.name).slice(-3), ['envoy.filters.http.lua', 'envoy.filters.http.on_demand', 'envoy.filters.http.router']);
    const od = ((hcm.http_filters as Rec[]).find((f) => f.name === 'envoy.filters.http.on_demand')!.typed_config as Rec).odcds as Rec;
    assert.equal(((od.source as Rec).api_config_source as Rec).api_type, 'DELTA_GRPC');
  }
  const rc = (out.routes.flat() as Rec[]).find((r) => r.name === '9080')!;
  const vhosts = rc.virtual_hosts as Rec[];
  assert.deepEqual(vhosts.map((v) => v.name), ['on_demand'], 'orders and stock are out of scope: only the catch-all');
  const routes = vhosts[0]!.routes as Rec[];
  assert.equal((routes[0]!.route as Rec).cluster_header, ON_DEMAND_CLUSTER_HEADER);
});

test('without on demand, ports with no visible service lose their listener and routes', () => {
  const out = translate(mesh, web, { scope: decision([], false) });
  const ports = (out.listeners.flat() as Rec[]).filter((l) => l.traffic_direction === 'OUTBOUND').map((l) => String(l.name));
  assert.equal(ports.length, 1);
  assert.deepEqual((out.routes.flat() as Rec[]).map((r) => r.name), ['8080']);
});

test('the Lua source is deterministic and strips a header the app sent before setting its own', () => {
  const lua = onDemandLua(9080, 'apps', ['shop', 'bank', 'shop'], 'cluster.local');
  assert.equal(lua, onDemandLua(9080, 'apps', ['bank', 'shop'], 'cluster.local'));
  assert.ok(lua.indexOf(`hs:remove("${ON_DEMAND_CLUSTER_HEADER}")`) < lua.indexOf(`hs:add("${ON_DEMAND_CLUSTER_HEADER}"`));
  assert.match(lua, /\["bank"\]=true,\["shop"\]=true/);
});

test('translation does not mutate its inputs', () => {
  const frozen = Object.freeze(decision(['pay.bank.svc.cluster.local']));
  assert.doesNotThrow(() => translate(mesh, web, { scope: frozen }));
});

const policyMesh = snap(svc('web', 'apps', [8080]) + svc('orders', 'shop', [9080]) + svc('stock', 'shop', [9080]) + svc('pay', 'bank', [7070]) + `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: shop}
spec:
  host: orders.shop.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders, namespace: shop}
spec:
  hosts: [orders.shop.svc.cluster.local]
  http:
  - route:
    - {destination: {host: orders.shop.svc.cluster.local, subset: v1}, weight: 90}
    - {destination: {host: orders.shop.svc.cluster.local, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: apps}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
`);

test('a scoped proxy keeps the DestinationRule subsets and policy, the VirtualService routes and its namespace\'s ServiceEntries of what it sees', () => {
  const out = translate(policyMesh, web, { scope: decision(['orders.shop.svc.cluster.local']) });
  const full = translate(policyMesh, web);
  const clusters = out.clusters.flat() as Rec[];
  assert.deepEqual(names(out.clusters), ['outbound|443||api.example.com', 'outbound|8080||web.apps.svc.cluster.local', 'outbound|9080||orders.shop.svc.cluster.local', 'outbound|9080|v1|orders.shop.svc.cluster.local', 'outbound|9080|v2|orders.shop.svc.cluster.local'].sort());
  const fullOrders = (full.clusters.flat() as Rec[]).find((c) => c.name === 'outbound|9080|v1|orders.shop.svc.cluster.local');
  assert.deepEqual(clusters.find((c) => c.name === 'outbound|9080|v1|orders.shop.svc.cluster.local'), fullOrders, 'the same cluster (policy included) as without scoping');
  const rc = (out.routes.flat() as Rec[]).find((r) => r.name === '9080')!;
  const fullRc = (full.routes.flat() as Rec[]).find((r) => r.name === '9080')!;
  const ordersVhost = (rc.virtual_hosts as Rec[]).find((v) => (v.domains as string[]).includes('orders.shop.svc.cluster.local'));
  const fullVhost = (fullRc.virtual_hosts as Rec[]).find((v) => (v.domains as string[]).includes('orders.shop.svc.cluster.local'));
  assert.ok(ordersVhost, 'the kept dependency has its virtual host');
  assert.deepEqual(ordersVhost, fullVhost, 'with the VirtualService\'s weighted subset routes');
  assert.match(JSON.stringify(ordersVhost), /weighted_clusters/);
  assert.ok(!(rc.virtual_hosts as Rec[]).some((v) => (v.domains as string[]).includes('stock.shop.svc.cluster.local')), 'stock is out of scope');
});

test('on demand in explicit mode: the catch-all falls back to what the full translation\'s * host does (the only service on the port)', () => {
  const out = translate(mesh, web, { scope: decision([]) });
  const rc = (out.routes.flat() as Rec[]).find((r) => r.name === '7070')!;
  const routes = (rc.virtual_hosts as Rec[]).find((v) => v.name === 'on_demand')!.routes as Rec[];
  assert.equal(routes.length, 2);
  assert.equal((routes[1]!.route as Rec).cluster, 'outbound|7070||pay.bank.svc.cluster.local');
});

test('equal scopes share their on-demand route chunk; without a scope the output is the full translation', () => {
  const a = translate(mesh, web, { scope: decision(['orders.shop.svc.cluster.local']) });
  const b = translate(mesh, proxy({ id: 'web-2', namespace: 'apps' }), { scope: decision(['orders.shop.svc.cluster.local']) });
  assert.equal(a.routes[0], b.routes[0]);
  assert.equal(a.endpoints[0], b.endpoints[0]);
  assert.notEqual(a.routes[0], translate(mesh, web).routes[0]);
});

test('on demand, endpoints cover the full scope (a cluster discovered on demand gets its EDS); without on demand, the scope only', () => {
  const eds = (o: ReturnType<typeof translate>): string[] => o.endpoints.flat().map((e) => String((e as Rec).cluster_name)).sort();
  assert.deepEqual(eds(translate(mesh, web, { scope: decision([]) })), eds(translate(mesh, web)));
  assert.deepEqual(eds(translate(mesh, web, { scope: decision([], false) })), ['outbound|8080||web.apps.svc.cluster.local']);
});

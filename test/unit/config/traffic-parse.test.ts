/** Tables for the traffic parsers' shared rules: durations, hosts, regexes, exportTo, kinds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileStore } from '../../../src/config/file-store.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { parseObject } from '../../../src/config/parse.js';
import { parseGatewayDuration, parseGoDuration } from '../../../src/config/traffic/durations.js';
import { hostProblem, hostSubsetOf, resolveHost } from '../../../src/config/traffic/hosts.js';
import { regexProblem } from '../../../src/config/traffic/string-match.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic } from '../../../src/model/types.js';

const ctx = { source: 'mem.yaml', defaultNamespace: 'default' };

test('Istio durations: the spellings Istio accepts, in ms; garbage is refused', () => {
  const ms = (s: string): number | undefined => { const ns = parseGoDuration(s); return ns === undefined ? undefined : ns / 1e6; };
  const table: [string, number | undefined][] = [
    ['10s', 10000], ['0.5s', 500], ['500ms', 500], ['1m', 60000], ['1h', 3600000], ['1h30m', 5400000], ['1.5h', 5400000],
    ['0', 0], ['0s', 0], ['250us', 0.25], ['.5s', 500],
    ['10', undefined], ['-1s', undefined], ['10 s', undefined], ['s', undefined], ['1d', undefined], ['', undefined], ['1s2', undefined],
  ];
  for (const [s, want] of table) assert.equal(ms(s), want, s);
});

test('Gateway API durations: GEP-2257 (integers, h/m/s/ms, up to four parts)', () => {
  const table: [string, number | undefined][] = [
    ['10s', 10000], ['500ms', 500], ['1h30m', 5400000], ['0s', 0], ['1h1m1s1ms', 3661001],
    ['1.5s', undefined], ['1h1m1s1ms1s', undefined], ['10', undefined], ['1us', undefined], ['123456s', undefined],
  ];
  for (const [s, want] of table) assert.equal(parseGatewayDuration(s), want, s);
});

test('timeouts must be at least 1ms and to the millisecond; tcp idleTimeout may be 0s', () => {
  const vs = (timeout: string) => parseObject({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'r', namespace: 'ns' },
    spec: { hosts: ['r'], http: [{ timeout, route: [{ destination: { host: 'r' } }] }] },
  }, ctx);
  assert.equal(vs('1ms').status, 'ok');
  assert.deepEqual(vs('0s').diagnostics.map(formatDiagnostic), ['error: mem.yaml: VirtualService ns/r: spec.http[0].timeout: "0s": must be at least 1ms']);
  assert.deepEqual(vs('1.0005s').diagnostics.map(formatDiagnostic), ['error: mem.yaml: VirtualService ns/r: spec.http[0].timeout: "1.0005s": only millisecond precision is supported']);
  const dr = parseObject({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'ns' },
    spec: { host: 'r', trafficPolicy: { connectionPool: { tcp: { idleTimeout: '0s' } } } },
  }, ctx);
  assert.equal(dr.status, 'ok', JSON.stringify(dr.diagnostics));
});

test('hosts: DNS names, a leading "*." or "*"; short names resolve in the object namespace', () => {
  const ok = ['reviews', 'reviews.prod.svc.cluster.local', '*.example.com', 'A.Example.COM', 'x.example.com.'];
  for (const h of ok) assert.equal(hostProblem(h, { allowStar: true }), undefined, h);
  const bad = ['', 'reviews_v1', 'foo*.com', '*foo.com', 'a.*.com', '-a.com', 'a..b', 'a.123', 'x'.repeat(64) + '.com'];
  for (const h of bad) assert.notEqual(hostProblem(h, { allowStar: true }), undefined, h);
  assert.equal(hostProblem('*', { allowStar: false }), '"*" is not allowed here');
  assert.equal(resolveHost('Reviews', 'shop', 'cluster.local'), 'reviews.shop.svc.cluster.local');
  assert.equal(resolveHost('reviews.prod', 'shop', 'cluster.local'), 'reviews.prod');
  assert.equal(resolveHost('*.Example.com', 'shop', 'cluster.local'), '*.example.com');
  assert.equal(resolveHost('10.0.0.1', 'shop', 'cluster.local'), '10.0.0.1');
  assert.ok(hostSubsetOf('a.example.com', '*.example.com'));
  assert.ok(hostSubsetOf('*.a.example.com', '*.example.com'));
  assert.ok(!hostSubsetOf('example.com', '*.example.com'));
});

test('regexes are RE2: what RE2 rejects is rejected, what it accepts passes', () => {
  for (const re of ['^/api/v[0-9]+$', '(?i)abc', '(?P<id>[0-9]+)', '\\pL+', '[[:alpha:]]', 'a{2,1000}']) assert.equal(regexProblem(re), undefined, re);
  for (const re of ['(?=a)', '(?!a)', '(?<=a)b', '(a)\\1', 'a++', 'a{1001}', '[a-', '', 'x'.repeat(1025)]) assert.notEqual(regexProblem(re), undefined, re);
});

test('exportTo: ".", names, "*" alone, "~" only for ServiceEntry, no duplicates', () => {
  const vs = (exportTo: unknown) => parseObject({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'r', namespace: 'ns' },
    spec: { hosts: ['r'], exportTo, http: [{ route: [{ destination: { host: 'r' } }] }] },
  }, ctx);
  const value = (r: ReturnType<typeof vs>) => (r.status === 'ok' ? (r.object.value as unknown as { exportTo: string[] }).exportTo : r.diagnostics.map((d) => `${d.field}: ${d.message}`));
  assert.deepEqual(value(vs(undefined)), ['*']);
  assert.deepEqual(value(vs(['.', 'b', 'a'])), ['a', 'b', 'ns']);
  assert.deepEqual(value(vs(['*', 'a'])), ['spec.exportTo: "*" must be the only entry']);
  assert.deepEqual(value(vs(['.', 'ns'])), ['spec.exportTo[1]: duplicate entry "ns" (. is namespace ns)']);
  assert.deepEqual(value(vs(['~'])), ['spec.exportTo[0]: "~" (exported to no one) is only allowed for ServiceEntry']);
  assert.deepEqual(value(vs(['Bad_Ns'])), ['spec.exportTo[0]: "Bad_Ns" must be ".", "*", "~" or a namespace name']);
});

test('all three networking apiVersions read the same; a gateway-only VirtualService is ignored with a warning', () => {
  for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
    const r = parseObject({ apiVersion: `networking.istio.io/${v}`, kind: 'Sidecar', metadata: { name: 's', namespace: 'ns' }, spec: { egress: [{ hosts: ['./*'] }] } }, ctx);
    assert.equal(r.status, 'ok', v);
  }
  const g = parseObject({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'r', namespace: 'ns' },
    spec: { hosts: ['r.example.com'], gateways: ['ingress'], http: [{ route: [{ destination: { host: 'r' } }] }] },
  }, ctx);
  assert.equal(g.status, 'ignored');
  assert.match(g.diagnostics[0]!.message, /not applied to sidecars/);
  const bad = parseObject({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'r', namespace: 'ns' },
    spec: { hosts: ['r.example.com'], gateways: ['ingress'], http: [{ route: [{ destination: { host: 'r' } }], retry: {} }] },
  }, ctx);
  assert.equal(bad.status, 'invalid', 'a gateway-only VirtualService is still validated');
});

test('WorkloadEntry locality and weight reach the model; a bad locality is an error', () => {
  const we = (spec: Record<string, unknown>) => parseObject({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'w', namespace: 'ns' }, spec: { address: '10.0.0.1', ...spec } }, ctx);
  const r = we({ locality: 'us-east1/us-east1-b', weight: 3 });
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.status === 'ok' && r.object.kind === 'WorkloadEntry' ? [r.object.value.locality, r.object.value.weight] : [], [{ region: 'us-east1', zone: 'us-east1-b' }, 3]);
  assert.deepEqual(we({ locality: 'a//b' }).diagnostics.map((d) => d.field), ['spec.locality']);
});

test('the file store reads the traffic kinds and the snapshot files them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-traffic-store-'));
  try {
    writeFileSync(join(dir, 'mesh.yaml'), `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v1}}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec: {hosts: [api.example.com], ports: [{number: 443, name: https, protocol: HTTPS}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec: {egress: [{hosts: ["./*"]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ratings, namespace: shop}
spec: {parentRefs: [{group: "", kind: Service, name: ratings}], rules: [{backendRefs: [{name: ratings-v1, port: 9080}]}]}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: lua, namespace: shop}
spec: {}
`);
    const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0 });
    await store.start();
    assert.deepEqual(store.diagnostics().map(formatDiagnostic), [`warning: ${join(dir, 'mesh.yaml')}: EnvoyFilter shop/lua: kind: networking.istio.io/v1alpha3 EnvoyFilter is not a kind this mesh reads; ignored`]);
    const s = buildSnapshot(store.objects(), DEFAULT_MESH_CONFIG, 1);
    assert.deepEqual(s.routeSets.map((r) => `${r.origin}/${r.meta.name}`), ['HTTPRoute/ratings', 'VirtualService/reviews']);
    assert.equal(s.destinationRules.length, 1);
    assert.equal(s.serviceEntries.length, 1);
    assert.equal(s.sidecars.length, 1);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translate, sharedChunkKey } from '../../../src/xds/translate/index.js';
import { freeze } from '../../../src/xds/translate/common.js';
import { routeHashPolicy, subsetNames } from '../../../src/xds/translate/dest-clusters.js';
import { proxy, snap, svc } from './snap.js';

const DR = (ns: string, host: string, extra = ''): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr-${ns}, namespace: ${ns}}
spec:
  host: ${host}
  subsets: [{name: v1, labels: {version: v1}}]
${extra}---
`;

test('proxies without a Sidecar or DestinationRule of their own share one cluster chunk and one endpoint chunk', () => {
  const s = freeze(snap(svc('a', 'ns1') + svc('b', 'ns2') + DR('ns2', 'b')));
  const outs = Array.from({ length: 200 }, (_, i) => translate(s, proxy({ id: `p${i}`, namespace: `team${i % 7}` })));
  for (const o of outs) {
    assert.equal(o.clusters[0], outs[0]!.clusters[0]);
    assert.equal(o.endpoints[0], outs[0]!.endpoints[0]);
  }
  assert.ok(sharedChunkKey(outs[0]!.clusters[0]!), 'the cluster chunk is a shared chunk');
  // The DestinationRule lives in the host's namespace, so it applies to everyone: the subset cluster is in the shared chunk.
  assert.ok(outs[0]!.clusters[0]!.some((c) => c.name === 'outbound|80|v1|b.ns2.svc.cluster.local'));
});

test('a DestinationRule in the proxy\'s own namespace gives that namespace its own chunk; others keep sharing', () => {
  const s = freeze(snap(svc('a', 'ns1') + svc('b', 'ns2') + DR('client', 'b.ns2.svc.cluster.local', '  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n')));
  const own = translate(s, proxy({ namespace: 'client' }));
  const other1 = translate(s, proxy({ namespace: 'x' }));
  const other2 = translate(s, proxy({ namespace: 'y' }));
  assert.notEqual(own.clusters[0], other1.clusters[0]);
  assert.equal(other1.clusters[0], other2.clusters[0]);
  assert.equal(own.clusters[0]!.find((c) => c.name === 'outbound|80||b.ns2.svc.cluster.local')?.lb_policy, 'RANDOM');
  assert.equal(other1.clusters[0]!.find((c) => c.name === 'outbound|80||b.ns2.svc.cluster.local')?.lb_policy, 'ROUND_ROBIN');
});

test('routeHashPolicy gives the route side the hash key of the DestinationRule that applies; subsetNames lists subsets', () => {
  const s = snap(svc('a', 'ns1') + DR('ns1', 'a', `  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 10s}}}
    portLevelSettings:
    - port: {number: 80}
      loadBalancer: {consistentHash: {httpHeaderName: x-user}}
`));
  assert.deepEqual(routeHashPolicy(s, proxy({ namespace: 'ns1' }), 'a.ns1.svc.cluster.local', 80), [{ header: { header_name: 'x-user' } }]);
  assert.deepEqual(routeHashPolicy(s, proxy({ namespace: 'ns1' }), 'a.ns1.svc.cluster.local', 81), [{ cookie: { name: 'user', ttl: '10s' } }]);
  assert.equal(routeHashPolicy(s, proxy({ namespace: 'ns1' }), 'nope.ns1.svc.cluster.local', 80), undefined);
  assert.deepEqual(subsetNames(s, proxy({ namespace: 'ns1' }), 'a.ns1.svc.cluster.local'), ['v1']);
});

test('translation never mutates its (frozen) input, and is deterministic', () => {
  const yaml = svc('a', 'ns1') + DR('ns1', 'a', '  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}, tls: {mode: ISTIO_MUTUAL}}\n');
  const a = translate(freeze(snap(yaml)), proxy({ namespace: 'ns1' }));
  const b = translate(freeze(snap(yaml)), proxy({ namespace: 'ns1' }));
  assert.deepEqual(a, b);
});

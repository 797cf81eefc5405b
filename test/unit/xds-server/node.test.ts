import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageType } from '../../../src/xds/protos.js';
import { isProxyless, nodeInfoOf, proxyInfoOf, structToJson } from '../../../src/xds/server/node.js';

function roundTrip(node: Record<string, unknown>): unknown {
  const N = messageType('envoy.config.core.v3.Node');
  return N.decode(N.encode(N.fromObject(node)).finish());
}

test('Struct metadata becomes plain JSON (strings, numbers, bools, nested, lists)', () => {
  const md = { NAMESPACE: 'prod', N: 3, B: true, LABELS: { app: 'reviews', version: 'v1' }, L: ['a', 1], Z: null };
  const n = nodeInfoOf(roundTrip({ id: 'x', metadata: md }));
  assert.deepEqual(n?.metadata, { B: true, L: ['a', 1], LABELS: { app: 'reviews', version: 'v1' }, N: 3, NAMESPACE: 'prod', Z: null });
  assert.deepEqual(structToJson(undefined), {});
});

test('Istio sidecar node id and metadata give ProxyInfo', () => {
  const node = nodeInfoOf(
    roundTrip({
      id: 'sidecar~10.1.2.3~reviews-v1-abc.prod~prod.svc.cluster.local',
      metadata: { WORKLOAD_NAME: 'reviews-v1', LABELS: { app: 'reviews' }, INTERCEPTION_MODE: 'NONE' },
    }),
  )!;
  const r = proxyInfoOf(node, '127.0.0.1:5555');
  assert.ok(r.ok);
  assert.deepEqual(r.info, {
    id: node.id,
    ip: '10.1.2.3',
    workloadName: 'reviews-v1',
    namespace: 'prod',
    labels: { app: 'reviews' },
    interceptionMode: 'NONE',
    proxyless: false,
  });
});

test('proxyless gRPC nodes are accepted with any id; other unparseable ids are refused', () => {
  const grpcNode = nodeInfoOf(roundTrip({ id: 'my-client-42', user_agent_name: 'gRPC Node', metadata: { NAMESPACE: 'shop' } }))!;
  assert.equal(isProxyless(grpcNode), true);
  const r = proxyInfoOf(grpcNode, '[::1]:4000');
  assert.ok(r.ok);
  assert.equal(r.info.proxyless, true);
  assert.equal(r.info.namespace, 'shop');
  assert.equal(r.info.ip, '::1');
  const flagged = nodeInfoOf(roundTrip({ id: 'whatever', metadata: { PROXYLESS: 'true', INSTANCE_IPS: '10.0.0.7' } }))!;
  const f = proxyInfoOf(flagged, '127.0.0.1:1');
  assert.ok(f.ok && f.info.proxyless && f.info.ip === '10.0.0.7' && f.info.namespace === 'default');
  assert.equal(isProxyless(nodeInfoOf(roundTrip({ id: 'proxyless~10.0.0.1~a.b~b.svc.cluster.local' }))!), true);
  const bad = proxyInfoOf(nodeInfoOf(roundTrip({ id: 'not-a-sidecar' }))!, '127.0.0.1:1');
  assert.equal(bad.ok, false);
  assert.equal(nodeInfoOf(roundTrip({})), undefined);
});

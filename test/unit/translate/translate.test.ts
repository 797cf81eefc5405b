import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { translate, findWorkload } from '../../../src/xds/translate/index.js';
import type { ProxyInfo } from '../../../src/model/types.js';
import { REPO_ROOT } from '../../helpers/golden.js';
import { loadCase } from './load-case.js';

const proxy = (over: Partial<ProxyInfo>): ProxyInfo => ({
  id: 'p', ip: '', workloadName: '', namespace: 'production', labels: {}, interceptionMode: 'NONE', proxyless: false, ...over,
});

async function example() {
  return (await loadCase(join(REPO_ROOT, 'test', 'golden', 'translate', 'explicit-basic'))).snapshot;
}

test('outbound clusters and endpoints are the same frozen instances for every proxy of a snapshot', async () => {
  const s = await example();
  const a = translate(s, proxy({ workloadName: 'frontend' }));
  const b = translate(s, proxy({ workloadName: 'backend' }));
  const c = translate(s, proxy({ ip: '127.0.99.1', namespace: 'other' }));
  assert.equal(a.clusters[0], b.clusters[0]);
  assert.equal(a.clusters[0], c.clusters[0]);
  assert.equal(a.endpoints[0], c.endpoints[0]);
  assert.equal(a.clusters[1], b.clusters[1], 'PassthroughCluster/BlackHoleCluster chunk is shared');
  assert.equal(a.routes[0], b.routes[0], 'same namespace and mode share route configs');
  assert.notEqual(a.routes[0], c.routes[0], 'short names differ per namespace');
  assert.notEqual(a.listeners[0], b.listeners[0]);
  assert.ok(Object.isFrozen(a.clusters[0]) && Object.isFrozen(a.clusters[0]![0]) && Object.isFrozen(a.listeners[0]![0]));
  // A new snapshot gets new chunks.
  const s2 = await example();
  assert.notEqual(translate(s2, proxy({ workloadName: 'frontend' })).clusters[0], a.clusters[0]);
  // Translating again is deterministic and returns the memoized shared chunk.
  assert.equal(translate(s, proxy({ workloadName: 'frontend' })).clusters[0], a.clusters[0]);
  assert.deepEqual(translate(s, proxy({ workloadName: 'frontend' })).listeners, a.listeners);
});

test('the agent secret source gets its own cluster chunk pointing SDS at sds-grpc', async () => {
  const s = await example();
  const ads = translate(s, proxy({ workloadName: 'frontend' }));
  const agent = translate(s, proxy({ workloadName: 'frontend', secretSource: 'agent' }));
  assert.notEqual(ads.clusters[0], agent.clusters[0]);
  assert.match(JSON.stringify(agent.clusters[0]), /"cluster_name":"sds-grpc"/);
  assert.doesNotMatch(JSON.stringify(ads.clusters[0]), /sds-grpc/);
});

test('proxy → workload: by namespace and name, else by IP in the namespace; unknown gets outbound only', async () => {
  const s = await example();
  assert.equal(findWorkload(s, proxy({ workloadName: 'backend' }))?.name, 'backend');
  assert.equal(findWorkload(s, proxy({ workloadName: 'nope', ip: '127.0.10.1' }))?.name, 'frontend');
  assert.equal(findWorkload(s, proxy({ ip: '127.0.10.1', namespace: 'elsewhere' })), undefined);
  const unknown = translate(s, proxy({ ip: '10.9.9.9' }));
  const names = unknown.listeners.flat().map((l) => l.name);
  assert.deepEqual(names, ['127.0.0.1_8080', '127.0.0.1_8081']);
  assert.deepEqual(unknown.clusters[2], []);
  const fe = translate(s, proxy({ workloadName: 'frontend' }));
  assert.deepEqual(fe.listeners.flat().map((l) => l.name), ['127.0.10.1_8081', '127.0.30.1_8080', '127.0.30.1_8081']);
  assert.deepEqual(fe.clusters[2]!.map((c) => c.name), ['inbound|8081||']);
});

test('translation does not mutate its (frozen) input and uses no clock', async () => {
  const s = await example();
  assert.ok(Object.isFrozen(s.workloads[0]));
  const before = JSON.stringify(s);
  const realNow = Date.now;
  Date.now = () => { throw new Error('translation read the clock'); };
  try {
    translate(s, proxy({ workloadName: 'frontend', interceptionMode: 'REDIRECT' }));
    translate(s, proxy({ proxyless: true }));
  } finally { Date.now = realNow; }
  assert.equal(JSON.stringify(s), before);
});

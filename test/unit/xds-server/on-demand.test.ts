/**
 * The on-demand CDS stream (ODCDS): named clusters only, served from what generate returns for
 * it; a missing name is answered as removed at once and counted; a name asked again is sent
 * again; a withdrawn name is sent as removed; the number of names is bounded per stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { AdsClient, T, baseResources, nodeOf, startServer } from './helpers.js';
import { ON_DEMAND_STREAM_METADATA } from '../../../src/xds/names.js';

const onDemandMetadata = (): grpc.Metadata => {
  const m = new grpc.Metadata();
  m.set(ON_DEMAND_STREAM_METADATA.key, ON_DEMAND_STREAM_METADATA.value);
  return m;
};

test('ODCDS: found names are served, missing ones answered as removed (counted), wildcard ignored, a repeat is re-sent, a withdrawal is sent as removed', async () => {
  const registry = new Registry();
  const asked: string[] = [];
  const { server, address } = await startServer({ generate: () => baseResources(), registry, onDemandRequested: (_p, names) => asked.push(...names) });
  const c = new AdsClient(address, true, { metadata: onDemandMetadata() });
  try {
    c.send({ node: nodeOf(), type_url: T.Cluster, resource_names_subscribe: ['a', 'nosuch', '*'] });
    const r1 = await c.next();
    assert.deepEqual(r1.names, ['a'], 'only the named, existing cluster: the wildcard is not honoured');
    assert.deepEqual(r1.removed, ['nosuch'], 'a missing name is answered as removed (Envoy: not found)');
    c.send({ type_url: T.Cluster, response_nonce: r1.nonce });
    assert.deepEqual(asked, ['a', 'nosuch']);
    const text = await registry.metrics();
    assert.match(text, /meshd_xds_on_demand_clusters_total\{result="found"\} 1/);
    assert.match(text, /meshd_xds_on_demand_clusters_total\{result="not_found"\} 1/);

    // Envoy lost the cluster (another subscription removed it) and asks again: sent again.
    c.send({ type_url: T.Cluster, resource_names_subscribe: ['a'] });
    const r2 = await c.next();
    assert.deepEqual(r2.names, ['a']);
    c.send({ type_url: T.Cluster, response_nonce: r2.nonce });

    // The scope shrank: meshd withdraws it.
    server.revokeOnDemand(() => true, ['a']);
    const r3 = await c.next();
    assert.deepEqual([r3.names, r3.removed], [[], ['a']]);
    c.send({ type_url: T.Cluster, response_nonce: r3.nonce });
    // ...and serves it again when asked.
    c.send({ type_url: T.Cluster, resource_names_subscribe: ['a'] });
    assert.deepEqual((await c.next()).names, ['a']);
  } finally {
    c.close();
    await server.close();
  }
});

test('ODCDS: a stream that asks for more names than --xds-max-on-demand-names is ended with RESOURCE_EXHAUSTED; other types are ignored', async () => {
  const { server, address } = await startServer({ generate: () => baseResources(), limits: { maxOnDemandNames: 5 } });
  const c = new AdsClient(address, true, { metadata: onDemandMetadata() });
  try {
    c.send({ node: nodeOf(), type_url: T.Listener, resource_names_subscribe: ['*'] });
    assert.equal(await c.none(300), undefined, 'listeners are not served on the on-demand stream');
    c.send({ type_url: T.Cluster, resource_names_subscribe: Array.from({ length: 6 }, (_, i) => `c${i}`) });
    const err = await c.waitStatus();
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /xds-max-on-demand-names/);
  } finally {
    c.close();
    await server.close();
  }
});

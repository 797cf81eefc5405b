/**
 * An updated EDS cluster whose endpoints did not change: Envoy warms the new cluster until it
 * gets its ClusterLoadAssignment again, and holds the CDS ACK until then. So the server sends
 * those endpoints again right after the CDS response, without waiting for its ACK (SotW and
 * Delta); listeners still wait for the CDS ACK; clusters that did not change get nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient, T, baseResources, cla, cluster, listener, nodeOf, startServer } from './helpers.js';
import type { GeneratedResources } from '../../../src/xds/server/types.js';

for (const delta of [false, true]) {
  test(`${delta ? 'Delta' : 'SotW'}: a changed cluster with unchanged endpoints gets its endpoints again without waiting for the CDS ACK; listeners wait; an unchanged cluster gets nothing`, async () => {
    let res: GeneratedResources = baseResources();
    // A long ACK timeout: a response held for the CDS ACK would not come within next()'s 3 s.
    const { server, address } = await startServer({ generate: () => res, ackTimeoutMs: 30_000 });
    const c = new AdsClient(address, delta);
    const ack = (d: { typeUrl: string; version: string; nonce: string }, names: string[] = []): void =>
      c.send(delta ? { type_url: d.typeUrl, response_nonce: d.nonce } : { type_url: d.typeUrl, version_info: d.version, response_nonce: d.nonce, resource_names: names });
    try {
      c.send({ node: nodeOf(), type_url: T.Cluster });
      ack(await c.next());
      c.send(delta ? { type_url: T.Endpoint, resource_names_subscribe: ['a', 'b'] } : { type_url: T.Endpoint, resource_names: ['a', 'b'] });
      const eds = await c.next();
      assert.deepEqual(eds.names.sort(), ['a', 'b']);
      ack(eds, ['a', 'b']);
      c.send({ type_url: T.Listener });
      ack(await c.next());
      assert.equal(await c.none(200), undefined);

      // Cluster a gets an outlier detection (say); the endpoints of a and b stay the same; a listener is added.
      res = {
        ...res,
        [T.Cluster]: [Object.freeze([Object.freeze({ ...cluster('a'), outlier_detection: { consecutive_5xx: 1 } }), cluster('b')])],
        [T.Listener]: [Object.freeze([listener('L', 'r'), listener('M', 'r', 15002)])],
      };
      const p = server.push();
      const cds = await c.next();
      assert.equal(cds.typeUrl, T.Cluster);
      // No CDS ACK yet (Envoy's is held while a warms).
      const again = await c.next();
      assert.equal(again.typeUrl, T.Endpoint);
      assert.deepEqual(again.names, ['a'], 'only the changed cluster\'s endpoints, unchanged, sent again');
      ack(again, ['a', 'b']);
      assert.equal(await c.none(300), undefined, 'LDS waits for the CDS ACK');
      ack(cds);
      const lds = await c.next();
      assert.equal(lds.typeUrl, T.Listener);
      ack(lds);
      assert.equal((await p).converged, true);
      assert.equal(await c.none(200), undefined);

      // Endpoints of b change, no cluster does: only b's endpoints, no CDS.
      res = { ...res, [T.Endpoint]: [Object.freeze([cla('a'), cla('b', '10.0.0.9')])] };
      void server.push();
      const eds2 = await c.next();
      assert.equal(eds2.typeUrl, T.Endpoint);
      assert.deepEqual(eds2.names, ['b']);
    } finally {
      c.close();
      await server.close();
    }
  });
}

/**
 * An updated EDS cluster whose endpoints did not change: Envoy warms the new cluster until it
 * gets its ClusterLoadAssignment again, so the server sends it again after the CDS response
 * (SotW and Delta); clusters that did not change get nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient, T, baseResources, cla, cluster, nodeOf, startServer } from './helpers.js';
import type { GeneratedResources } from '../../../src/xds/server/types.js';

for (const delta of [false, true]) {
  test(`${delta ? 'Delta' : 'SotW'}: a changed cluster with unchanged endpoints gets its endpoints again; an unchanged one does not`, async () => {
    let res: GeneratedResources = baseResources();
    const { server, address } = await startServer({ generate: () => res });
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
      assert.equal(await c.none(200), undefined);

      // Cluster a gets an outlier detection (say); the endpoints of a and b stay the same.
      res = { ...res, [T.Cluster]: [Object.freeze([Object.freeze({ ...cluster('a'), outlier_detection: { consecutive_5xx: 1 } }), cluster('b')])] };
      const p = server.push();
      const cds = await c.next();
      assert.equal(cds.typeUrl, T.Cluster);
      ack(cds);
      const again = await c.next();
      assert.equal(again.typeUrl, T.Endpoint);
      assert.deepEqual(again.names, ['a'], 'only the changed cluster\'s endpoints, unchanged, sent again');
      ack(again, ['a', 'b']);
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

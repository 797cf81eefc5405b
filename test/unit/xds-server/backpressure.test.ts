import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { messageType } from '../../../src/xds/protos.js';
import { SOTW_PATH } from '../../../src/xds/server/service.js';
import { AdsClient, T, nodeOf, startServer } from './helpers.js';
import { ADS_MAX_FRAME_BYTES, ADS_WINDOW_BYTES, sessionOf, tuneAdsSession } from '../../../src/xds/server/http2-tuning.js';
import type { GeneratedResources } from '../../../src/xds/server/types.js';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';

function bigClusters(gen: number): GeneratedResources {
  // ~2 MB of CDS: far more than HTTP/2 flow-control windows let through to a client that never reads.
  const clusters: EnvoyObject[] = [];
  for (let i = 0; i < 4000; i++) {
    clusters.push(Object.freeze({ name: `outbound|80||svc-${i}.ns-${i % 20}.svc.cluster.local`, type: 'STATIC', connect_timeout: `${gen + 1}s`, alt_stat_name: 'x'.repeat(400) }));
  }
  return { [T.Cluster]: [Object.freeze(clusters)] };
}

/** A raw HTTP/2 gRPC client that sends one request and never reads (flow control stays shut). */
function neverReadingClient(address: string, req: Record<string, unknown>): { close(): void } {
  const session = http2.connect(`http://${address}`);
  const stream = session.request({ ':method': 'POST', ':path': SOTW_PATH, 'content-type': 'application/grpc', te: 'trailers' });
  stream.pause();
  const R = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const body = Buffer.from(R.encode(R.fromObject(req)).finish());
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  stream.write(Buffer.concat([head, body]));
  return { close: () => session.destroy() };
}

test('a client that never reads does not delay another client, and its pushes coalesce', async () => {
  let gen = 0;
  let res = bigClusters(gen);
  const { server, address } = await startServer({ generate: () => res, ackTimeoutMs: 200, convergenceTimeoutMs: 300 });
  const stuck = neverReadingClient(address, { node: nodeOf('stuck'), type_url: T.Cluster });
  const good = new AdsClient(address);
  try {
    good.send({ node: nodeOf('good'), type_url: T.Cluster });
    const first = await good.next(5000);
    good.ack(first);
    for (let i = 0; i < 5; i++) {
      res = bigClusters(++gen);
      const push = server.push();
      // Bounded by next()'s deadline, not by a tight timer (this machine is shared): a reading
      // client stuck behind the never-reading one would wait for its write timeout instead.
      const r = await good.next(5000).catch((e: unknown) => { throw new Error(`the reading client did not get push ${i}: ${String(e)}`); });
      good.ack(r);
      const outcome = await push;
      assert.equal(outcome.converged, false, 'the stuck client never answers');
    }
    const stuckStatus = server.syncStatus().find((s) => s.proxyId.includes('stuck'))!;
    const goodStatus = server.syncStatus().find((s) => s.proxyId.includes('good'))!;
    assert.equal(goodStatus.types[T.Cluster]!.ackedVersion, goodStatus.types[T.Cluster]!.sentVersion);
    // The stuck stream has one response in flight; the five later versions coalesced into none.
    const stuckNonce = parseInt(stuckStatus.types[T.Cluster]!.sentNonce ?? '0', 36);
    assert.equal(stuckNonce, 1, `stuck stream sent ${stuckNonce} responses for 6 versions`);
  } finally {
    stuck.close();
    good.close();
    await server.close();
  }
});

test('ADS connections advertise 1 MB flow-control windows and 64 KB frames (grpc-js leaves Node\'s 64 KB / 16 KB)', async () => {
  const { server, address } = await startServer({ generate: () => ({ [T.Cluster]: [Object.freeze([Object.freeze({ name: 'c', type: 'STATIC', connect_timeout: '1s' })])] }) });
  const session = http2.connect(`http://${address}`);
  try {
    const stream = session.request({ ':method': 'POST', ':path': SOTW_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const R = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    // A request over 64 KB: more than Node's default window, in frames larger than 16 KB.
    const names = Array.from({ length: 3000 }, (_, i) => `outbound|80||svc-${i}.ns-${i % 20}.svc.cluster.local`);
    const body = Buffer.from(R.encode(R.fromObject({ node: nodeOf('tuned'), type_url: T.Cluster, resource_names: names })).finish());
    assert.ok(body.length > 64 * 1024);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length, 1);
    stream.write(Buffer.concat([head, body]));
    const got = await new Promise<Buffer>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
      setTimeout(() => reject(new Error('no response')), 5000);
    });
    assert.ok(got.length > 5, 'the server answered the oversized first request');
    assert.equal(session.remoteSettings.initialWindowSize, ADS_WINDOW_BYTES);
    assert.equal(session.remoteSettings.maxFrameSize, ADS_MAX_FRAME_BYTES);
    assert.equal(server.syncStatus().length, 1);
  } finally {
    session.destroy();
    await server.close();
  }
});

test('a call without the expected grpc-js shape is left untuned, without an error', () => {
  for (const call of [undefined, {}, { call: {} }, { call: { stream: {} } }, { call: { nextCall: { stream: { session: {} } } } }]) {
    assert.equal(sessionOf(call), undefined);
    assert.equal(tuneAdsSession(call), false);
  }
});

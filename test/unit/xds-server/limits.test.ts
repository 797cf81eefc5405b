/**
 * Per-client limits: each is refused with RESOURCE_EXHAUSTED naming the limit (or closed, for
 * silent connections), counted in meshd_xds_limit_exceeded_total{limit}, and leaves other
 * clients working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { Registry } from 'prom-client';
import { messageType } from '../../../src/xds/protos.js';
import { SOTW_PATH } from '../../../src/xds/server/service.js';
import type { XdsLimits } from '../../../src/xds/server/limits.js';
import type { GeneratedResources } from '../../../src/xds/server/types.js';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';
import { AdsClient, T, baseResources, nodeOf, sleep, startServer } from './helpers.js';

async function limitCount(registry: Registry, limit: string): Promise<number> {
  const m = await registry.getSingleMetric('meshd_xds_limit_exceeded_total')?.get();
  return m?.values.find((v) => v.labels['limit'] === limit)?.value ?? 0;
}

async function withServer(limits: Partial<XdsLimits>, run: (address: string, registry: Registry, server: Awaited<ReturnType<typeof startServer>>['server']) => Promise<void>, generate: () => GeneratedResources = () => baseResources()): Promise<void> {
  const registry = new Registry();
  const { server, address } = await startServer({ generate, registry, limits });
  try {
    await run(address, registry, server);
  } finally {
    await server.close();
  }
}

/** A well-behaved client still converges on CDS. */
async function healthy(address: string, name = 'good'): Promise<void> {
  const c = new AdsClient(address);
  try {
    c.send({ node: nodeOf(name), type_url: T.Cluster });
    const r = await c.next(5000);
    assert.deepEqual(r.names, ['a', 'b']);
  } finally {
    c.close();
  }
}

const names = (n: number, prefix = 'n'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

test('names per subscription: a SotW list over the limit ends the stream with RESOURCE_EXHAUSTED naming the flag', async () => {
  await withServer({ maxNamesPerSubscription: 100 }, async (address, registry) => {
    const c = new AdsClient(address);
    c.send({ node: nodeOf(), type_url: T.Cluster });
    await c.next();
    c.send({ type_url: T.Endpoint, resource_names: names(101) });
    const s = await c.waitStatus();
    assert.equal(s.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(s.details, /101 resource names for EDS.*more than 100.*--xds-max-names-per-subscription/);
    assert.equal(await limitCount(registry, 'names_per_subscription'), 1);
    c.close();
    // 100 is allowed.
    const ok = new AdsClient(address);
    ok.send({ node: nodeOf('ok'), type_url: T.Endpoint, resource_names: names(100) });
    assert.equal(await ok.none(300), undefined, 'no status: the stream stays open');
    assert.equal(ok.status, undefined);
    ok.close();
    await healthy(address);
  });
});

test('names per subscription: Delta subscriptions accumulate and are refused past the limit', async () => {
  await withServer({ maxNamesPerSubscription: 100 }, async (address, registry) => {
    const c = new AdsClient(address, true);
    c.send({ node: nodeOf(), type_url: T.Endpoint, resource_names_subscribe: names(60, 'x') });
    await sleep(100);
    c.send({ type_url: T.Endpoint, resource_names_subscribe: names(60, 'y') });
    const s = await c.waitStatus();
    assert.equal(s.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(s.details, /120 resource names subscribed for EDS/);
    assert.equal(await limitCount(registry, 'names_per_subscription'), 1);
    c.close();
  });
});

test('request bytes: a request over the limit is refused with RESOURCE_EXHAUSTED naming the flag', async () => {
  await withServer({ maxRequestBytes: 4096 }, async (address, registry) => {
    const c = new AdsClient(address);
    c.send({ node: nodeOf(), type_url: T.Endpoint, resource_names: names(700) });
    const s = await c.waitStatus();
    assert.equal(s.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(s.details, /request of \d+ bytes, more than 4096.*--xds-max-request-bytes/);
    assert.equal(await limitCount(registry, 'request_bytes'), 1);
    c.close();
    // Far over (more than twice the limit): grpc-js refuses it before reading it whole.
    const big = new AdsClient(address);
    big.send({ node: nodeOf(), type_url: T.Endpoint, resource_names: names(2000) });
    assert.equal((await big.waitStatus()).code, grpc.status.RESOURCE_EXHAUSTED);
    big.close();
    await healthy(address);
  });
});

test('streams per connection: the stream over the limit is refused, the others keep working', async () => {
  await withServer({ maxStreamsPerConnection: 2 }, async (address, registry) => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const id = (b: Buffer): Buffer => b;
    const R = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    const calls = [0, 1, 2].map(() => client.makeBidiStreamRequest(SOTW_PATH, id, id));
    const statuses: (grpc.StatusObject | undefined)[] = [undefined, undefined, undefined];
    const got = [0, 0, 0];
    calls.forEach((c, i) => {
      c.on('status', (s: grpc.StatusObject) => (statuses[i] = s));
      c.on('data', () => got[i]!++);
      c.on('error', () => {});
      c.write(Buffer.from(R.encode(R.fromObject({ node: nodeOf(`s${i}`), type_url: T.Cluster })).finish()));
      // One at a time, so the third is the one over the limit.
    });
    await sleep(500);
    assert.equal(statuses[2]?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(statuses[2]!.details, /more than 2 ADS streams on one connection.*--xds-max-streams-per-connection/);
    assert.deepEqual([got[0], got[1]], [1, 1], 'the first two streams got CDS');
    assert.equal(statuses[0], undefined);
    assert.equal(await limitCount(registry, 'streams_per_connection'), 1);
    for (const c of calls) c.cancel();
    client.close();
  });
});

test('connections per address: a connection over the limit gets RESOURCE_EXHAUSTED on its stream and is closed', async () => {
  await withServer({ maxConnectionsPerAddress: 2 }, async (address, registry, server) => {
    const a = new AdsClient(address);
    const b = new AdsClient(address);
    a.send({ node: nodeOf('a'), type_url: T.Cluster });
    b.send({ node: nodeOf('b'), type_url: T.Cluster });
    await a.next();
    await b.next();
    assert.equal(server.connections.count('127.0.0.1'), 2);
    const c = new AdsClient(address);
    c.send({ node: nodeOf('c'), type_url: T.Cluster });
    const s = await c.waitStatus();
    assert.equal(s.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(s.details, /more than 2 connections from 127\.0\.0\.1.*--xds-max-connections-per-address/);
    assert.equal(await limitCount(registry, 'connections_per_address'), 1);
    c.close();
    a.close();
    // A closed connection frees its place (once the server has seen the close: under load that can take a while).
    for (let i = 0; i < 100 && server.connections.count('127.0.0.1') >= 2; i++) await sleep(100);
    assert.ok(server.connections.count('127.0.0.1') < 2, 'the closed connections leave the count');
    await healthy(address);
    b.close();
  });
});

test('a stream that never sends a request is closed after the first-request timeout', async () => {
  await withServer({ firstRequestTimeoutMs: 200 }, async (address, registry) => {
    const c = new AdsClient(address);
    const s = await c.waitStatus(3000);
    assert.equal(s.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(s.details, /no request within 200 ms.*--xds-first-request-timeout/);
    assert.equal(await limitCount(registry, 'first_request_timeout'), 1);
    c.close();
    await healthy(address);
  });
});

function bigClusters(gen: number): GeneratedResources {
  const clusters: EnvoyObject[] = [];
  for (let i = 0; i < 2000; i++) clusters.push(Object.freeze({ name: `c-${i}`, type: 'STATIC', connect_timeout: `${gen + 1}s`, alt_stat_name: 'x'.repeat(500) }));
  return { [T.Cluster]: [Object.freeze(clusters)] };
}

test('a client that never reads is dropped after the write timeout with a log line; a reading client converges', async () => {
  let gen = 0;
  let res = bigClusters(gen);
  const warnings: string[] = [];
  const registry = new Registry();
  const { server, address } = await startServer({
    generate: () => res, registry, ackTimeoutMs: 100, convergenceTimeoutMs: 3000,
    limits: { writeTimeoutMs: 400 },
    logger: { debug() {}, info() {}, error() {}, warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`) },
  });
  const session = http2.connect(`http://${address}`);
  const stuck = session.request({ ':method': 'POST', ':path': SOTW_PATH, 'content-type': 'application/grpc', te: 'trailers' });
  stuck.pause();
  const R = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const body = Buffer.from(R.encode(R.fromObject({ node: nodeOf('stuck'), type_url: T.Cluster })).finish());
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  stuck.write(Buffer.concat([head, body]));
  const good = new AdsClient(address);
  try {
    good.send({ node: nodeOf('good'), type_url: T.Cluster });
    good.ack(await good.next(5000));
    await sleep(1500);
    assert.equal(await limitCount(registry, 'write_timeout'), 1, 'the stuck stream was dropped');
    assert.ok(warnings.some((w) => /over a limit/.test(w) && /write_timeout/.test(w) && /not read by the client/.test(w)), warnings.join('\n'));
    assert.ok(!server.connectedProxies().some((p) => p.info.id.includes('stuck')));
    res = bigClusters(++gen);
    const push = server.push();
    good.ack(await good.next(5000));
    assert.equal((await push).converged, true, 'with the stuck client gone, a push converges');
  } finally {
    session.destroy();
    good.close();
    await server.close();
  }
});

test('requests per second: a stream flooding requests is refused', async () => {
  await withServer({ maxRequestsPerSecond: 5 }, async (address, registry) => {
    const c = new AdsClient(address, true);
    c.send({ node: nodeOf(), type_url: T.Endpoint, resource_names_subscribe: ['a'] });
    for (let i = 0; i < 80; i++) c.send({ type_url: T.Endpoint, resource_names_subscribe: [`x${i}`], resource_names_unsubscribe: [`x${i - 1}`] });
    const s = await c.waitStatus();
    assert.equal(s.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(s.details, /more than 5 requests per second.*--xds-max-requests-per-second/);
    assert.equal(await limitCount(registry, 'requests_per_second'), 1);
    c.close();
    await healthy(address);
  });
});

test('SotW names pool: lists are freed when their streams close, and the pool is capped by bytes', async () => {
  await withServer({ namePoolBytes: 200_000 }, async (address, _registry, server) => {
    const clients = [0, 1, 2, 3].map(() => new AdsClient(address));
    clients.forEach((c, i) => c.send({ node: nodeOf(`p${i}`), type_url: T.Endpoint, resource_names: names(300, `list${i % 2}`) }));
    await sleep(300);
    assert.equal(server.names.size, 2, 'two distinct lists, each shared by two streams');
    const full = server.names.bytes;
    assert.ok(full > 0 && full <= 200_000);
    // A list too large for what is left of the pool is decoded for its stream alone.
    const big = new AdsClient(address);
    big.send({ node: nodeOf('big'), type_url: T.Endpoint, resource_names: names(2000, 'big') });
    await sleep(200);
    assert.equal(server.names.size, 2, 'not pooled');
    for (const c of [...clients, big]) c.close();
    await sleep(300);
    assert.equal(server.names.size, 0, 'every list freed once its streams closed');
    assert.equal(server.names.bytes, 0);
  });
});

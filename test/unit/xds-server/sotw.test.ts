import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { AdsClient, T, baseResources, cla, cluster, listener, nodeOf, route, sleep, startServer } from './helpers.js';
import type { GeneratedResources } from '../../../src/xds/server/types.js';

function mutable(initial: GeneratedResources): { get: () => GeneratedResources; set: (g: GeneratedResources) => void } {
  let cur = initial;
  return { get: () => cur, set: (g) => (cur = g) };
}

test('SotW: ACK, NACK not resent, new version after NACK sent and recorded', async () => {
  const res = mutable(baseResources());
  const registry = new Registry();
  const { server, address } = await startServer({ generate: () => res.get(), registry });
  const c = new AdsClient(address);
  try {
    c.send({ node: nodeOf(), type_url: T.Cluster });
    const r1 = await c.next();
    assert.deepEqual(r1.names, ['a', 'b']);
    assert.ok(r1.version && r1.nonce);
    c.ack(r1);
    await sleep(50);
    assert.equal(server.syncStatus()[0]!.types[T.Cluster]!.ackedVersion, r1.version);

    // v2: one cluster changes; the proxy NACKs it.
    res.set({ ...res.get(), [T.Cluster]: [Object.freeze([cluster('a'), { ...cluster('b'), connect_timeout: '2s' }])] });
    const push = server.push();
    const r2 = await c.next();
    assert.notEqual(r2.version, r1.version);
    assert.deepEqual(r2.names, ['a', 'b'], 'CDS carries the full set');
    c.send({ type_url: T.Cluster, version_info: r1.version, response_nonce: r2.nonce, error_detail: { code: 3, message: 'bad cluster b' } });
    const outcome = await push;
    assert.equal(outcome.converged, true, 'a NACK is an answer');
    assert.equal(await c.none(400), undefined, 'the NACKed version is not resent');
    // A push with the same content still sends nothing.
    await server.push();
    assert.equal(await c.none(300), undefined);

    const rej = server.rejections();
    assert.equal(rej.length, 1);
    assert.equal(rej[0]!.version, r2.version);
    assert.equal(rej[0]!.message, 'bad cluster b');
    assert.equal(rej[0]!.typeUrl, T.Cluster);
    assert.match(rej[0]!.proxyId, /^sidecar~/);
    const st = server.syncStatus()[0]!.types[T.Cluster]!;
    assert.equal(st.ackedVersion, r1.version);
    assert.equal(st.lastNack?.message, 'bad cluster b');

    // v3: a new version is sent.
    res.set({ ...res.get(), [T.Cluster]: [Object.freeze([cluster('a'), { ...cluster('b'), connect_timeout: '3s' }])] });
    void server.push();
    const r3 = await c.next();
    assert.notEqual(r3.version, r2.version);
    c.ack(r3);
    const metrics = await registry.metrics();
    assert.match(metrics, /meshd_xds_nacks_total\{type="CDS"\} 1/);
    assert.match(metrics, /meshd_xds_connected_proxies\{protocol="sotw"\} 1/);
    assert.match(metrics, /meshd_xds_convergence_seconds_count 2/);
  } finally {
    c.close();
    await server.close();
  }
});

test('SotW: a stale nonce is ignored (no ACK recorded, no response)', async () => {
  const res = mutable(baseResources());
  const { server, address } = await startServer({ generate: () => res.get() });
  const c = new AdsClient(address);
  try {
    c.send({ node: nodeOf(), type_url: T.Cluster });
    const r1 = await c.next();
    c.ack(r1);
    res.set({ ...res.get(), [T.Cluster]: [Object.freeze([cluster('a')])], [T.Endpoint]: [Object.freeze([cla('a')])] });
    void server.push();
    const r2 = await c.next();
    assert.deepEqual(r2.names, ['a']);
    // An ACK/NACK for the old nonce arrives late: ignored.
    c.send({ type_url: T.Cluster, version_info: r1.version, response_nonce: r1.nonce, error_detail: { code: 3, message: 'late' } });
    c.send({ type_url: T.Cluster, version_info: 'bogus', response_nonce: 'no-such-nonce' });
    await sleep(100);
    assert.equal(server.counts().staleNonces, 2);
    assert.equal(server.rejections().length, 0);
    const st = server.syncStatus()[0]!.types[T.Cluster]!;
    assert.equal(st.awaitingAck, true);
    assert.equal(st.ackedVersion, r1.version);
    assert.equal(await c.none(200), undefined);
    c.ack(r2);
    await sleep(50);
    assert.equal(server.syncStatus()[0]!.types[T.Cluster]!.ackedVersion, r2.version);
  } finally {
    c.close();
    await server.close();
  }
});

test('SotW: wildcard LDS/CDS carry full sets; named EDS/RDS send only what is asked, late names when they appear', async () => {
  const res = mutable(baseResources());
  const { server, address } = await startServer({ generate: () => res.get() });
  const c = new AdsClient(address);
  try {
    c.send({ node: nodeOf(), type_url: T.Cluster });
    const cds = await c.next();
    c.ack(cds);
    c.send({ type_url: T.Endpoint, resource_names: ['a', 'later'] });
    const eds = await c.next();
    assert.equal(eds.typeUrl, T.Endpoint);
    assert.deepEqual(eds.names, ['a'], 'only the subscribed, existing name');
    c.ack(eds, ['a', 'later']);
    c.send({ type_url: T.Listener });
    const lds = await c.next();
    assert.deepEqual(lds.names, ['L']);
    c.ack(lds);
    c.send({ type_url: T.Route, resource_names: ['r'] });
    const rds = await c.next();
    assert.deepEqual(rds.names, ['r']);
    c.ack(rds, ['r']);
    assert.equal(await c.none(200), undefined);

    // 'later' appears (with its cluster), and endpoint b (not subscribed) changes.
    res.set({
      ...res.get(),
      [T.Cluster]: [Object.freeze([cluster('a'), cluster('b'), cluster('later')])],
      [T.Endpoint]: [Object.freeze([cla('a'), cla('b', '10.0.0.9'), cla('later')])],
    });
    const p = server.push();
    const cds2 = await c.next();
    assert.equal(cds2.typeUrl, T.Cluster);
    assert.deepEqual(cds2.names, ['a', 'b', 'later'], 'CDS full set');
    c.ack(cds2);
    const eds2 = await c.next();
    assert.equal(eds2.typeUrl, T.Endpoint);
    assert.deepEqual(eds2.names, ['later'], 'only the newly existing subscribed name; b is not subscribed, a unchanged');
    c.ack(eds2, ['a', 'later']);
    assert.equal((await p).converged, true);

    // Subscribing to b later sends only b.
    c.send({ type_url: T.Endpoint, resource_names: ['a', 'b', 'later'], version_info: eds2.version, response_nonce: eds2.nonce });
    const eds3 = await c.next();
    assert.deepEqual(eds3.names, ['b']);
  } finally {
    c.close();
    await server.close();
  }
});

test('SotW: make-before-break order — CDS is ACKed before LDS is sent on a push', async () => {
  const res = mutable(baseResources());
  const { server, address } = await startServer({ generate: () => res.get(), ackTimeoutMs: 2000 });
  const c = new AdsClient(address);
  try {
    c.send({ node: nodeOf(), type_url: T.Cluster });
    c.ack(await c.next());
    c.send({ type_url: T.Listener });
    c.ack(await c.next());
    res.set({
      ...res.get(),
      [T.Cluster]: [Object.freeze([cluster('a'), cluster('b'), cluster('c')])],
      [T.Endpoint]: [Object.freeze([cla('a'), cla('b'), cla('c')])],
      [T.Listener]: [Object.freeze([listener('L', 'r'), listener('M', 'r', 15002)])],
    });
    void server.push();
    const first = await c.next();
    assert.equal(first.typeUrl, T.Cluster);
    assert.equal(await c.none(300), undefined, 'LDS waits for the CDS ACK');
    c.ack(first);
    const second = await c.next();
    assert.equal(second.typeUrl, T.Listener);
    assert.deepEqual(second.names, ['L', 'M']);
  } finally {
    c.close();
    await server.close();
  }
});

test('consistency check: an inconsistent set is not sent and is recorded', async () => {
  const res = mutable(baseResources());
  const { server, address } = await startServer({ generate: () => res.get() });
  const c = new AdsClient(address);
  try {
    c.send({ node: nodeOf(), type_url: T.Cluster });
    const r1 = await c.next();
    c.ack(r1);
    // Cluster c has no ClusterLoadAssignment: refused.
    res.set({ ...res.get(), [T.Cluster]: [Object.freeze([cluster('a'), cluster('b'), cluster('c')])] });
    const out = await server.push();
    assert.equal(out.proxies, 1);
    assert.equal(await c.none(300), undefined);
    assert.match(server.syncStatus()[0]!.lastError ?? '', /EDS resource "c"/);
    assert.equal(server.counts().inconsistent, 1);
    // Listener to a missing route: refused too.
    res.set({ ...baseResources(), [T.Listener]: [Object.freeze([listener('L', 'missing')])] });
    await server.push();
    assert.match(server.syncStatus()[0]!.lastError ?? '', /route configuration "missing"/);
    // Fixed: sent.
    res.set({ ...res.get(), [T.Cluster]: [Object.freeze([cluster('a'), cluster('b'), cluster('c')])], [T.Endpoint]: [Object.freeze([cla('a'), cla('b'), cla('c')])], [T.Listener]: baseResources()[T.Listener]!, [T.Route]: [Object.freeze([route('r')])] });
    void server.push();
    assert.deepEqual((await c.next()).names, ['a', 'b', 'c']);
    assert.equal(server.syncStatus()[0]!.lastError, undefined);
  } finally {
    c.close();
    await server.close();
  }
});

test('unknown type URL: ignored with a counter, other types keep working', async () => {
  const { server, address } = await startServer({ generate: () => baseResources() });
  const c = new AdsClient(address);
  try {
    c.send({ node: nodeOf(), type_url: 'type.googleapis.com/envoy.config.core.v3.Nonsense' });
    assert.equal(await c.none(200), undefined);
    assert.equal(server.counts().unknownTypes, 1);
    c.send({ type_url: T.Cluster });
    assert.deepEqual((await c.next()).names, ['a', 'b']);
  } finally {
    c.close();
    await server.close();
  }
});

test('a malformed request ends that stream with INVALID_ARGUMENT; others are unaffected', async () => {
  const { server, address } = await startServer({ generate: () => baseResources() });
  const bad = new AdsClient(address);
  const good = new AdsClient(address);
  try {
    bad.sendRaw(Buffer.from([0x0a, 0x7f, 0x01]));
    const s = await bad.waitStatus();
    assert.equal(s.code, grpc.status.INVALID_ARGUMENT);
    assert.match(s.details, /malformed DiscoveryRequest/);
    good.send({ node: nodeOf(), type_url: T.Cluster });
    assert.deepEqual((await good.next()).names, ['a', 'b']);
    assert.equal(server.counts().malformed, 1);
  } finally {
    bad.close();
    good.close();
    await server.close();
  }
});

test('authentication: a failure ends the stream with its status; identity reaches generate', async () => {
  const seen: (string | undefined)[] = [];
  const { server, address } = await startServer({
    authenticate: ({ metadata, node }) =>
      metadata.get('authorization')[0] === 'Bearer good'
        ? { ok: true, identity: { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: node.id.includes('app-1') ? 'sa1' : 'x' } }
        : { ok: false, code: grpc.status.UNAUTHENTICATED, message: 'bad token' },
    generate: (p) => {
      seen.push(p.identity?.serviceAccount);
      return baseResources();
    },
  });
  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer good');
  const ok = new AdsClient(address, false, { metadata: md });
  const denied = new AdsClient(address);
  try {
    denied.send({ node: nodeOf('app-2'), type_url: T.Cluster });
    const s = await denied.waitStatus();
    assert.equal(s.code, grpc.status.UNAUTHENTICATED);
    assert.equal(s.details, 'bad token');
    ok.send({ node: nodeOf('app-1'), type_url: T.Cluster });
    assert.deepEqual((await ok.next()).names, ['a', 'b']);
    assert.deepEqual(seen, ['sa1']);
    assert.equal(server.connectedProxies().length, 1);
    assert.equal(server.connectedProxies()[0]!.info.workloadName, 'app-1');
  } finally {
    ok.close();
    denied.close();
    await server.close();
  }
});

test('a first request without a node is refused with INVALID_ARGUMENT', async () => {
  const { server, address } = await startServer({ generate: () => baseResources() });
  const c = new AdsClient(address);
  try {
    c.send({ type_url: T.Cluster });
    assert.equal((await c.waitStatus()).code, grpc.status.INVALID_ARGUMENT);
  } finally {
    c.close();
    await server.close();
  }
});

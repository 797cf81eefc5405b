import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageType } from '../../../src/xds/protos.js';
import { decodeResource } from '../../../src/xds/resource-types.js';
import { ResourceCache } from '../../../src/xds/cache/resource-cache.js';
import { deltaResponse, responsePieces, serializePieces, sotwResponse, sotwResponsePieces } from '../../../src/xds/cache/responses.js';
import { lenField, stringField, varint } from '../../../src/xds/cache/proto-wire.js';
import { ConsistencyChecker } from '../../../src/xds/cache/consistency.js';
import { decodeSotwRequest } from '../../../src/xds/server/service.js';
import { T, at, cla, cluster, listener, route } from './helpers.js';

const obj = { longs: String, bytes: Buffer, defaults: false } as const;

test('varint encodes multi-byte values', () => {
  assert.deepEqual([...varint(0)], [0]);
  assert.deepEqual([...varint(300)], [0xac, 0x02]);
  assert.deepEqual([...varint(2 ** 21)], [0x80, 0x80, 0x80, 0x01]);
});

test('a SotW response built from pre-encoded bytes decodes with protobufjs', () => {
  const cache = new ResourceCache();
  const chunk = Object.freeze([cluster('a'), cluster('b')]);
  const info = cache.chunk(T.Cluster, chunk);
  const buf = sotwResponse({ versionInfo: 'v1', typeUrl: T.Cluster, resources: [info.sotwBytes()], nonce: 'n1', controlPlane: 'meshd' });
  const R = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const m = R.toObject(R.decode(buf), obj);
  assert.equal(m['version_info'], 'v1');
  assert.equal(m['type_url'], T.Cluster);
  assert.equal(m['nonce'], 'n1');
  assert.equal(at(m, 'control_plane', 'identifier'), 'meshd');
  assert.equal(at(m, 'resources', 'length'), 2);
  assert.equal(at(m, 'resources', 0, 'type_url'), T.Cluster);
  assert.equal(decodeResource(T.Cluster, at(m, 'resources', 1, 'value') as Buffer)['name'], 'b');
  assert.equal(decodeResource(T.Cluster, at(m, 'resources', 0, 'value') as Buffer)['type'], 'EDS');
});

test('a Delta response decodes with protobufjs, with versions and removed names', () => {
  const cache = new ResourceCache();
  const e = cache.encode(T.Endpoint, cla('svc-a', '10.9.9.9'));
  const buf = deltaResponse({ systemVersionInfo: 's1', typeUrl: T.Endpoint, resources: [e.deltaField()], removed: ['gone-1', 'gone-2'], nonce: '7' });
  const R = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const m = R.toObject(R.decode(buf), obj);
  assert.equal(m['system_version_info'], 's1');
  assert.equal(m['nonce'], '7');
  assert.deepEqual(m['removed_resources'], ['gone-1', 'gone-2']);
  assert.equal(at(m, 'resources', 0, 'name'), 'svc-a');
  assert.equal(at(m, 'resources', 0, 'version'), e.version);
  assert.equal(at(m, 'resources', 0, 'resource', 'type_url'), T.Endpoint);
  const decoded = decodeResource(T.Endpoint, at(m, 'resources', 0, 'resource', 'value') as Buffer);
  assert.equal(at(decoded, 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address', 'address'), '10.9.9.9');
});

test('large envelopes (multi-byte lengths) still decode', () => {
  const cache = new ResourceCache();
  const chunk = Object.freeze(Array.from({ length: 3000 }, (_, i) => cluster(`outbound|80||svc-${i}.ns.svc.cluster.local`)));
  const buf = sotwResponse({ versionInfo: 'v', typeUrl: T.Cluster, resources: [cache.chunk(T.Cluster, chunk).sotwBytes()], nonce: 'x' });
  const R = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const m = R.decode(buf) as unknown as { resources: unknown[] };
  assert.equal(m.resources.length, 3000);
});

test('each object is encoded once; versions follow content, not identity', () => {
  const cache = new ResourceCache();
  const a = cluster('a');
  const e1 = cache.encode(T.Cluster, a);
  const e2 = cache.encode(T.Cluster, a);
  assert.equal(e1, e2);
  assert.equal(cache.encodeCount, 1);
  const copy = cache.encode(T.Cluster, cluster('a'));
  assert.equal(copy.version, e1.version);
  assert.notEqual(cache.encode(T.Cluster, { ...a, connect_timeout: '2s' }).version, e1.version);
});

test('chunk diffs: changed, added, removed; memoized per chunk pair', () => {
  const cache = new ResourceCache();
  const old = Object.freeze([cla('a'), cla('b'), cla('c')]);
  const next = Object.freeze([old[0]!, cla('b', '10.0.0.2'), cla('d')]);
  const d = cache.diff(T.Endpoint, [old], [next]);
  assert.deepEqual(d.changed.map((e) => e.name).sort(), ['b', 'd']);
  assert.deepEqual(d.removed, ['c']);
  assert.equal(cache.diff(T.Endpoint, [old], [next]), d, 'memoized');
  assert.deepEqual(cache.diff(T.Endpoint, [old], [old]).changed, []);
  const shared = Object.freeze([cla('z')]);
  const d2 = cache.diff(T.Endpoint, [shared, old], [shared, next]);
  assert.deepEqual(d2.changed.map((e) => e.name).sort(), ['b', 'd']);
});

test('consistency: a cluster without endpoints or a listener without its route is reported', () => {
  const cache = new ResourceCache();
  const c = new ConsistencyChecker(cache);
  const ok = {
    [T.Cluster]: [Object.freeze([cluster('a')])],
    [T.Endpoint]: [Object.freeze([cla('a')])],
    [T.Listener]: [Object.freeze([listener('L', 'r')])],
    [T.Route]: [Object.freeze([route('r')])],
  };
  assert.deepEqual(c.check(ok), []);
  const bad = { ...ok, [T.Endpoint]: [Object.freeze([cla('x')])], [T.Route]: [] };
  const problems = c.check(bad);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /EDS resource "a"/);
  assert.match(problems[1]!, /route configuration "r"/);
  const svc = { ...ok, [T.Cluster]: [Object.freeze([{ ...cluster('a'), eds_cluster_config: { eds_config: { ads: {} }, service_name: 'other' } }])] };
  assert.match(c.check(svc)[0]!, /"other"/);
});

test('the request decoder reads the envelope and names lazily, and rejects garbage', () => {
  const R = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const buf = Buffer.from(
    R.encode(R.fromObject({ version_info: 'v', resource_names: ['x', 'y'], type_url: T.Endpoint, response_nonce: 'n', error_detail: { code: 3, message: 'bad' }, node: { id: 'id1' } })).finish(),
  );
  const d = decodeSotwRequest(buf);
  assert.ok(d.ok);
  assert.equal(d.req.typeUrl, T.Endpoint);
  assert.deepEqual(d.req.resourceNames(), ['x', 'y']);
  assert.equal(d.req.errorDetail?.message, 'bad');
  assert.equal((d.req.node() as { id: string }).id, 'id1');
  const same = decodeSotwRequest(Buffer.from(R.encode(R.fromObject({ resource_names: ['x', 'y'], type_url: 't' })).finish()));
  assert.ok(same.ok && same.req.namesDigest() === d.req.namesDigest() && same.req.namesBytes.equals(d.req.namesBytes));
  const bad = decodeSotwRequest(Buffer.from([0x0a, 0x50, 0x01]));
  assert.equal(bad.ok, false);
});

test('resource_names split by other fields still decode as one list, equal to the contiguous form', () => {
  const name = (n: string): Buffer => lenField(3, Buffer.from(n));
  const split = Buffer.concat([name('x'), stringField(4, T.Endpoint), name('y')]);
  const joined = Buffer.concat([name('x'), name('y'), stringField(4, T.Endpoint)]);
  const a = decodeSotwRequest(split);
  const b = decodeSotwRequest(joined);
  assert.ok(a.ok && b.ok);
  assert.deepEqual(a.req.resourceNames(), ['x', 'y']);
  assert.ok(a.req.namesBytes.equals(b.req.namesBytes));
  assert.equal(decodeSotwRequest(Buffer.from([0x1a, 0x05, 0x61])).ok, false);
});

test('a names region equal to a hint is recognised as that hint; a longer, shorter or different one is decoded', () => {
  const name = (n: string): Buffer => lenField(3, Buffer.from(n));
  const hint = Buffer.concat([name('a'), name('b')]);
  const req = (names: Buffer): Buffer => Buffer.concat([stringField(1, 'v1'), names, stringField(4, T.Endpoint), stringField(5, 'n')]);
  const other = Buffer.concat([name('z')]);
  const same = decodeSotwRequest(req(Buffer.from(hint)), [other, hint]);
  assert.ok(same.ok);
  assert.equal(same.req.namesBytes, hint, 'the hint itself stands for the list');
  assert.deepEqual(same.req.resourceNames(), ['a', 'b']);
  assert.equal(same.req.typeUrl, T.Endpoint);
  assert.equal(same.req.responseNonce, 'n');
  for (const names of [Buffer.concat([name('a'), name('b'), name('c')]), name('a'), Buffer.concat([name('a'), name('x')])]) {
    const d = decodeSotwRequest(req(names), [hint]);
    assert.ok(d.ok);
    assert.notEqual(d.req.namesBytes, hint);
    assert.ok(d.req.namesBytes.equals(names), `decoded ${d.req.resourceNames().join(',')}`);
    assert.equal(d.req.typeUrl, T.Endpoint);
  }
  // A hint longer than the rest of the request never reads past it.
  const cut = decodeSotwRequest(Buffer.concat([name('a')]), [hint]);
  assert.ok(cut.ok);
  assert.deepEqual(cut.req.resourceNames(), ['a']);
});

test('response pieces serialize to the same bytes as the joined response, in a reused scratch buffer', () => {
  const parts = { versionInfo: 'v', typeUrl: T.Cluster, resources: [Buffer.from([0x12, 0x01, 0x07])], nonce: 'n', controlPlane: 'meshd' };
  const a = serializePieces(responsePieces(sotwResponsePieces(parts)));
  assert.deepEqual(Buffer.from(a), sotwResponse(parts));
  const b = serializePieces(responsePieces([Buffer.from('xy')]));
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.toString(), 'xy');
  const big = Buffer.alloc(5 * 1024 * 1024, 1);
  assert.ok(serializePieces(responsePieces([big, Buffer.from([2])])).equals(Buffer.concat([big, Buffer.from([2])])));
  const plain = Buffer.from('as is');
  assert.equal(serializePieces(plain), plain);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient, T, baseResources, cla, cluster, nodeOf, sleep, startServer } from './helpers.js';
import type { GeneratedResources } from '../../../src/xds/server/types.js';

function ack(c: AdsClient, typeUrl: string, nonce: string, extra: Record<string, unknown> = {}): void {
  c.send({ type_url: typeUrl, response_nonce: nonce, ...extra });
}

test('Delta: wildcard CDS, named EDS subscribe/unsubscribe, removed_resources', async () => {
  let res: GeneratedResources = baseResources();
  const { server, address } = await startServer({ generate: () => res });
  const c = new AdsClient(address, true);
  try {
    c.send({ node: nodeOf(), type_url: T.Cluster });
    const cds = await c.next();
    assert.deepEqual(cds.names, ['a', 'b'], 'implicit wildcard on the first CDS request');
    assert.ok(cds.version);
    ack(c, T.Cluster, cds.nonce);

    c.send({ type_url: T.Endpoint, resource_names_subscribe: ['a', 'nope'] });
    const e1 = await c.next();
    assert.deepEqual(e1.names, ['a']);
    ack(c, T.Endpoint, e1.nonce);
    c.send({ type_url: T.Endpoint, resource_names_subscribe: ['b'] });
    const e2 = await c.next();
    assert.deepEqual(e2.names, ['b'], 'only the new subscription');
    ack(c, T.Endpoint, e2.nonce);

    // Unsubscribe b: nothing is sent; a change to b is then not sent either.
    c.send({ type_url: T.Endpoint, resource_names_unsubscribe: ['b'] });
    assert.equal(await c.none(200), undefined);
    res = { ...res, [T.Endpoint]: [Object.freeze([cla('a'), cla('b', '10.2.2.2')])] };
    await server.push();
    assert.equal(await c.none(200), undefined);

    // Cluster b and its endpoints go away; 'nope' appears.
    res = { ...res, [T.Cluster]: [Object.freeze([cluster('a'), cluster('nope')])], [T.Endpoint]: [Object.freeze([cla('a'), cla('nope')])] };
    void server.push();
    const cds2 = await c.next();
    assert.equal(cds2.typeUrl, T.Cluster);
    assert.deepEqual(cds2.names, ['nope'], 'only the new cluster');
    assert.deepEqual(cds2.removed, ['b']);
    ack(c, T.Cluster, cds2.nonce);
    const e3 = await c.next();
    assert.equal(e3.typeUrl, T.Endpoint);
    assert.deepEqual(e3.names, ['nope'], 'the remembered subscription is served when it appears');
    assert.deepEqual(e3.removed, [], 'b was unsubscribed: no removal sent');
    ack(c, T.Endpoint, e3.nonce);

    // Removing a subscribed resource is announced.
    res = { ...res, [T.Cluster]: [Object.freeze([cluster('nope')])], [T.Endpoint]: [Object.freeze([cla('nope')])] };
    void server.push();
    const cds3 = await c.next();
    assert.deepEqual(cds3.removed, ['a']);
    ack(c, T.Cluster, cds3.nonce);
    const e4 = await c.next();
    assert.deepEqual(e4.removed, ['a']);
    assert.deepEqual(e4.names, []);
  } finally {
    c.close();
    await server.close();
  }
});

test('Delta: explicit * subscription and unsubscription on LDS', async () => {
  const { server, address } = await startServer({ generate: () => baseResources() });
  const c = new AdsClient(address, true);
  try {
    c.send({ node: nodeOf(), type_url: T.Listener, resource_names_subscribe: ['nothing-here'] });
    assert.equal(await c.none(200), undefined, 'named, non-existing: nothing yet');
    c.send({ type_url: T.Listener, resource_names_subscribe: ['*'] });
    const l = await c.next();
    assert.deepEqual(l.names, ['L']);
    c.send({ type_url: T.Listener, response_nonce: l.nonce, resource_names_unsubscribe: ['*'] });
    await sleep(50);
    assert.equal(server.counts().staleNonces, 0);
    assert.equal(server.syncStatus()[0]!.types[T.Listener]!.ackedVersion, l.version);
  } finally {
    c.close();
    await server.close();
  }
});

test('Delta: initial_resource_versions on reconnect — nothing the proxy has at the same version is resent', async () => {
  let res: GeneratedResources = baseResources();
  const { server, address } = await startServer({ generate: () => res });
  const c1 = new AdsClient(address, true);
  let versions: Record<string, string> = {};
  try {
    c1.send({ node: nodeOf(), type_url: T.Cluster });
    const cds = await c1.next();
    versions = Object.fromEntries((cds.raw['resources'] as { name: string; version: string }[]).map((r) => [r.name, r.version]));
    assert.equal(Object.keys(versions).length, 2);
  } finally {
    c1.close();
  }
  await sleep(50);
  // While disconnected: b changes, c is added; the proxy also remembers a cluster 'old' that is gone.
  res = { ...res, [T.Cluster]: [Object.freeze([cluster('a'), { ...cluster('b'), connect_timeout: '9s' }, cluster('c')])], [T.Endpoint]: [Object.freeze([cla('a'), cla('b'), cla('c')])] };
  const c2 = new AdsClient(address, true);
  try {
    c2.send({ node: nodeOf(), type_url: T.Cluster, initial_resource_versions: { ...versions, old: 'x' } });
    const r = await c2.next();
    assert.deepEqual(r.names.sort(), ['b', 'c'], 'a is unchanged and not resent');
    assert.deepEqual(r.removed, ['old']);
    ack(c2, T.Cluster, r.nonce);
    c2.send({ type_url: T.Secret, resource_names_subscribe: ['default'] });
    assert.deepEqual((await c2.next()).names, ['default']);
  } finally {
    c2.close();
    await server.close();
  }
});

test('Delta: NACK recorded, not resent; the next version is sent in full', async () => {
  let res: GeneratedResources = baseResources();
  const { server, address } = await startServer({ generate: () => res });
  const c = new AdsClient(address, true);
  try {
    c.send({ node: nodeOf(), type_url: T.Endpoint, resource_names_subscribe: ['a', 'b'] });
    const e1 = await c.next();
    ack(c, T.Endpoint, e1.nonce);
    res = { ...res, [T.Endpoint]: [Object.freeze([cla('a', '10.0.0.5'), cla('b')])] };
    void server.push();
    const e2 = await c.next();
    assert.deepEqual(e2.names, ['a']);
    ack(c, T.Endpoint, e2.nonce, { error_detail: { code: 3, message: 'nope' } });
    assert.equal(await c.none(300), undefined);
    assert.equal(server.rejections()[0]?.message, 'nope');
    res = { ...res, [T.Endpoint]: [Object.freeze([cla('a', '10.0.0.5'), cla('b', '10.0.0.6')])] };
    void server.push();
    const e3 = await c.next();
    assert.deepEqual(e3.names.sort(), ['a', 'b'], 'after a NACK the next version carries every subscribed resource');
  } finally {
    c.close();
    await server.close();
  }
});

test('Delta: two streams with the same first subscription stay independent (the shared list is never mutated)', async () => {
  let res: GeneratedResources = baseResources();
  const { server, address } = await startServer({ generate: () => res });
  const a = new AdsClient(address, true);
  const b = new AdsClient(address, true);
  try {
    for (const [c, name] of [[a, 'app-a'], [b, 'app-b']] as const) {
      c.send({ node: nodeOf(name), type_url: T.Cluster });
      ack(c, T.Cluster, (await c.next()).nonce);
      c.send({ type_url: T.Endpoint, resource_names_subscribe: ['a', 'b'] });
      const e = await c.next();
      assert.deepEqual(e.names, ['a', 'b']);
      ack(c, T.Endpoint, e.nonce);
    }
    // a drops b, then b adds a name: neither change may reach the other stream.
    a.send({ type_url: T.Endpoint, resource_names_unsubscribe: ['b'] });
    assert.equal(await a.none(200), undefined);
    b.send({ type_url: T.Endpoint, resource_names_subscribe: ['late'] });
    assert.equal(await b.none(200), undefined);
    res = { ...res, [T.Cluster]: [Object.freeze([cluster('a'), cluster('b'), cluster('late')])], [T.Endpoint]: [Object.freeze([cla('a', '10.9.9.9'), cla('b', '10.8.8.8'), cla('late')])] };
    void server.push();
    for (const c of [a, b]) ack(c, T.Cluster, (await c.next()).nonce);
    const ea = await a.next();
    assert.equal(ea.typeUrl, T.Endpoint);
    assert.deepEqual(ea.names, ['a'], 'a unsubscribed b and never asked for late');
    const eb = await b.next();
    assert.deepEqual([...eb.names].sort(), ['a', 'b', 'late'], 'b kept b and added late');
  } finally {
    a.close();
    b.close();
    await server.close();
  }
});

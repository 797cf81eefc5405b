/** The admin access decision as a table: route class × request facts × exposure → outcome. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAccess, hostOf, isLoopback, type RouteAccess, type RequestFacts } from '../../../src/admin/access.js';
import { syncState } from '../../../src/xds/server/sync-state.js';

const PUB: RouteAccess = { kind: 'public' };
const READ: RouteAccess = { kind: 'read', resource: 'debug' };
const WRITE: RouteAccess = { kind: 'write', resource: 'ca', verb: 'rotate' };
const LOOP = { exposed: false, open: false };
const EXPOSED = { exposed: true, open: false };
const OPEN = { exposed: true, open: true };
const get = (o: Partial<RequestFacts> = {}): RequestFacts => ({ method: 'GET', host: '127.0.0.1:15014', hasCredential: false, ...o });
const post = (o: Partial<RequestFacts> = {}): RequestFacts => ({ method: 'POST', host: '127.0.0.1:15014', contentType: 'application/json', hasCredential: false, ...o });

const cases: { name: string; access: RouteAccess | undefined; req: RequestFacts; mode: typeof LOOP; want: string }[] = [
  { name: 'public GET, exposed', access: PUB, req: get(), mode: EXPOSED, want: 'allow' },
  { name: 'read on loopback', access: READ, req: get(), mode: LOOP, want: 'allow' },
  { name: 'read on loopback ignores a stale credential', access: READ, req: get({ hasCredential: true }), mode: LOOP, want: 'allow' },
  { name: 'read on loopback with a rebinding Host', access: READ, req: get({ host: 'evil.example:15014' }), mode: LOOP, want: '403 host' },
  { name: 'read on loopback via localhost', access: READ, req: get({ host: 'localhost:15014' }), mode: LOOP, want: 'allow' },
  { name: 'read exposed, anonymous', access: READ, req: get(), mode: EXPOSED, want: '401 no-credential' },
  { name: 'read exposed, credential', access: READ, req: get({ hasCredential: true }), mode: EXPOSED, want: 'authenticate get debug' },
  { name: 'read exposed, --admin-open', access: READ, req: get(), mode: OPEN, want: 'allow' },
  { name: 'write anonymous', access: WRITE, req: post(), mode: LOOP, want: '401 no-credential' },
  { name: 'write with credential', access: WRITE, req: post({ hasCredential: true }), mode: LOOP, want: 'authenticate rotate ca' },
  { name: 'write, --admin-open does not open writes', access: WRITE, req: post(), mode: OPEN, want: '401 no-credential' },
  { name: 'write text/plain', access: WRITE, req: post({ contentType: 'text/plain', hasCredential: true }), mode: LOOP, want: '415 content-type' },
  { name: 'write form', access: WRITE, req: post({ contentType: 'application/x-www-form-urlencoded', hasCredential: true }), mode: LOOP, want: '415 content-type' },
  { name: 'write without content type', access: WRITE, req: post({ contentType: undefined, hasCredential: true }), mode: LOOP, want: '415 content-type' },
  { name: 'write json; charset', access: WRITE, req: post({ contentType: 'application/json; charset=utf-8', hasCredential: true }), mode: LOOP, want: 'authenticate rotate ca' },
  { name: 'write foreign Origin, right token', access: WRITE, req: post({ origin: 'http://evil.example', hasCredential: true }), mode: LOOP, want: '403 cross-origin' },
  { name: 'write Origin null', access: WRITE, req: post({ origin: 'null', hasCredential: true }), mode: LOOP, want: '403 cross-origin' },
  { name: 'write same Origin', access: WRITE, req: post({ origin: 'http://127.0.0.1:15014', hasCredential: true }), mode: LOOP, want: 'authenticate rotate ca' },
  { name: 'write Sec-Fetch-Site cross-site', access: WRITE, req: post({ secFetchSite: 'cross-site', hasCredential: true }), mode: LOOP, want: '403 cross-origin' },
  { name: 'POST to a public route is a write', access: PUB, req: post(), mode: LOOP, want: '401 no-credential' },
  { name: 'undecided route GET: closed', access: undefined, req: get({ contentType: 'application/json' }), mode: LOOP, want: '401 no-credential' },
  { name: 'undecided route needs admin update', access: undefined, req: get({ contentType: 'application/json', hasCredential: true }), mode: LOOP, want: 'authenticate update admin' },
];

test('admin access decisions', () => {
  for (const c of cases) {
    const d = decideAccess(c.access, c.req, c.mode);
    const got = d.outcome === 'allow' ? 'allow' : d.outcome === 'refuse' ? `${d.status} ${d.reason}` : `authenticate ${d.need.verb} ${d.need.resource}`;
    assert.equal(got, c.want, c.name);
  }
});

test('a 401 says what to present', () => {
  const d = decideAccess(WRITE, post(), LOOP);
  assert.ok(d.outcome === 'refuse');
  assert.match(d.message, /Authorization: Bearer <token>.*admin-token.*rotate ca\.meshd\.dev/);
});

test('loopback addresses and Host headers', () => {
  for (const a of ['127.0.0.1', '127.9.9.9', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
  for (const a of ['0.0.0.0', '::', '10.0.0.1', '192.0.2.2', 'meshd.example']) assert.ok(!isLoopback(a), a);
  assert.equal(hostOf('127.0.0.1:15014'), '127.0.0.1');
  assert.equal(hostOf('[::1]:15014'), '::1');
  assert.equal(hostOf('localhost'), 'localhost');
});

test('sync states: NOT SENT, STALE, SYNCED, NACKED (only for the version sent)', () => {
  const nack = { proxyId: 'p', connectionId: 'c', typeUrl: 't', version: 'v1', nonce: '1', message: 'bad', time: '' };
  assert.equal(syncState(undefined), 'NOT SENT');
  assert.equal(syncState({ awaitingAck: false }), 'NOT SENT');
  assert.equal(syncState({ sentVersion: 'v1', awaitingAck: true }), 'STALE');
  assert.equal(syncState({ sentVersion: 'v1', ackedVersion: 'v1', awaitingAck: false }), 'SYNCED');
  assert.equal(syncState({ sentVersion: 'v1', ackedVersion: 'v0', awaitingAck: false, lastNack: nack }), 'NACKED');
  assert.equal(syncState({ sentVersion: 'v2', ackedVersion: 'v2', awaitingAck: false, lastNack: nack }), 'SYNCED');
  assert.equal(syncState({ sentVersion: 'v2', ackedVersion: 'v0', awaitingAck: true, lastNack: nack }), 'STALE');
});

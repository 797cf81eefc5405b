// Fuzzing the ADS request decoders and the stream state machine, without a socket: an
// XdsServer's own handlers get a fake grpc-js call, driven by random message sequences
// (requests, ACKs with the right or a stale nonce, NACKs, unknown types, garbage bytes,
// pushes, a client that reads late). Invariants: no crash; nonces never repeat; only
// subscribed types are sent, named types only with names asked for; a NACKed version is
// never resent; a stream fails only on bad input; once the client is quiet and reads, the
// server goes quiet too (no resend loop).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { messageType } from '../../../src/xds/protos.js';
import { XdsServer } from '../../../src/xds/server/server.js';
import { decodeDeltaRequest, decodeSotwRequest } from '../../../src/xds/server/service.js';
import { serializePieces, type ResponsePieces } from '../../../src/xds/cache/responses.js';
import { decodeResource, ResourceType } from '../../../src/xds/resource-types.js';
import { cla, cluster, listener, nodeOf, route } from '../xds-server/helpers.js';
import type { GeneratedResources } from '../../../src/xds/server/types.js';
import { fuzz, fuzzRuns } from '../../helpers/fuzz.js';

const T = ResourceType;
const TYPES = [T.Cluster, T.Endpoint, T.Listener, T.Route, 'type.googleapis.com/unknown.Type'] as const;
const NAMED = new Set<string>([T.Endpoint, T.Route]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Four consistent resource sets a push switches between. */
function variant(v: number): GeneratedResources {
  const names = v % 2 === 0 ? ['a', 'b'] : ['a', 'c'];
  return {
    [T.Cluster]: [Object.freeze(names.map(cluster))],
    [T.Endpoint]: [Object.freeze(names.map((n) => cla(n, `10.0.${v}.1`)))],
    [T.Listener]: [Object.freeze([listener('L', v < 2 ? 'r' : 'r2')])],
    [T.Route]: [Object.freeze([route(v < 2 ? 'r' : 'r2')])],
  };
}

class FakeCall extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  destroyed = false;
  writable = true;
  failed = false;
  readonly out: Buffer[] = [];
  private held: (() => void)[] = [];
  reading = true;
  constructor() { super(); this.on('error', () => { this.failed = true; this.writable = false; }); }
  getPeer(): string { return 'ipv4:127.0.0.1:40000'; }
  getAuthContext(): object { return {}; }
  write(m: ResponsePieces | Buffer, cb?: () => void): boolean {
    this.out.push(Buffer.from(serializePieces(m))); // a copy: serializePieces returns a reused scratch buffer
    if (cb) { if (this.reading) setImmediate(cb); else this.held.push(cb); }
    return true;
  }
  end(): void { this.writable = false; }
  read(on: boolean): void { this.reading = on; if (on) { const h = this.held; this.held = []; for (const cb of h) setImmediate(cb); } }
}

type Action =
  | { readonly kind: 'req'; readonly type: number; readonly names: readonly string[]; readonly ack: 'last' | 'nack' | 'stale' | 'none' }
  | { readonly kind: 'garbage'; readonly bytes: Uint8Array }
  | { readonly kind: 'push'; readonly variant: number }
  | { readonly kind: 'read'; readonly on: boolean }
  | { readonly kind: 'tick' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('req' as const), type: fc.nat({ max: TYPES.length - 1 }), names: fc.subarray(['a', 'b', 'c', 'r', 'r2', '*', 'zz']), ack: fc.constantFrom('last' as const, 'nack' as const, 'stale' as const, 'none' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('push' as const), variant: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('read' as const), on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const) }) },
);

interface Seen { readonly type: string; readonly version: string; readonly nonce: string; readonly names: string[] }

function decodeSotw(buf: Buffer): Seen {
  const t = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const raw = t.toObject(t.decode(buf), { defaults: true, longs: String, bytes: Buffer }) as { type_url: string; version_info: string; nonce: string; resources: { type_url: string; value: Buffer }[] };
  const names = raw.resources.map((r) => { const o = decodeResource(r.type_url, r.value); return String(o['name'] ?? o['cluster_name']); });
  return { type: raw.type_url, version: raw.version_info, nonce: raw.nonce, names };
}

function decodeDelta(buf: Buffer): Seen {
  const t = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const raw = t.toObject(t.decode(buf), { defaults: true, longs: String, bytes: Buffer }) as { type_url: string; system_version_info: string; nonce: string; resources: { name: string }[] };
  return { type: raw.type_url, version: raw.system_version_info, nonce: raw.nonce, names: raw.resources.map((r) => r.name) };
}

async function runStream(delta: boolean, actions: readonly Action[]): Promise<void> {
  let current = variant(0);
  const server = new XdsServer({ generate: () => current, ackTimeoutMs: 10, convergenceTimeoutMs: 50 });
  let handlers: Record<string, (call: unknown) => void> = {};
  server.addTo({ addService: (_d: unknown, impl: Record<string, (call: unknown) => void>) => { handlers = impl; } } as unknown as grpc.Server);
  const call = new FakeCall();
  handlers[delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources']!(call);
  const reqType = messageType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');
  const send = (req: Record<string, unknown>): void => {
    const buf = Buffer.from(reqType.encode(reqType.fromObject(req)).finish());
    call.emit('data', delta ? decodeDeltaRequest(buf) : buf);
  };
  const decode = delta ? decodeDelta : decodeSotw;
  const asked = new Map<string, Set<string>>();
  const nacked = new Map<string, Set<string>>();
  const lastNames = new Map<string, readonly string[]>([[T.Cluster, []]]);
  /** Per type: the names the server holds. A SotW request with a stale nonce is ignored whole (names too). */
  const serverNames = new Map<string, readonly string[]>([[T.Cluster, []]]);
  /** Per type: the nonce of the newest response the client had when it last changed its names. */
  const pendingChange = new Map<string, string>();
  let garbage = false;
  let parsed = 0;
  const seen = (): Seen[] => { while (parsed < call.out.length) responses.push(decode(call.out[parsed++]!)); return responses; };
  const responses: Seen[] = [];
  const lastOf = (type: string): Seen | undefined => [...seen()].reverse().find((r) => r.type === type);
  send({ node: nodeOf(), type_url: T.Cluster, ...(delta ? {} : { resource_names: [] }) });
  asked.set(T.Cluster, new Set(['*']));
  for (const a of actions) {
    if (call.failed) break;
    if (a.kind === 'req') {
      const type = TYPES[a.type]!;
      const last = lastOf(type);
      // A NACK repeats the names of the request it answers, as Envoy's do (a NACK that also
      // changes the subscription is answered with the NACKed version for the new names).
      const prevNames = lastNames.get(type);
      const names = a.ack === 'nack' && last ? [...(prevNames ?? [])] : [...a.names];
      lastNames.set(type, names);
      const set = asked.get(type) ?? new Set<string>();
      for (const n of names) set.add(n);
      if (!NAMED.has(type) && names.length === 0) set.add('*');
      asked.set(type, set);
      const ackFields = a.ack === 'last' && last ? { response_nonce: last.nonce, ...(delta ? {} : { version_info: last.version }) }
        : a.ack === 'nack' && last ? { response_nonce: last.nonce, ...(delta ? {} : { version_info: '' }), error_detail: { code: 3, message: 'fuzz says no' } }
          : a.ack === 'stale' ? { response_nonce: 'stale-nonce-x', ...(delta ? {} : { version_info: 'v-stale' }) } : {};
      const namesChanged = JSON.stringify([...names].sort()) !== JSON.stringify([...(prevNames ?? [])].sort());
      // Whether the server's subscription changes with this request (it ignored a stale SotW one).
      const serverChange = JSON.stringify([...names].sort()) !== JSON.stringify([...(serverNames.get(type) ?? [])].sort());
      if (delta || a.ack !== 'stale') serverNames.set(type, names);
      // A NACK that crosses an unanswered subscription change (the newest response the client
      // has is older than that change) may be followed by the answer to the change, with the
      // same version: that is not a resend of the NACKed response.
      const crossed = a.ack === 'nack' && last !== undefined && pendingChange.get(type) === last.nonce;
      if (a.ack !== 'nack' && namesChanged) pendingChange.set(type, last?.nonce ?? '');
      // A NACK whose names the server did not hold yet changes its subscription: the answer for
      // those names may carry the NACKed version (not a resend for an unchanged subscription).
      if (a.ack === 'nack' && last && !crossed && !(serverChange && !delta)) { const s = nacked.get(type) ?? new Set(); s.add(last.version); nacked.set(type, s); }
      else if (a.ack === 'nack' && serverChange && !delta) nacked.delete(type);
      // A request that changes the subscription after a NACK is answered for the new names,
      // possibly with the same version: only a resend for an unchanged subscription is a loop.
      // A request without a nonce asks afresh (Envoy only sends one first), and may get it too.
      else if (a.ack === 'none' || (a.ack !== 'nack' && namesChanged)) nacked.delete(type);
      send(delta ? { type_url: type, resource_names_subscribe: names, ...ackFields } : { type_url: type, resource_names: names, ...ackFields });
    } else if (a.kind === 'garbage') {
      garbage = true;
      const buf = Buffer.from(a.bytes);
      call.emit('data', delta ? decodeDeltaRequest(buf) : buf);
      // Garbage that happens to decode is a request like any other; it may ask for anything.
      const d = delta ? decodeDeltaRequest(buf) : decodeSotwRequest(buf);
      if (d.ok) asked.set(d.req.typeUrl, new Set(['*', ...('subscribe' in d.req ? d.req.subscribe : d.req.resourceNames())]));
    } else if (a.kind === 'push') {
      // A push may bring back content equal to a NACKed version (versions follow content):
      // sending it again is one more NACK, not a loop, so only resends without a push count.
      current = variant(a.variant);
      nacked.clear();
      void server.push();
    } else if (a.kind === 'read') call.read(a.on);
    else await new Promise((r) => setImmediate(r));
  }
  // The client reads again and goes quiet: the server must settle, then stay quiet.
  // Quiet means 100 ms without a write; a resend loop never gets there (2 s, on a busy machine).
  call.read(true);
  const t0 = Date.now();
  let last = call.out.length;
  let quietSince = Date.now();
  while (Date.now() - quietSince < 100) {
    await sleep(20);
    if (call.out.length !== last) { last = call.out.length; quietSince = Date.now(); }
    assert.ok(Date.now() - t0 < 2000, `responses kept coming after the client went quiet: ${JSON.stringify(seen().slice(-5))}`);
  }
  const all = seen();
  const nonces = all.map((r) => r.nonce);
  assert.equal(new Set(nonces).size, nonces.length, `a nonce repeated: ${nonces.join(',')}`);
  for (const r of all) {
    const names = asked.get(r.type);
    assert.ok(names, `type ${r.type} was sent but never asked for`);
    if (NAMED.has(r.type) && !names.has('*')) for (const n of r.names) assert.ok(names.has(n), `${r.type} resource ${n} was never asked for`);
    if (!delta) assert.ok(!(nacked.get(r.type)?.has(r.version) && all.indexOf(r) > all.findIndex((x) => x.type === r.type && x.version === r.version)), `NACKed version ${r.version} of ${r.type} was sent again`);
  }
  if (call.failed) assert.ok(garbage, 'the stream failed without bad input');
  else assert.ok(all.some((r) => r.type === T.Cluster), 'the first (wildcard CDS) request was answered');
  call.emit('close');
  await server.close();
}

test('a first request whose node does not decode fails the stream with INVALID_ARGUMENT (it ended meshd: an unhandled rejection)', async () => {
  const server = new XdsServer({ generate: () => variant(0) });
  let handlers: Record<string, (call: unknown) => void> = {};
  server.addTo({ addService: (_d: unknown, impl: Record<string, (call: unknown) => void>) => { handlers = impl; } } as unknown as grpc.Server);
  const call = new FakeCall();
  const errors: { code: number }[] = [];
  call.on('error', (e: { code: number }) => errors.push(e));
  handlers.StreamAggregatedResources!(call);
  call.emit('data', Buffer.from([18, 7, 0, 0, 0, 0, 0, 0, 0])); // field 2 (node): 7 bytes that are no Node
  await sleep(50);
  assert.equal(errors[0]?.code, grpc.status.INVALID_ARGUMENT);
  await server.close();
});

for (const delta of [false, true]) {
  test(`fuzz: ${delta ? 'Delta' : 'SotW'} ADS streams driven by random message sequences`, async () => {
    // Each case waits on timers (~150 ms): a fifth of the runs of the other targets.
    const runs = await fuzz(`ads-${delta ? 'delta' : 'sotw'}`, fc.array(action, { maxLength: 25 }), (actions) => runStream(delta, actions), Math.max(20, Math.floor(fuzzRuns() / 5)));
    assert.ok(runs > 0);
  });
}

test('fuzz: the request decoders never throw on random bytes', async () => {
  await fuzz('ads-decoders', fc.uint8Array({ maxLength: 200 }), (bytes) => {
    const b = Buffer.from(bytes);
    const s = decodeSotwRequest(b);
    if (s.ok) { s.req.resourceNames(); s.req.namesDigest(); s.req.node(); }
    decodeDeltaRequest(b);
  });
});

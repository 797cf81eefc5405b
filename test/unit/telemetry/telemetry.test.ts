/**
 * Telemetry without Envoy: access-log entries → records, the bounded store, name resolution,
 * the edges / denials / plaintext reports, and the receiver's authentication and ingest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type MeshSnapshot } from '../../../src/model/types.js';
import type { Authenticator } from '../../../src/ca/auth.js';
import { silentLogger } from '../../../src/util/log.js';
import { messageType } from '../../../src/xds/protos.js';
import { deniedPolicyKey, httpRecord, messageRecords, tcpRecord, type LogRecord } from '../../../src/telemetry/records.js';
import { Lru, TelemetryStore } from '../../../src/telemetry/store.js';
import { resolveDestination, resolveSource } from '../../../src/telemetry/resolve.js';
import { denialRows, edgeRows, plaintextReport } from '../../../src/telemetry/reports.js';
import { TelemetryReceiver } from '../../../src/telemetry/receiver.js';
import { CHAIN_TAG, inboundHttpGrpcAccessLog } from '../../../src/telemetry/als-config.js';

const TD = 'cluster.local';
const FE = `spiffe://${TD}/ns/production/sa/frontend`;

function snapshot(extra: unknown[] = []): MeshSnapshot {
  const we = (name: string, sa: string, address: string, labels: Record<string, string> = { app: name }) => ({
    apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name, namespace: 'production' },
    spec: { address, labels, serviceAccount: sa, ports: { http: 8080 } },
  });
  const raws = [
    we('frontend', 'frontend', '10.0.0.1'), we('backend', 'backend', '10.0.0.2'), we('backend-v2', 'backend', '10.0.0.3', { app: 'backend' }),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'backend', namespace: 'production' }, spec: { selector: { app: 'backend' }, ports: [{ name: 'http', port: 8080 }] } },
    ...extra,
  ];
  const objs: MeshObject[] = [];
  for (const r of raws) {
    const p = parseObject(r, { source: 'test', defaultNamespace: 'default' });
    assert.equal(p.status, 'ok', JSON.stringify(p.diagnostics));
    if (p.status === 'ok') objs.push(p.object);
  }
  return buildSnapshot(objs, DEFAULT_MESH_CONFIG, 1);
}

const ALLOW_FRONTEND = {
  apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'backend-access', namespace: 'production' },
  spec: { selector: { matchLabels: { app: 'backend' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/production/sa/frontend'] } }] }] },
};

const httpEntry = (o: { ip: string; uri?: string; chain: string; code: number; details?: string }) => ({
  common_properties: {
    downstream_remote_address: { socket_address: { address: o.ip, port_value: 40000 } },
    ...(o.uri ? { tls_properties: { peer_certificate_properties: { subject_alt_name: [{ uri: o.uri }] } } } : {}),
    custom_tags: { [CHAIN_TAG]: o.chain },
  },
  response: { response_code: { value: o.code }, response_code_details: o.details ?? 'via_upstream' },
});

test('records: chain kind, peer SPIFFE id, and the denying RBAC key from response or termination details', () => {
  const r = httpRecord(httpEntry({ ip: '10.0.0.1', uri: FE, chain: 'inbound|8080|mtls', code: 403, details: 'rbac_access_denied_matched_policy[ns[production]-policy[deny-admin]-rule[0]]' }));
  assert.deepEqual(r, { kind: 'http', sourceAddress: '10.0.0.1', peerUri: FE, chain: 'inbound|8080|mtls', chainKind: 'mtls', port: 8080, responseCode: 403, deniedBy: 'ns[production]-policy[deny-admin]-rule[0]' });
  assert.equal(deniedPolicyKey('rbac_access_denied_matched_policy[none]'), 'none');
  assert.equal(deniedPolicyKey('via_upstream'), undefined);
  const t = tcpRecord({ common_properties: { downstream_remote_address: { socket_address: { address: '10.9.9.9' } }, custom_tags: { [CHAIN_TAG]: 'inbound|9000|plaintext' }, connection_termination_details: 'rbac_access_denied_matched_policy[none]' } });
  assert.equal(t.chainKind, 'plaintext');
  assert.equal(t.deniedBy, 'none');
  assert.equal(httpRecord({}).chainKind, 'unknown', 'an untagged entry is not guessed');
});

test('records: a real StreamAccessLogsMessage encoded with Envoy\'s protos decodes to the same facts', () => {
  const t = messageType('envoy.service.accesslog.v3.StreamAccessLogsMessage');
  const bytes = t.encode(t.fromObject({
    identifier: { node: { id: 'sidecar~10.0.0.2~backend.production~production.svc.cluster.local' }, log_name: 'meshd-inbound' },
    http_logs: { log_entry: [httpEntry({ ip: '10.0.0.7', chain: 'inbound|8080|plaintext', code: 200 })] },
  })).finish();
  const msg = t.toObject(t.decode(bytes), { longs: Number, enums: String }) as Record<string, unknown>;
  const [r] = messageRecords(msg);
  assert.deepEqual(r, { kind: 'http', sourceAddress: '10.0.0.7', peerUri: '', chain: 'inbound|8080|plaintext', chainKind: 'plaintext', port: 8080, responseCode: 200 });
});

test('als config: one logger per chain, tagged with the chain name, to the bootstrap\'s xds-grpc cluster', () => {
  const l = inboundHttpGrpcAccessLog('inbound|8080|mtls') as { typed_config: { common_config: { grpc_service: unknown; custom_tags: unknown } } };
  assert.deepEqual(l.typed_config.common_config.grpc_service, { envoy_grpc: { cluster_name: 'xds-grpc' } });
  assert.deepEqual(l.typed_config.common_config.custom_tags, [{ tag: CHAIN_TAG, literal: { value: 'inbound|8080|mtls' } }]);
});

test('store: LRU caps every table; the least recently seen entry goes first', () => {
  const lru = new Lru<number>(2);
  lru.touch('a', () => 1); lru.touch('b', () => 2); lru.touch('a', () => 9); lru.touch('c', () => 3);
  assert.deepEqual([...lru.values()], [1, 3]);
  const store = new TelemetryStore(0, { edges: 5, plaintext: 3, denials: 2 });
  const dst = { namespace: 'production', workload: 'backend', serverId: '' };
  for (let i = 0; i < 100; i++) store.add(dst, { kind: 'http', sourceAddress: `10.1.0.${i}`, peerUri: '', chain: 'inbound|8080|plaintext', chainKind: 'plaintext', port: 8080, deniedBy: `k${i}` }, i);
  assert.equal(store.edges.size, 5);
  assert.equal(store.plaintext.size, 3);
  assert.equal(store.denials.size, 2);
  assert.deepEqual([...store.plaintext.values()].map((p) => p.sourceAddress), ['10.1.0.97', '10.1.0.98', '10.1.0.99']);
});

test('resolve: the destination is the credential\'s, not the node\'s claim', () => {
  const s = snapshot();
  const id = { trustDomain: TD, namespace: 'production', serviceAccount: 'backend' };
  assert.deepEqual(resolveDestination(s, id, 'sidecar~10.0.0.3~backend-v2.production~production.svc.cluster.local'), { namespace: 'production', workload: 'backend-v2', serverId: `spiffe://${TD}/ns/production/sa/backend` });
  // A backend credential claiming to be frontend: the claim is ignored; two workloads share the identity.
  assert.deepEqual(resolveDestination(s, id, 'sidecar~10.0.0.1~frontend.production~production.svc.cluster.local'), { namespace: 'production', workload: 'sa/backend', serverId: `spiffe://${TD}/ns/production/sa/backend` });
  const fe = { trustDomain: TD, namespace: 'production', serviceAccount: 'frontend' };
  assert.equal(resolveDestination(s, fe, 'sidecar~1.2.3.4~liar.production~production.svc.cluster.local')?.workload, 'frontend', 'the only workload with that identity');
  assert.equal(resolveDestination(s, undefined, 'garbage'), undefined);
  assert.deepEqual(resolveSource(s, FE, '127.0.0.1'), { name: 'frontend', namespace: 'production' });
  assert.deepEqual(resolveSource(s, `spiffe://${TD}/ns/production/sa/backend`, '10.0.0.3'), { name: 'backend-v2', namespace: 'production' });
  assert.deepEqual(resolveSource(s, `spiffe://${TD}/ns/production/sa/backend`, '127.0.0.1'), { name: 'backend,backend-v2', namespace: 'production' });
  assert.deepEqual(resolveSource(s, '', '10.0.0.1'), { name: 'frontend', namespace: 'production' });
  assert.deepEqual(resolveSource(s, '', '192.168.1.1'), { name: '192.168.1.1', namespace: '' });
});

test('reports: edges keep meshctl edges\' shape; denials name the ALLOW policy for [none]; plaintext report per window', () => {
  const s = snapshot([ALLOW_FRONTEND]);
  const store = new TelemetryStore(0);
  const dst = { namespace: 'production', workload: 'backend', serverId: `spiffe://${TD}/ns/production/sa/backend` };
  const rec = (o: Partial<LogRecord>): LogRecord => ({ kind: 'http', sourceAddress: '10.0.0.1', peerUri: '', chain: 'inbound|8080|mtls', chainKind: 'mtls', port: 8080, ...o });
  const MIN = 60_000;
  store.add(dst, rec({ peerUri: FE }), 1 * MIN);
  store.add(dst, rec({ peerUri: FE, deniedBy: 'none', responseCode: 403 }), 2 * MIN);
  store.add(dst, rec({ sourceAddress: '192.168.1.1', chain: 'inbound|8080|plaintext', chainKind: 'plaintext' }), 3 * MIN);
  store.add(dst, rec({ sourceAddress: '10.0.0.1', chain: 'inbound|8080|plaintext', chainKind: 'plaintext' }), 30 * MIN);
  const edges = edgeRows(store, s, 'production');
  // Sorted by destination, then source namespace and name; the plaintext caller at frontend's address is named by it.
  assert.deepEqual(edges.map((e) => [e.srcNamespace, e.src, e.secured, e.requests, e.denied]), [
    ['', '192.168.1.1', false, 1, 0],
    ['production', 'frontend', false, 1, 0],
    ['production', 'frontend', true, 2, 1],
  ]);
  const fe = edges.find((e) => e.clientId === FE)!;
  assert.deepEqual(Object.keys(fe), ['src', 'dst', 'srcNamespace', 'dstNamespace', 'clientId', 'serverId', 'secured', 'denied', 'requests', 'lastSeen']);
  assert.deepEqual({ ...fe }, { src: 'frontend', dst: 'backend', srcNamespace: 'production', dstNamespace: 'production', clientId: FE, serverId: dst.serverId, secured: true, denied: 1, requests: 2, lastSeen: new Date(2 * MIN).toISOString() });
  assert.equal(edgeRows(store, s, 'staging').length, 0);

  const [d] = denialRows(store, s);
  assert.equal(d!.policy, 'production/backend-access');
  assert.equal(d!.rbacPolicy, 'none');

  // At minute 35 with a 10-minute window: only the minute-30 client would break.
  const rep = plaintextReport(store, s, 35 * MIN, 10 * MIN, 'production');
  const ns = rep.namespaces[0]!;
  assert.equal(ns.readyForStrict, false);
  const be = ns.workloads.find((w) => w.workload === 'backend')!;
  assert.deepEqual(be.clients.map((c) => [c.source, c.sourceAddress, c.inWindow]), [['frontend', '10.0.0.1', 1]]);
  assert.equal(ns.workloads.find((w) => w.workload === 'backend-v2')!.readyForStrict, true);
  assert.equal(rep.complete, true);
  // With a 60-minute window both clients show; with one minute, none (ready, but observed long enough).
  assert.equal(plaintextReport(store, s, 35 * MIN, 60 * MIN).namespaces[0]!.workloads.find((w) => w.workload === 'backend')!.clients.length, 2);
  const short = plaintextReport(store, s, 35 * MIN, MIN);
  assert.equal(short.namespaces[0]!.readyForStrict, true);
});

test('receiver: streams are authenticated; unauthenticated ones are refused unless allowed; records land under the credential\'s workload', async () => {
  const s = snapshot([ALLOW_FRONTEND]);
  const authenticator: Authenticator = {
    async authenticate(ctx) {
      if (ctx.authorization === 'Bearer good') return { ok: true, identity: { trustDomain: TD, namespace: 'production', serviceAccount: 'backend' }, method: 'join-token' };
      return ctx.authorization ? { ok: false, reason: 'bad-signature', message: 'bad token' } : { ok: false, reason: 'no-credentials', message: 'none' };
    },
  };
  const registry = new Registry();
  const rx = new TelemetryReceiver({ authenticator, snapshot: () => s, registry, log: silentLogger, now: () => 1000 });
  const bad = await rx.openStream({ authorization: 'Bearer bad' });
  assert.equal(bad.ok, false);
  assert.equal((await rx.openStream({})).ok, false);
  const open = await rx.openStream({ authorization: 'Bearer good' });
  assert.ok(open.ok);
  rx.ingest(open.session, {
    identifier: { node: { id: 'sidecar~10.0.0.2~backend.production~production.svc.cluster.local' } },
    http_logs: { log_entry: [
      httpEntry({ ip: '10.9.0.1', chain: 'inbound|8080|plaintext', code: 403, details: 'rbac_access_denied_matched_policy[none]' }),
      httpEntry({ ip: '10.0.0.1', uri: FE, chain: 'inbound|8080|mtls', code: 200 }),
    ] },
  });
  const m = await registry.metrics();
  assert.match(m, /meshd_plaintext_requests_total\{namespace="production",workload="backend"\} 1/);
  assert.match(m, /meshd_authz_denied_total\{namespace="production",workload="backend",policy="production\/backend-access"\} 1/);
  assert.match(m, /meshd_edge_requests_total\{src_namespace="production",namespace="production",workload="backend",secured="true"\} 1/);
  const loose = new TelemetryReceiver({ authenticator, snapshot: () => s, registry: new Registry(), log: silentLogger, allowUnauthenticated: true });
  const u = await loose.openStream({});
  assert.ok(u.ok && u.session.identity === undefined);
});

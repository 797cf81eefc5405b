/**
 * The Telemetry API and the mesh config as data: bad input becomes diagnostics with field
 * paths (a table), and the effective settings follow Istio's mesh < namespace < workload
 * precedence (a simulation table over real snapshots).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { parseMeshConfig, applyMeshConfig } from '../../../src/config/mesh-config.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic } from '../../../src/model/types.js';
import { effectiveTelemetry } from '../../../src/telemetry/effective.js';
import { TelemetryGuard } from '../../../src/telemetry/provider-check.js';

const ctx = { source: 'in.yaml', defaultNamespace: 'default' };
const telemetry = (ns: string, name: string, spec: unknown, extra: Record<string, unknown> = {}): unknown => ({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace: ns, ...extra }, spec });

const BAD: { name: string; spec: unknown; field: string; message: RegExp }[] = [
  { name: 'sampling above 100', spec: { tracing: [{ randomSamplingPercentage: 150 }] }, field: 'spec.tracing[0].randomSamplingPercentage', message: /0 to 100/ },
  { name: 'negative sampling', spec: { tracing: [{ randomSamplingPercentage: -1 }] }, field: 'spec.tracing[0].randomSamplingPercentage', message: /0 to 100/ },
  { name: 'sampling as a string', spec: { tracing: [{ randomSamplingPercentage: '10' }] }, field: 'spec.tracing[0].randomSamplingPercentage', message: /number/ },
  { name: 'unknown mode', spec: { tracing: [{ match: { mode: 'BOTH' } }] }, field: 'spec.tracing[0].match.mode', message: /CLIENT_AND_SERVER/ },
  { name: 'provider without a name', spec: { accessLogging: [{ providers: [{}] }] }, field: 'spec.accessLogging[0].providers[0].name', message: /required/ },
  { name: 'unknown metric', spec: { metrics: [{ overrides: [{ match: { metric: 'LATENCY' } }] }] }, field: 'spec.metrics[0].overrides[0].match.metric', message: /REQUEST_COUNT/ },
  { name: 'upsert without value', spec: { metrics: [{ overrides: [{ tagOverrides: { x: {} } }] }] }, field: 'spec.metrics[0].overrides[0].tagOverrides[x].value', message: /CEL/ },
  { name: 'bad tag name', spec: { metrics: [{ overrides: [{ tagOverrides: { 'a-b': { operation: 'REMOVE' } } }] }] }, field: 'spec.metrics[0].overrides[0].tagOverrides[a-b]', message: /label name/ },
  { name: 'custom tag with two kinds', spec: { tracing: [{ customTags: { t: { literal: { value: 'a' }, header: { name: 'h' } } } }] }, field: 'spec.tracing[0].customTags[t]', message: /exactly one/ },
  { name: 'unknown field', spec: { tracing: [{ samplingRate: 5 }] }, field: 'spec.tracing[0].samplingRate', message: /unknown field/ },
  { name: 'targetRefs', spec: { targetRefs: [{ kind: 'Gateway', name: 'x' }] }, field: 'spec.targetRefs', message: /not supported/ },
];

for (const c of BAD) {
  test(`Telemetry: ${c.name} is refused at ${c.field}`, () => {
    const r = parseObject(telemetry('shop', 't', c.spec), ctx);
    assert.equal(r.status, 'invalid');
    const d = r.diagnostics.find((x) => x.field === c.field);
    assert.ok(d, `no diagnostic at ${c.field}: ${r.diagnostics.map(formatDiagnostic).join('; ')}`);
    assert.match(d.message, c.message);
    assert.equal(d.kind, 'Telemetry');
    assert.equal(d.name, 't');
  });
}

test('mesh config: a malformed extension provider names the field; unknown fields are warnings', () => {
  const bad = parseMeshConfig(YAML.parse('extensionProviders:\n- name: z\n  zipkin: {service: z.istio-system.svc.cluster.local}\n- name: o\n  skywalkingg: {}\n'), 'mesh.yaml');
  assert.equal(bad.ok, false);
  const fields = bad.ok ? [] : bad.diagnostics.map((d) => d.field);
  assert.ok(fields.includes('extensionProviders[0].zipkin.port'), fields.join());
  assert.ok(fields.includes('extensionProviders[1].skywalkingg'), fields.join());
  const dup = parseMeshConfig({ extensionProviders: [{ name: 'a', prometheus: {} }, { name: 'a', prometheus: {} }] }, 'm');
  assert.equal(dup.ok, false);
  const ok = parseMeshConfig({ accessLogFile: '/dev/stdout', defaultProviders: { tracing: ['nope'] } }, 'm');
  assert.equal(ok.ok, false, 'a default provider must exist');
  const good = parseMeshConfig({ accessLogFile: '/dev/stdout', extensionProviders: [{ name: 'z', zipkin: { service: 'z.x.svc.cluster.local', port: 9411 } }, { name: 'ext', envoyExtAuthzGrpc: { service: 'opa.x.svc.cluster.local', port: 9191 } }], defaultProviders: { tracing: ['z'] } }, 'm');
  assert.ok(good.ok);
  assert.ok(good.ok && good.warnings.some((w) => w.field === 'accessLogFile'));
  assert.deepEqual(good.ok && good.value.extensionProviders, [{ name: 'ext', service: 'opa.x.svc.cluster.local', port: 9191, protocol: 'grpc' }], 'ext_authz providers feed CUSTOM policies');
  assert.equal(good.ok && good.value.telemetryProviders?.[0]?.kind, 'zipkin');
});

test('mesh config: ext_authz providers (gRPC and HTTP) read every field Istio has, and bad values name the field', () => {
  const good = parseMeshConfig({ extensionProviders: [
    { name: 'g', envoyExtAuthzGrpc: { service: 'authz/opa.authz.svc.cluster.local', port: 9191, timeout: '250ms', failOpen: true, statusOnError: '503', includeRequestBodyInCheck: { maxRequestBytes: 1024, packAsBytes: true } } },
    { name: 'h', envoyExtAuthzHttp: { service: 'h.authz.svc.cluster.local', port: 8000, pathPrefix: '/check', includeRequestHeadersInCheck: ['x-user', 'x-ext-*'], includeAdditionalHeadersInCheck: { 'x-by': 'meshd' }, headersToUpstreamOnAllow: ['x-authz-user'], headersToDownstreamOnDeny: ['x-reason'], headersToDownstreamOnAllow: ['x-ok'] } },
  ] }, 'm');
  assert.ok(good.ok, JSON.stringify(!good.ok && good.diagnostics));
  assert.deepEqual(good.ok && good.value.extensionProviders, [
    { name: 'g', service: 'authz/opa.authz.svc.cluster.local', port: 9191, protocol: 'grpc', timeoutMs: 250, failOpen: true, statusOnError: 503, includeRequestBody: { maxRequestBytes: 1024, packAsBytes: true } },
    { name: 'h', service: 'h.authz.svc.cluster.local', port: 8000, protocol: 'http', pathPrefix: '/check', includeRequestHeaders: ['x-user', 'x-ext-*'], additionalHeaders: { 'x-by': 'meshd' }, headersToUpstreamOnAllow: ['x-authz-user'], headersToDownstreamOnDeny: ['x-reason'], headersToDownstreamOnAllow: ['x-ok'] },
  ]);
  const bad = parseMeshConfig({ extensionProviders: [
    { name: 'g', envoyExtAuthzGrpc: { service: 'opa', port: 9191, timeout: 'soon', failOpen: 'yes', statusOnError: '299', includeRequestBodyInCheck: {}, pathPrefix: '/x' } },
    { name: 'h', envoyExtAuthzHttp: { service: 'h', port: 8000, pathPrefix: 'check', headersToUpstreamOnAllow: ['*x*'] } },
  ] }, 'm');
  assert.equal(bad.ok, false);
  const fields = bad.ok ? [] : bad.diagnostics.filter((d) => d.severity === 'error').map((d) => d.field).sort();
  assert.deepEqual(fields, [
    'extensionProviders[0].envoyExtAuthzGrpc.failOpen', 'extensionProviders[0].envoyExtAuthzGrpc.includeRequestBodyInCheck.maxRequestBytes',
    'extensionProviders[0].envoyExtAuthzGrpc.pathPrefix', // HTTP-only field on a gRPC provider
    'extensionProviders[0].envoyExtAuthzGrpc.statusOnError', 'extensionProviders[0].envoyExtAuthzGrpc.timeout',
    'extensionProviders[1].envoyExtAuthzHttp.headersToUpstreamOnAllow[0]', 'extensionProviders[1].envoyExtAuthzHttp.pathPrefix',
  ]);
});

function snapshotOf(docs: unknown[], mesh: Record<string, unknown>): ReturnType<typeof buildSnapshot> {
  const objects: MeshObject[] = [];
  for (const d of docs) { const r = parseObject(d, ctx); assert.equal(r.status, 'ok', JSON.stringify(r.diagnostics)); if (r.status === 'ok') objects.push(r.object); }
  const m = parseMeshConfig(mesh, 'mesh');
  assert.ok(m.ok);
  return buildSnapshot(objects, applyMeshConfig(DEFAULT_MESH_CONFIG, m.ok ? m.value : {}), 1);
}

const MESH = { extensionProviders: [{ name: 'zipkin', zipkin: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } }, { name: 'otel', opentelemetry: { service: 'otel.istio-system.svc.cluster.local', port: 4317 } }], defaultConfig: { tracing: { sampling: 2 } } };

test('precedence: mesh < namespace < workload, field by field; metric overrides accumulate', () => {
  const s = snapshotOf([
    telemetry('istio-system', 'mesh', { tracing: [{ providers: [{ name: 'zipkin' }], randomSamplingPercentage: 10 }], metrics: [{ overrides: [{ match: { metric: 'REQUEST_SIZE' }, disabled: true }] }] }),
    telemetry('shop', 'ns', { tracing: [{ randomSamplingPercentage: 50, customTags: { team: { literal: { value: 'shop' } } } }] }),
    telemetry('shop', 'web', { selector: { matchLabels: { app: 'web' } }, tracing: [{ match: { mode: 'SERVER' }, providers: [{ name: 'otel' }] }], metrics: [{ overrides: [{ match: { metric: 'REQUEST_SIZE', mode: 'CLIENT' }, disabled: false }] }] }),
  ], MESH);
  const rows: { ns: string; labels: Record<string, string>; side: 'client' | 'server'; provider?: string; sampling?: number; team?: string; requestSize: boolean }[] = [
    { ns: 'other', labels: {}, side: 'server', provider: 'zipkin', sampling: 10, requestSize: false },
    { ns: 'shop', labels: { app: 'db' }, side: 'server', provider: 'zipkin', sampling: 50, team: 'shop', requestSize: false },
    { ns: 'shop', labels: { app: 'web' }, side: 'server', provider: 'otel', sampling: 50, team: 'shop', requestSize: false },
    { ns: 'shop', labels: { app: 'web' }, side: 'client', provider: 'zipkin', sampling: 50, team: 'shop', requestSize: true },
  ];
  for (const r of rows) {
    const e = effectiveTelemetry(s, r.ns, r.labels)[r.side];
    const what = `${r.ns} ${JSON.stringify(r.labels)} ${r.side}`;
    assert.equal(e.tracing?.provider.name, r.provider, what);
    assert.equal(e.tracing?.sampling, r.sampling, what);
    assert.equal((e.tracing?.customTags.team as { value?: string } | undefined)?.value, r.team, what);
    assert.equal(!e.metrics?.get('REQUEST_SIZE')?.disabled, r.requestSize, what);
  }
  // No Telemetry, no default tracer: no tracing; metrics on (prometheus is Istio's default).
  const bare = effectiveTelemetry(snapshotOf([], {}), 'x', {});
  assert.equal(bare.server.tracing, undefined);
  assert.ok(bare.server.metrics);
  // defaultProviders.tracing with the mesh config's default sampling.
  const dflt = effectiveTelemetry(snapshotOf([], { ...MESH, defaultProviders: { tracing: ['otel'] } }), 'x', {});
  assert.equal(dflt.client.tracing?.provider.name, 'otel');
  assert.equal(dflt.client.tracing?.sampling, 2);
  // The oldest of two namespace-wide resources applies; the other is warned about.
  const two = snapshotOf([
    telemetry('shop', 'b', { tracing: [{ providers: [{ name: 'zipkin' }] }] }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
    telemetry('shop', 'a', { tracing: [{ providers: [{ name: 'otel' }] }] }, { creationTimestamp: '2024-02-01T00:00:00Z' }),
  ], MESH);
  const e2 = effectiveTelemetry(two, 'shop', {});
  assert.equal(e2.server.tracing?.provider.name, 'zipkin');
  assert.ok(e2.diagnostics.some((d) => d.name === 'a' && d.severity === 'warning'));
});

test('a Telemetry naming an unknown provider keeps its last good version', () => {
  const guard = new TelemetryGuard();
  const base = applyMeshConfig(DEFAULT_MESH_CONFIG, (parseMeshConfig(MESH, 'm') as { value: object }).value);
  const v1 = parseObject(telemetry('shop', 't', { tracing: [{ providers: [{ name: 'zipkin' }] }] }), ctx);
  const v2 = parseObject(telemetry('shop', 't', { tracing: [{ providers: [{ name: 'jaeger' }] }] }), ctx);
  assert.ok(v1.status === 'ok' && v2.status === 'ok');
  const first = guard.apply([v1.object], base);
  assert.equal(first.diagnostics.length, 0);
  const second = guard.apply([v2.object], base);
  assert.equal(second.objects[0], v1.object, 'last good version in force');
  assert.match(formatDiagnostic(second.diagnostics[0]!), /Telemetry shop\/t: spec\.tracing\[0\]\.providers\[0\]\.name: no extension provider "jaeger".*last good version stays in force/);
  const fresh = new TelemetryGuard().apply([v2.object], base);
  assert.equal(fresh.objects.length, 0, 'never good: not applied');
});

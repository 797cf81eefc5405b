/**
 * Telemetry's cost per proxy: the blocks it adds to listeners (stats loggers, peer-exchange
 * filters, tracing) are frozen and shared by value, so chains, proxies and snapshots with the
 * same inputs hold the identical object (encoded once, compared by identity). The proxy's own
 * workload is not in them but in each listener's `meshd.self` metadata, so another workload
 * shares them too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type MeshConfig, type MeshSnapshot, type ProxyInfo } from '../../../src/model/types.js';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';
import { translate } from '../../../src/xds/translate/index.js';

const CONFIG: MeshConfig = {
  ...DEFAULT_MESH_CONFIG,
  telemetryProviders: [{ kind: 'zipkin', name: 'zipkin', target: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } }],
  defaultProviders: { tracing: ['zipkin'] },
};

function snapshot(generation: number, extraPort = false): MeshSnapshot {
  const we = (name: string, address: string) => ({
    apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name, namespace: 'shop' },
    spec: { address, labels: { app: name }, serviceAccount: name, ports: { http: 8080 } },
  });
  const svc = (name: string, ns: string, ports: unknown[]) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports } });
  const raws = [
    we('frontend', '10.0.0.1'), we('backend', '10.0.0.2'),
    svc('backend', 'shop', [{ name: 'http', port: 8080 }, ...(extraPort ? [{ name: 'http-admin', port: 9090, targetPort: 8080 }] : [])]),
    svc('frontend', 'shop', [{ name: 'http', port: 80, targetPort: 8080 }]),
    svc('zipkin', 'istio-system', [{ name: 'http-zipkin', port: 9411 }]),
  ];
  const objs: MeshObject[] = raws.map((r) => {
    const p = parseObject(r, { source: 'test', defaultNamespace: 'default' });
    assert.equal(p.status, 'ok', JSON.stringify(p.diagnostics));
    return (p as { object: MeshObject }).object;
  });
  return buildSnapshot(objs, CONFIG, generation);
}

const proxy = (workloadName: string, ip: string): ProxyInfo => ({ id: workloadName, ip, workloadName, namespace: 'shop', labels: {}, interceptionMode: 'REDIRECT', proxyless: false });

/** The `meshd.self` metadata of a proxy's listeners, by listener name. */
function selfMetadata(s: MeshSnapshot, p: ProxyInfo): Map<string, EnvoyObject> {
  const out = new Map<string, EnvoyObject>();
  for (const l of translate(s, p).listeners.flat()) {
    const md = (l.metadata as { filter_metadata?: Record<string, EnvoyObject> } | undefined)?.filter_metadata?.['meshd.self'];
    if (md) out.set(String(l.name), md);
  }
  return out;
}

/** The HCMs of a proxy's listeners, by listener name. */
function hcms(s: MeshSnapshot, p: ProxyInfo): Map<string, EnvoyObject> {
  const out = new Map<string, EnvoyObject>();
  for (const l of translate(s, p).listeners.flat()) {
    for (const c of (l.filter_chains as EnvoyObject[] | undefined) ?? []) {
      for (const f of (c.filters as EnvoyObject[]) ?? []) if (f.name === 'envoy.filters.network.http_connection_manager') out.set(`${String(l.name)}/${String(c.name ?? '')}`, f.typed_config as EnvoyObject);
    }
  }
  return out;
}
const statsLog = (hcm: EnvoyObject): EnvoyObject => (hcm.access_log as EnvoyObject[]).find((a) => a.name === 'envoy.access_loggers.stats')!;
const filters = (hcm: EnvoyObject): EnvoyObject[] => hcm.http_filters as EnvoyObject[];

test('outbound HCMs of one proxy share one stats logger, peer filters and tracing block, all frozen', () => {
  const s = snapshot(1);
  const out = [...hcms(s, proxy('frontend', '10.0.0.1'))].filter(([k]) => !k.startsWith('virtualInbound')).map(([, v]) => v);
  assert.ok(out.length >= 2, `expected several outbound HCMs, got ${out.length}`);
  for (const h of out.slice(1)) {
    assert.equal(statsLog(h), statsLog(out[0]!), 'the same stats logger object');
    assert.equal(filters(h)[0], filters(out[0]!)[0], 'the same header_to_metadata filter');
    assert.equal(filters(h)[1], filters(out[0]!)[1], 'the same header_mutation filter');
    assert.ok(h.tracing, 'tracing is configured');
    assert.equal(h.tracing, out[0]!.tracing, 'the same tracing block');
  }
  assert.ok(Object.isFrozen(statsLog(out[0]!)) && Object.isFrozen(out[0]!.tracing));
});

test('a new snapshot with equal inputs reuses the blocks; another workload shares them, its identity in the listener metadata', () => {
  const a = hcms(snapshot(1), proxy('frontend', '10.0.0.1'));
  const b = hcms(snapshot(2, true), proxy('frontend', '10.0.0.1'));
  const other = hcms(snapshot(2, true), proxy('backend', '10.0.0.2'));
  const key = [...a.keys()].find((k) => k.startsWith('virtualInbound'))!;
  assert.ok(key, 'frontend has an inbound HCM');
  assert.equal(statsLog(b.get(key)!), statsLog(a.get(key)!), 'inbound stats logger survives a snapshot change');
  const outKey = [...a.keys()].find((k) => !k.startsWith('virtualInbound'))!;
  assert.equal(statsLog(b.get(outKey)!), statsLog(a.get(outKey)!), 'outbound stats logger survives a snapshot change');
  assert.equal(filters(b.get(outKey)!)[1], filters(a.get(outKey)!)[1]);
  // backend's own identity is in its listeners' metadata, not in the loggers and filters: the same objects.
  assert.equal(statsLog(other.get(outKey)!), statsLog(a.get(outKey)!));
  assert.equal(filters(other.get(outKey)!)[1], filters(a.get(outKey)!)[1]);
  assert.doesNotMatch(JSON.stringify(statsLog(a.get(outKey)!)), /frontend/);
  const mine = selfMetadata(snapshot(2, true), proxy('frontend', '10.0.0.1'));
  const theirs = selfMetadata(snapshot(2, true), proxy('backend', '10.0.0.2'));
  const outName = outKey.slice(0, outKey.indexOf('/'));
  assert.equal(mine.get(outName)!.workload, 'frontend');
  assert.match(String(mine.get(outName)!.peer), /^frontend;shop;frontend;unknown;frontend;latest;Kubernetes;unknown;unknown;unknown$/);
  assert.equal(theirs.get(outName)!.workload, 'backend');
  // The inbound listener names each chain's service (destination_service and the server's peer header).
  const chains = theirs.get('virtualInbound')!.chains as Record<string, EnvoyObject>;
  assert.equal(chains['inbound|8080|mtls']!.serviceHost, 'backend.shop.svc.cluster.local');
  assert.match(String(chains['inbound|8080|mtls']!.peer), /^backend;shop;.*;backend\.shop\.svc\.cluster\.local;backend;shop$/);
});

/**
 * The xDS bench's peer plumbing: the istiod config folder it writes, the istiod log figures
 * it reads, and the load generator's change detection against meshd's real ADS server
 * (behaviour only; the bench's timings are never checked here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { IstioFiles } from '../../../bench/xds-istio-files.js';
import { LoadgenPool } from '../../../bench/xds-loadgens.js';
import { fileReloads, startMeshd } from '../../../bench/xds-servers.js';
import { MeshWorkload, type WorkloadShape } from '../../../bench/xds-workload.js';
import { ResourceType as T } from '../../../src/xds/resource-types.js';

const SMALL: WorkloadShape = { name: 'tiny', namespaces: 2, servicesPerNamespace: 3, endpointsPerService: 2, sidecars: 3, tls: false };

type Doc = { kind: string; metadata: { name: string; namespace: string }; spec: Record<string, unknown> };
const read = (file: string): Doc[] => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON() as Doc).filter(Boolean);

test('istiod files: a ServiceEntry per service selecting its WorkloadEntries; an endpoint change rewrites that WorkloadEntry only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-peers-test-'));
  try {
    const w = new MeshWorkload(SMALL);
    const files = new IstioFiles(dir);
    files.writeAll(w.allServices());
    const ns1 = read(join(dir, 'ns-1.yaml'));
    assert.equal(ns1.filter((d) => d.kind === 'ServiceEntry').length, 3);
    assert.equal(ns1.filter((d) => d.kind === 'WorkloadEntry').length, 6);
    const se = ns1.find((d) => d.kind === 'ServiceEntry' && d.metadata.name === 'svc-2')!;
    assert.deepEqual(se.spec['hosts'], ['svc-2.ns-1.svc.cluster.local']);
    assert.deepEqual(se.spec['workloadSelector'], { labels: { app: 'svc-2' } });
    const change = w.changeOneEndpoint();
    assert.equal(change.kind, 'endpoints');
    const ns = Number(change.service.namespace.slice(3));
    const before = read(join(dir, `ns-${ns}.yaml`));
    files.writeNamespace(ns, w.allServices()[ns]!);
    const after = read(join(dir, `ns-${ns}.yaml`));
    const addr = (ds: Doc[]): string[] => ds.filter((d) => d.kind === 'WorkloadEntry').map((d) => `${d.metadata.name}=${String(d.spec['address'])}`);
    const changed = addr(after).filter((a) => !addr(before).includes(a));
    assert.equal(changed.length, 1);
    assert.match(changed[0]!, new RegExp(`^${change.service.name}-\\d=${change.kind === 'endpoints' ? change.newAddress.replace(/\./g, '\\.') : ''}$`));
    assert.deepEqual(read(join(dir, 'destination-rules.yaml')), []);
    const c = w.changeOneCluster();
    files.writeDestinationRules(w.allServices());
    const drs = read(join(dir, 'destination-rules.yaml'));
    assert.equal(drs.length, 1);
    assert.equal(drs[0]!.spec['host'], `${c.service.name}.${c.service.namespace}.svc.cluster.local`);
    assert.deepEqual(drs[0]!.spec['trafficPolicy'], { connectionPool: { tcp: { connectTimeout: `${c.service.connectTimeoutS}s` } } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('istiod log: file reload time is trigger → event at the debouncer (debounce wait excluded)', () => {
  const log = [
    '2026-12-03T10:09:58.776000Z\tinfo\tTriggering reload of file configuration',
    '2026-12-03T10:09:59.593000Z\tinfo\tads\tPush debounce stable[2] 1 for config ServiceEntry/ns-1/svc-7.ns-1.svc.cluster.local: 100.0ms since last change, 100.0ms since last push, full=false',
    '2026-12-03T10:10:00.000000Z\tinfo\tTriggering reload of file configuration',
    '2026-12-03T10:10:01.300000Z\tinfo\tads\tPush debounce stable[3] 2 for config ServiceEntry/ns-2/x: 1.1s since last change, 1.1s since last push, full=true',
    '2026-12-03T10:10:02.000000Z\tinfo\tads\tPush debounce stable[4] 2 for config X: 5ms since last change, 5ms since last push, full=true',
  ].join('\n');
  // 717 ms and 200 ms; the last line has no reload before it.
  assert.deepEqual(fileReloads(log), { file_reloads: 2, file_reload_p50_ms: 717 });
  assert.deepEqual(fileReloads('nothing here'), {});
});

test('load generator against meshd: an endpoint change and a cluster change are seen by every sidecar, config counted by type', async () => {
  const w = new MeshWorkload(SMALL);
  const sut = await startMeshd(w);
  const pool = await LoadgenPool.start(2);
  try {
    await pool.storm(sut.address, 3, false, 30_000);
    const { config } = await pool.config();
    assert.equal(config[T.Cluster]?.count, 6);
    assert.equal(config[T.Endpoint]?.count, 6);
    assert.equal(config[T.Listener]?.count, 1);
    assert.equal(config[T.Route]?.count, 1);

    const ep = w.changeOneEndpoint();
    assert.equal(ep.kind, 'endpoints');
    const x = await pool.expect({ kind: 'endpoints', cluster: ep.cluster, newAddress: ep.kind === 'endpoints' ? ep.newAddress : '', timeoutMs: 10_000 });
    assert.equal(x.affected, 3);
    await sut.apply(ep);
    const got = await x.arrival;
    assert.equal(got.done, true);
    assert.equal(got.seen, 3);

    // An expectation the server never meets times out with what was seen (nothing).
    const never = await pool.expect({ kind: 'endpoints', cluster: ep.cluster, newAddress: '10.9.9.9', timeoutMs: 300 });
    const none = await never.arrival;
    assert.equal(none.done, false);
    assert.equal(none.seen, 0);

    const c = w.changeOneCluster();
    const y = await pool.expect({ kind: 'cluster', cluster: c.cluster, connectTimeoutS: c.service.connectTimeoutS, timeoutMs: 10_000 });
    await sut.apply(c);
    const got2 = await y.arrival;
    assert.equal(got2.done, true);
    assert.equal(got2.seen, 3);
  } finally {
    await pool.stop();
    await sut.stop();
  }
});

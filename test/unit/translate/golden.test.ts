/**
 * Golden translation cases: test/golden/translate/<case>/in.yaml holds mesh objects (or an
 * `Include` of a directory through the file store), optional `MeshConfig` overrides and the
 * `Proxy` documents to translate for; out.yaml holds every proxy's resources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { createFileStore } from '../../../src/config/file-store.js';
import { translate } from '../../../src/xds/translate/index.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic, type MeshConfig, type ProxyInfo } from '../../../src/model/types.js';
import { ResourceType, decodeResource, encodeResource, type ResourceTypeUrl } from '../../../src/xds/resource-types.js';
import { REPO_ROOT, checkGolden, goldenCases, goldenYaml } from '../../helpers/golden.js';

function readInputOut(dir: string): string {
  try { return readFileSync(join(dir, 'out.yaml'), 'utf8'); } catch { return ''; }
}

/** The first differing line, to make a failure readable. */
function firstDiff(expected: string, actual: string): string {
  const e = expected.split('\n');
  const a = actual.split('\n');
  const i = a.findIndex((l, k) => l !== e[k]);
  return i < 0 ? '' : `line ${i + 1}: expected ${JSON.stringify(e[i])}, got ${JSON.stringify(a[i])}`;
}

const TYPES: Record<'clusters' | 'endpoints' | 'listeners' | 'routes', ResourceTypeUrl> = {
  clusters: ResourceType.Cluster, endpoints: ResourceType.Endpoint, listeners: ResourceType.Listener, routes: ResourceType.Route,
};

interface Rec { [k: string]: unknown }

function proxyFrom(d: Rec): ProxyInfo {
  return {
    id: String(d.id), ip: String(d.ip ?? ''), workloadName: String(d.workloadName ?? ''), namespace: String(d.namespace ?? 'default'),
    labels: {}, interceptionMode: d.interceptionMode === 'REDIRECT' ? 'REDIRECT' : 'NONE', proxyless: d.proxyless === true,
    ...(d.secretSource === 'agent' ? { secretSource: 'agent' as const } : {}),
  };
}

for (const c of goldenCases('translate')) {
  test(`golden translate ${c.name}`, async () => {
    const docs = YAML.parseAllDocuments(readFileSync(join(c.dir, 'in.yaml'), 'utf8')).map((d) => d.toJS() as Rec | null).filter((d): d is Rec => d !== null);
    const objects: MeshObject[] = [];
    const parseDiagnostics: string[] = [];
    const proxies: ProxyInfo[] = [];
    let config: MeshConfig = DEFAULT_MESH_CONFIG;
    for (const d of docs) {
      if (d.kind === 'Proxy') { proxies.push(proxyFrom(d)); continue; }
      if (d.kind === 'MeshConfig') { config = { ...config, ...(d.spec as Partial<MeshConfig>) }; continue; }
      if (d.kind === 'Include') {
        const store = createFileStore({ dir: join(REPO_ROOT, String(d.dir)), watch: false, rescanIntervalMs: 0 });
        await store.start();
        store.close();
        objects.push(...store.objects());
        parseDiagnostics.push(...store.diagnostics().map((x) => formatDiagnostic({ ...x, source: x.source.slice(REPO_ROOT.length + 1) })));
        continue;
      }
      const r = parseObject(d, { source: 'in.yaml', defaultNamespace: 'default' }, { domainSuffix: config.domainSuffix });
      parseDiagnostics.push(...r.diagnostics.map(formatDiagnostic));
      if (r.status === 'ok') objects.push(r.object);
    }
    assert.ok(proxies.length > 0, 'a golden case names at least one Proxy');
    const snapshot = buildSnapshot(objects, config, 1);
    const out: Rec = { parseDiagnostics, proxies: {} };
    for (const p of proxies) {
      const r = translate(snapshot, p);
      const flat: Rec = { diagnostics: r.diagnostics.map(formatDiagnostic) };
      for (const [k, t] of Object.entries(TYPES) as [keyof typeof TYPES, ResourceTypeUrl][]) {
        const all = r[k].flat();
        const names = all.map((x) => String(x.name ?? x.cluster_name));
        assert.equal(new Set(names).size, names.length, `${p.id}: ${k} names are unique`);
        for (const res of all) {
          // Every emitted object must survive protobuf encoding unchanged.
          assert.deepEqual(decodeResource(t, encodeResource(t, res)), JSON.parse(JSON.stringify(res)), `${p.id}: ${k} ${names[all.indexOf(res)]} round-trips`);
        }
        flat[k] = all;
      }
      (out.proxies as Rec)[p.id] = flat;
    }
    const problems = checkGolden(c.dir, { 'out.yaml': goldenYaml(out) });
    if (problems.length) assert.fail(problems.join('\n') + '\n' + firstDiff(readInputOut(c.dir), goldenYaml(out)));
  });
}

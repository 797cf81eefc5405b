/**
 * Golden translation cases: test/golden/translate/<case>/in.yaml holds mesh objects (or an
 * `Include` of a directory through the file store), optional `MeshConfig` overrides and the
 * `Proxy` documents to translate for; out.yaml holds every proxy's resources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { translate } from '../../../src/xds/translate/index.js';
import { formatDiagnostic } from '../../../src/model/types.js';
import { loadCase, type Rec } from './load-case.js';
import { ResourceType, decodeResource, encodeResource, type ResourceTypeUrl } from '../../../src/xds/resource-types.js';
import { checkGolden, goldenCases, goldenYaml } from '../../helpers/golden.js';

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

for (const c of goldenCases('translate')) {
  test(`golden translate ${c.name}`, async () => {
    const { snapshot, proxies, parseDiagnostics } = await loadCase(c.dir);
    assert.ok(proxies.length > 0, 'a golden case names at least one Proxy');
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

/**
 * Golden cases, stage 1 (objects → model): test/golden/traffic-model/<case>/in.yaml (Istio
 * networking objects and Gateway API routes) → out.yaml (the diagnostics, then each accepted
 * object's model value keyed by kind/namespace/name). Regenerate with UPDATE_GOLDEN=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { checkGolden, goldenCases, goldenYaml, readInput } from '../../helpers/golden.js';
import { parseObject } from '../../../src/config/parse.js';
import { formatDiagnostic } from '../../../src/model/types.js';

/** Parses every document of a case and renders diagnostics and model values. */
export function renderModel(text: string, source: string): string {
  const diagnostics: string[] = [];
  const objects: Record<string, unknown> = {};
  for (const doc of YAML.parseAllDocuments(text)) {
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) continue;
    const r = parseObject(raw, { source, defaultNamespace: 'default' });
    diagnostics.push(...r.diagnostics.map(formatDiagnostic));
    if (r.status !== 'ok') continue;
    const { meta, ...value } = r.object.value as { meta: unknown } & Record<string, unknown>;
    assert.ok(meta, 'every model object has meta');
    objects[r.key] = value;
  }
  return goldenYaml({ diagnostics, objects });
}

const cases = goldenCases('traffic-model');

test('there are golden cases for the traffic model', () => {
  assert.ok(cases.length >= 20, `found ${cases.length} cases`);
});

for (const c of cases) {
  test(`golden traffic-model/${c.name}`, () => {
    const text = readInput(c.dir);
    const out = renderModel(text, `${c.name}/in.yaml`);
    assert.equal(renderModel(text, `${c.name}/in.yaml`), out, 'parsing is deterministic');
    checkGolden(c.dir, out);
  });
}

/**
 * Bad input for the traffic kinds, through the real file store: each bad version is rejected
 * with the exact diagnostic (file, object, field path), the last good version stays in force,
 * the other objects of the directory are unaffected, and a store that never saw a good
 * version does not apply the bad one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { createFileStore } from '../../../src/config/file-store.js';
import type { MeshObject } from '../../../src/config/parse.js';
import { formatDiagnostic } from '../../../src/model/types.js';
import { TRAFFIC_BAD_CASES as CASES } from '../../helpers/traffic-bad-cases.js';

const OTHER = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: other, namespace: shop}
spec:
  host: other
  subsets: [{name: v1, labels: {version: v1}}]
`;

let bump = 0;
function write(path: string, text: string): void {
  writeFileSync(path, text);
  const t = new Date(Date.now() + (++bump) * 2000);
  utimesSync(path, t, t);
}

function keys(objects: readonly MeshObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.value.meta.namespace}/${o.value.meta.name}`);
}

for (const c of CASES) {
  test(`bad input: ${c.name}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshd-traffic-bad-'));
    try {
      const f = join(dir, 'a.yaml');
      write(join(dir, 'b.yaml'), OTHER);
      write(f, c.good);
      const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0 });
      await store.start();
      assert.deepEqual(store.diagnostics().filter((d) => d.severity === 'error').map(formatDiagnostic), [], 'the good version is accepted');
      const before = store.objects();
      assert.equal(before.length, 2);
      const bad = YAML.parse(c.good);
      c.edit(bad);
      write(f, YAML.stringify(bad));
      await store.rescan();
      const lines = store.diagnostics().map(formatDiagnostic);
      assert.ok(lines.includes(`error: ${f}: ${c.expect}`), `expected\n  error: ${f}: ${c.expect}\ngot\n  ${lines.join('\n  ')}`);
      assert.ok(lines.some((l) => l.startsWith('warning:') && l.includes('last good version stays in force')), lines.join('\n'));
      assert.deepEqual(keys(store.objects()), keys(before), 'the same objects stay in force');
      const key = keys(before).find((k) => !k.includes('/other'))!;
      const kept = store.objects().find((o) => keys([o])[0] === key)!;
      assert.equal(kept, before.find((o) => keys([o])[0] === key), 'the last good version itself stays');
      store.close();

      const fresh = createFileStore({ dir, watch: false, rescanIntervalMs: 0 });
      await fresh.start();
      assert.deepEqual(keys(fresh.objects()), ['DestinationRule/shop/other'], 'a bad object is never applied; other objects are');
      assert.ok(fresh.diagnostics().map(formatDiagnostic).includes(`error: ${f}: ${c.expect}`));
      fresh.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

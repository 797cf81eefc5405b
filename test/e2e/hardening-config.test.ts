// A real meshd with hostile files in its config dir: it starts, serves, names each file in
// /debug/diagnostics, and picks up later edits (issue 14: these files crashed it before).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import { HOSTILE } from '../helpers/hostile-yaml.js';

const SVC = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: default }\nspec: { selector: { app: ${name} }, ports: [{ name: http, port: 80 }] }\n`;

test('meshd starts and keeps serving with alias bombs and deep nesting in --config-dir', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-hostile-e2e-'));
  try {
    for (const [name, text] of Object.entries(HOSTILE)) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, 'good.yaml'), SVC('good'));
    const m = await startMeshd({ configDir: dir });
    const diags = await m.adminJson<{ source: string; message: string }[]>('/debug/diagnostics');
    for (const name of Object.keys(HOSTILE)) assert.ok(diags.some((d) => d.source === join(dir, name)), `no diagnostic names ${name}: ${JSON.stringify(diags)}`);
    // Updates still flow: a later file's own diagnostic shows up.
    writeFileSync(join(dir, 'later.yaml'), 'apiVersion: example.com/v1\nkind: Gadget\nmetadata: { name: later }\n');
    await waitFor('the later file to be read', async () =>
      (await m.adminJson<{ source: string }[]>('/debug/diagnostics')).some((d) => d.source === join(dir, 'later.yaml')), 10_000, 100);
    assert.ok((await m.admin('/ready')).ok);
    assert.ok(!m.process.killed && m.process.exitCode === null, 'meshd is still running');
    await m.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

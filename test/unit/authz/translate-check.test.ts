/**
 * The evaluator on the real translation's listeners (examples/mesh, both interception modes),
 * and `meshctl authz check` end to end with the translation wired in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseObject } from '../../../src/config/parse.js';
import type { MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { translate } from '../../../src/xds/translate/index.js';
import { DEFAULT_MESH_CONFIG } from '../../../src/model/types.js';
import type { MeshSnapshot, ProxyInfo } from '../../../src/model/types.js';
import { checkCall, runAuthzCheck } from '../../../src/authz/index.js';
import type { Call } from '../../../src/authz/index.js';
import { REPO_ROOT } from '../../helpers/golden.js';

function exampleSnapshot(): MeshSnapshot {
  const dir = join(REPO_ROOT, 'examples', 'mesh');
  const objects: MeshObject[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    for (const doc of YAML.parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const raw = doc.toJSON() as unknown;
      if (raw === null) continue;
      const r = parseObject(raw, { source: f, defaultNamespace: 'default' });
      assert.notEqual(r.status, 'invalid', JSON.stringify(r.diagnostics));
      if (r.status === 'ok') objects.push(r.object);
    }
  }
  return buildSnapshot(objects, DEFAULT_MESH_CONFIG, 1);
}

const snapshot = exampleSnapshot();
const backend = snapshot.workloads.find((w) => w.name === 'backend')!;
const FE = { principal: 'spiffe://cluster.local/ns/production/sa/frontend' };

function listeners(mode: 'NONE' | 'REDIRECT'): readonly Record<string, unknown>[] {
  const proxy: ProxyInfo = { id: 'sidecar~127.0.10.2~backend.production~production.svc.cluster.local', ip: backend.address, workloadName: 'backend', namespace: 'production', labels: backend.labels, interceptionMode: mode, proxyless: false };
  return translate(snapshot, proxy).listeners.flat();
}

const seedRows: [string, Call, string][] = [
  ['frontend GET /api/users', { from: FE, port: 8080, method: 'GET', path: '/api/users' }, 'ALLOW'],
  ['frontend DELETE /api/x', { from: FE, port: 8080, method: 'DELETE', path: '/api/x' }, 'DENY'],
  ['frontend GET /admin', { from: FE, port: 8080, method: 'GET', path: '/admin' }, 'DENY'],
  ['another service account', { from: { principal: 'spiffe://cluster.local/ns/production/sa/intruder' }, port: 8080, method: 'GET', path: '/api/users' }, 'DENY'],
  ['plaintext under STRICT', { from: 'plaintext', port: 8080, method: 'GET', path: '/api/users' }, 'REJECT'],
  ['mTLS without the mesh ALPN under STRICT', { from: FE, port: 8080, method: 'GET', path: '/api/users', alpn: ['h2'] }, 'REJECT'],
  ['a port the workload does not serve', { from: FE, port: 9999, method: 'GET', path: '/' }, 'REJECT'],
];

for (const mode of ['NONE', 'REDIRECT'] as const) {
  for (const [name, call, want] of seedRows) {
    test(`translated listeners (${mode}): seed ${name} → ${want}`, () => {
      const d = checkCall(listeners(mode), call);
      assert.equal(d.decision, want, d.reason);
      if (want === 'ALLOW') assert.equal(d.policy, 'production/backend-access');
    });
  }
}

function run(args: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runAuthzCheck(args, { snapshot, translate, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

test('meshctl authz check: JSON for an allowed call', () => {
  const r = run(['production/backend', '--port', 'http', '--from', 'production/frontend', '--method', 'GET', '--path', '/api/users', '--json']);
  assert.equal(r.code, 0);
  const j = JSON.parse(r.out[0]!) as Record<string, unknown>;
  assert.deepEqual([j.decision, j.policy, j.rule], ['ALLOW', 'production/backend-access', 0]);
});

test('meshctl authz check: denied and rejected calls exit 1 with a reason', () => {
  const d = run(['production/backend', '--port', '8080', '--from', 'spiffe://cluster.local/ns/production/sa/frontend', '--method', 'DELETE', '--path', '/api/x', '--json']);
  assert.equal(d.code, 1);
  const j = JSON.parse(d.out[0]!) as Record<string, unknown>;
  assert.equal(j.decision, 'DENY');
  assert.match(String(j.reason), /no ALLOW policy matched/);
  const p = run(['production/backend', '--port', '8080', '--from', 'plaintext', '--path', '/api/users']);
  assert.equal(p.code, 1);
  assert.match(p.out[0]!, /^REJECT: /);
});

test('meshctl authz check: usage errors exit 2', () => {
  assert.equal(run([]).code, 2);
  assert.equal(run(['production/nope', '--port', '8080', '--from', 'plaintext']).code, 2);
  assert.equal(run(['production/backend', '--from', 'plaintext']).code, 2);
  assert.equal(run(['production/backend', '--port', '8080', '--from', 'x']).code, 2);
  assert.equal(run(['production/backend', '--port', '8080', '--from', 'plaintext', '--bogus', '1']).code, 2);
});

test('meshctl authz check: without a translation it uses the sketch listeners', () => {
  const out: string[] = [];
  const code = runAuthzCheck(['production/backend', '--port', '8080', '--from', 'production/frontend', '--method', 'POST', '--path', '/api/a'], { snapshot, out: (l) => out.push(l), err: () => undefined });
  assert.equal(code, 0, out.join('\n'));
  assert.match(out.join('\n'), /policy: production\/backend-access rule 0/);
});

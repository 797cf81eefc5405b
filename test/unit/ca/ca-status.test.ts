import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { formatStatus } from '../../../src/cli/ca-command.js';
import { agentOptionsOf } from '../../../src/cli/agent-command.js';
import { parseAgentArgs } from '../../../src/sds/agent.js';

test('CA status follows the rotation: roots, which one signs, phase; no key material', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const s0 = ca.status();
  assert.equal(s0.phase, 'steady');
  assert.deepEqual(s0.roots.map((r) => [r.id, r.signing]), [['root-1', true]]);
  await ca.introduceRoot();
  assert.deepEqual(ca.status().roots.map((r) => [r.id, r.signing]), [['root-1', true], ['root-2', false]]);
  await ca.activateNewRoot();
  const s2 = ca.status();
  assert.equal(s2.phase, 'activated');
  assert.deepEqual(s2.roots.map((r) => [r.id, r.signing]), [['root-1', false], ['root-2', true]]);
  assert.match(s2.signer.subject, /CN=meshd root-2/);
  await ca.retireOldRoot();
  const s3 = ca.status();
  assert.deepEqual(s3.roots.map((r) => r.id), ['root-2']);
  assert.equal(s3.roots[0]!.sha256, s2.roots[1]!.sha256);
  assert.doesNotMatch(JSON.stringify(s3), /PRIVATE/);
  const text = formatStatus(s3);
  assert.match(text, /phase: +steady/);
  assert.match(text, /\* root-2 /);
});

test('agent flags: required ones, durations, the trust-bundle refresh', () => {
  const o = agentOptionsOf({ meshd: 'm:15012', 'token-file': '/t', socket: '/s', 'bundle-refresh': 2000, 'cert-ttl': 60_000 });
  assert.deepEqual(o, { meshd: 'm:15012', tokenFile: '/t', socket: '/s', ttlSeconds: 60, bundleRefreshMs: 2000 });
  assert.throws(() => agentOptionsOf({ meshd: 'm:1', socket: '/s' }), /--token-file is required/);
  const p = parseAgentArgs(['--meshd', 'm:1', '--token-file', '/t', '--socket=/s', '--bundle-refresh', '5s']);
  assert.ok(!('error' in p) && p.bundleRefreshMs === 5000);
  assert.deepEqual(parseAgentArgs(['--meshd', 'm:1', '--token-file', '/t', '--socket', '/s', '--bundle-refresh', 'soon']), { error: '--bundle-refresh: not a duration: soon (use e.g. 30s, 500ms, 0s to turn off)' });
});

/** `meshctl edges`: the SCOPE column appears only when some caller is under learned scoping. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEdgesTable, type Edge } from '../../../src/cli/edges-command.js';

const edge = (dst: string, scope?: Edge['scope']): Edge => ({
  src: 'web', dst, srcNamespace: 'apps', dstNamespace: 'shop', clientId: 'spiffe://cluster.local/ns/apps/sa/web', serverId: `spiffe://cluster.local/ns/shop/sa/${dst}`, secured: true, denied: 0, ...(scope ? { scope } : {}),
});

test('edges table: no SCOPE column without learned scoping; with it, each row says where the callee stands (full for an unscoped caller)', () => {
  assert.doesNotMatch(formatEdgesTable([edge('orders')]), /SCOPE/);
  const lines = formatEdgesTable([edge('orders', 'pinned'), edge('pay', 'outside'), edge('stock')]).trim().split('\n');
  assert.match(lines[0]!, /DENIED\s+SCOPE$/);
  assert.match(lines[1]!, /orders.*\spinned$/);
  assert.match(lines[2]!, /pay.*\soutside$/);
  assert.match(lines[3]!, /stock.*\sfull$/);
});

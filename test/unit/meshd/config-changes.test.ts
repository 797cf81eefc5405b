/** The config-change log fields: added, changed (a new instance), removed, by key; long lists cut at 20. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeTracker, changeFields } from '../../../src/meshd/config-changes.js';
import type { MeshObject } from '../../../src/config/parse.js';

const ns = (name: string): MeshObject => ({ kind: 'Namespace', value: { meta: { name, namespace: '', labels: {}, annotations: {}, source: 't' } } });

test('changes by key and identity', () => {
  const t = new ChangeTracker();
  const a = ns('a');
  const b = ns('b');
  assert.deepEqual(t.next([a, b]), { added: ['Namespace//a', 'Namespace//b'], changed: [], removed: [] });
  assert.deepEqual(t.next([a, b]), { added: [], changed: [], removed: [] });
  assert.deepEqual(t.next([ns('a'), ns('c')]), { added: ['Namespace//c'], changed: ['Namespace//a'], removed: ['Namespace//b'] });
  const many = Array.from({ length: 25 }, (_, i) => `k${i}`);
  assert.deepEqual(changeFields({ added: many, changed: [], removed: [] }).added, [...many.slice(0, 20), '(+5 more)']);
  assert.deepEqual(changeFields({ added: [], changed: [], removed: [] }), {});
});

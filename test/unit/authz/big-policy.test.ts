// A policy with thousands of rules (issue 14: 10,000 rules blocked the event loop for 4.9 s):
// past the cap it is a diagnostic; under it, an unchanged policy costs little on the next
// snapshot because its RBAC messages are converted once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bigPolicyObjects } from '../../../bench/authz-big-policy.js';
import { parseObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { MAX_AUTHZ_RULES } from '../../../src/authz/parse-authz.js';
import { DEFAULT_MESH_CONFIG } from '../../../src/model/types.js';
import { translate } from '../../../src/xds/translate/index.js';
import { encodeResource, ResourceType } from '../../../src/xds/resource-types.js';

const PROXY = { id: 'p', workloadName: 'backend-1', namespace: 'prod', ip: '10.1.0.1', labels: { app: 'backend' }, interceptionMode: 'NONE' as const, proxyless: false };

test(`a policy with more than ${MAX_AUTHZ_RULES} rules is invalid, naming the field and the limit`, () => {
  const raw = { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'huge', namespace: 'prod' }, spec: { rules: Array.from({ length: 10_000 }, () => ({ to: [{ operation: { methods: ['GET'] } }] })) } };
  const r = parseObject(raw, { source: 'huge.yaml', defaultNamespace: 'default' });
  assert.equal(r.status, 'invalid');
  assert.equal(r.diagnostics[0]?.field, 'spec.rules');
  assert.match(r.diagnostics[0]!.message, /10000 rules exceed the limit of 1000 per policy/);
});

test('an unchanged big policy is converted to protobuf once, not on every snapshot', () => {
  const objects = bigPolicyObjects(MAX_AUTHZ_RULES);
  const encodeAll = (generation: number, objs = objects): number => {
    const res = translate(buildSnapshot(objs, DEFAULT_MESH_CONFIG, generation), PROXY);
    const t0 = performance.now();
    for (const chunk of res.listeners) for (const l of chunk) encodeResource(ResourceType.Listener, l);
    return performance.now() - t0;
  };
  encodeAll(0); // loads the protobuf types
  const objects2 = bigPolicyObjects(MAX_AUTHZ_RULES);
  const first = encodeAll(1, objects2);
  const again = encodeAll(2, objects2);
  console.log(`${MAX_AUTHZ_RULES} rules: first encode ${first.toFixed(0)} ms, next snapshot ${again.toFixed(0)} ms`);
  assert.ok(again < first * 0.6, `the next snapshot's encode (${again.toFixed(0)} ms) is not much cheaper than the first (${first.toFixed(0)} ms)`);
});

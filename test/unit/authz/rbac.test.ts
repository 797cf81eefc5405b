/**
 * AuthorizationPolicy → RBAC properties: memoization and sharing, determinism, encodability
 * through the protobuf types, diagnostics, and a CPU-time bound for 1,000 policies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveMtls, inboundAuthz } from '../../../src/authz/index.js';
import { messageType, normalizeEnvoyJson } from '../../../src/xds/protos.js';
import { BENCH_WORKLOAD, benchPolicies, benchSnapshot, timeTranslate } from '../../../bench/authz.js';
import { deepFreeze, loadCase, workload } from './fixtures.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../helpers/golden.js';
import type { MeshSnapshot } from '../../../src/model/types.js';

test('inboundAuthz is memoized per snapshot, workload and port, and frozen', () => {
  const snap = deepFreeze(benchSnapshot(benchPolicies(20)));
  const a = inboundAuthz(snap, BENCH_WORKLOAD, 8080, 'http');
  assert.equal(inboundAuthz(snap, BENCH_WORKLOAD, 8080, 'http'), a);
  assert.notEqual(inboundAuthz(snap, BENCH_WORKLOAD, 9000, 'tcp'), a);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.httpFilters) && Object.isFrozen(a.httpFilters[0]));
  assert.equal(effectiveMtls(snap, BENCH_WORKLOAD), effectiveMtls(snap, BENCH_WORKLOAD));
});

test('RBAC policies of one AuthorizationPolicy are shared by every workload it selects', () => {
  const base = benchSnapshot(benchPolicies(5));
  const other = { ...workload('production', 'backend-2', { app: 'backend' }, { http: 8080 }) };
  const snap: MeshSnapshot = deepFreeze({ ...base, workloads: [BENCH_WORKLOAD, other] });
  const rules = (w: typeof other): Record<string, unknown> => {
    const f = inboundAuthz(snap, w, 8080, 'http').httpFilters.at(-1)!;
    return ((f.typed_config as Record<string, Record<string, unknown>>).rules!.policies) as Record<string, unknown>;
  };
  const a = rules(BENCH_WORKLOAD);
  const b = rules(other);
  const key = 'ns[production]-policy[policy-0001]-rule[0]';
  assert.ok(a[key]);
  assert.equal(a[key], b[key]);
});

test('output does not depend on the order of policies in the snapshot', () => {
  const ps = benchPolicies(30);
  const a = inboundAuthz(benchSnapshot(ps), BENCH_WORKLOAD, 8080, 'http');
  const b = inboundAuthz(benchSnapshot([...ps].reverse()), BENCH_WORKLOAD, 8080, 'http');
  assert.equal(JSON.stringify(b), JSON.stringify(a));
});

test('every emitted filter config round-trips through its protobuf message type', () => {
  const snap = benchSnapshot([...benchPolicies(60), ...loadCase(readFileSync(join(REPO_ROOT, 'test/golden/authz/source-fields/in.yaml'), 'utf8')).snapshot.authorizationPolicies]);
  for (const [port, proto] of [[8080, 'http'], [9000, 'tcp']] as const) {
    const a = inboundAuthz(snap, BENCH_WORKLOAD, port, proto);
    for (const f of proto === 'http' ? a.httpFilters : a.networkFilters) {
      const cfg = f.typed_config as Record<string, unknown>;
      const t = messageType(String(cfg['@type']).split('/').pop()!);
      const { '@type': _type, ...body } = cfg;
      const msg = t.fromObject(normalizeEnvoyJson(t, body) as Record<string, unknown>);
      const back = t.toObject(t.decode(t.encode(msg).finish()), { json: true, enums: String, longs: String, defaults: false, oneofs: false });
      // Nothing silently dropped or changed on the way through protobuf.
      // (An empty `policies` map is the same as none in protobuf.)
      const want = JSON.parse(JSON.stringify(body, (k, v: unknown) => (k === 'policies' && v && typeof v === 'object' && Object.keys(v).length === 0 ? undefined : v))) as unknown;
      assert.deepEqual(back, want, String(cfg['@type']));
    }
  }
});

test('1,000 policies for one proxy translate within a CPU-time bound', () => {
  timeTranslate(1000, 'http', 2);
  const t = timeTranslate(1000, 'http', 5);
  // The target is 50 ms (see bench/authz.ts); the bound here leaves room for a loaded CI machine.
  assert.ok(t.cpu < 200, `median CPU ${t.cpu.toFixed(1)} ms, wall ${t.wall.toFixed(1)} ms`);
});

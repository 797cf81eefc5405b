/**
 * Golden cases: test/golden/authz/<case>/in.yaml (workloads, services, policies, mesh config)
 * → out.yaml (diagnostics, effective mTLS and the RBAC filters of every workload port).
 * Regenerate with UPDATE_GOLDEN=1. Every emitted filter must also encode as part of a Listener.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkGolden, goldenCases, goldenYaml } from '../../helpers/golden.js';
import { deepFreeze, loadCase } from './fixtures.js';
import { effectiveMtls, inboundAuthz, policyWarnings, workloadPortProtocol } from '../../../src/authz/index.js';
import { jwtAuthnFilter } from '../../../src/authz/request-authn-filter.js';
import { formatDiagnostic } from '../../../src/model/types.js';
import type { MeshSnapshot } from '../../../src/model/types.js';
import { encodeResource, Filter, ResourceType, TypeName, typed } from '../../../src/xds/resource-types.js';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';

function encodes(filters: readonly EnvoyObject[], protocol: 'http' | 'tcp'): void {
  const chainFilters = protocol === 'http'
    ? [{ name: Filter.HttpConnectionManager, typed_config: typed(TypeName.HttpConnectionManager, { stat_prefix: 'x', http_filters: [...filters, { name: Filter.Router, typed_config: typed(TypeName.Router, {}) }] }) }]
    : [...filters, { name: Filter.TcpProxy, typed_config: typed(TypeName.TcpProxy, { stat_prefix: 'x', cluster: 'c' }) }];
  const bytes = encodeResource(ResourceType.Listener, { name: 'l', filter_chains: [{ filters: chainFilters }] });
  assert.ok(bytes.length > 0);
}

function render(snapshot: MeshSnapshot, parseDiagnostics: readonly string[]): string {
  const diagnostics = [...parseDiagnostics, ...policyWarnings(snapshot).map(formatDiagnostic)];
  const workloads: Record<string, unknown> = {};
  for (const w of snapshot.workloads) {
    const mtls = effectiveMtls(snapshot, w);
    const ports: Record<string, unknown> = {};
    for (const port of [...new Set(Object.values(w.ports))].sort((a, b) => a - b)) {
      const protocol = workloadPortProtocol(snapshot, w, port);
      const a = inboundAuthz(snapshot, w, port, protocol);
      const jwt = protocol === 'http' ? jwtAuthnFilter(snapshot, w) : { diagnostics: [] };
      const filters = protocol === 'http' ? [...('filter' in jwt && jwt.filter ? [jwt.filter] : []), ...a.httpFilters] : a.networkFilters;
      for (const d of jwt.diagnostics) { const s = formatDiagnostic(d); if (!diagnostics.includes(s)) diagnostics.push(s); }
      encodes(filters, protocol);
      for (const d of a.diagnostics) { const s = formatDiagnostic(d); if (!diagnostics.includes(s)) diagnostics.push(s); }
      ports[String(port)] = { protocol, filters };
    }
    workloads[`${w.namespace}/${w.name}`] = {
      mtls: { mode: mtls.mode, ...(mtls.ports.size ? { ports: Object.fromEntries([...mtls.ports].map(([p, m]) => [String(p), m])) } : {}) },
      ports,
    };
  }
  return goldenYaml({ diagnostics, workloads });
}

const cases = goldenCases('authz');

test('there are golden cases for authz', () => {
  assert.ok(cases.length >= 10, `found ${cases.length} cases`);
});

for (const c of cases) {
  test(`golden authz/${c.name}`, () => {
    const { snapshot, diagnostics } = loadCase(readFileSync(join(c.dir, 'in.yaml'), 'utf8'), `${c.name}/in.yaml`);
    deepFreeze(snapshot);
    const out = render(snapshot, diagnostics.map(formatDiagnostic));
    // Memoized and fresh translations agree.
    assert.equal(render(snapshot, diagnostics.map(formatDiagnostic)), out);
    checkGolden(c.dir, out);
  });
}

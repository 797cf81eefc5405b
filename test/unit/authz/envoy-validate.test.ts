/**
 * Real Envoy accepts every RBAC, ext_authz (gRPC and HTTP) and JWT filter the authz golden cases
 * emit: one bootstrap per case, a listener per workload port (HTTP filters in an HCM, network
 * filters before tcp_proxy), every referenced cluster defined, through `envoy --mode validate`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { goldenCases } from '../../helpers/golden.js';
import { validateEnvoyConfig } from '../../helpers/envoy-validate.js';
import { loadCase } from './fixtures.js';
import { inboundAuthz, workloadPortProtocol } from '../../../src/authz/index.js';
import { jwtAuthnFilter } from '../../../src/authz/request-authn-filter.js';
import { Filter, TypeName, typed } from '../../../src/xds/resource-types.js';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';

/** Cluster names a filter config refers to (ext_authz gRPC/HTTP services, JWKS). */
function clusterRefs(v: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(v)) for (const x of v) clusterRefs(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'cluster_name' || k === 'cluster') && typeof x === 'string') out.add(x);
      else clusterRefs(x, out);
    }
  }
  return out;
}

test('Envoy validates the filters of every authz golden case', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-authz-validate-'));
  try {
    const jobs: { label: string; file: string }[] = [];
    for (const c of goldenCases('authz')) {
      const { snapshot } = loadCase(readFileSync(join(c.dir, 'in.yaml'), 'utf8'), `${c.name}/in.yaml`);
      const listeners: EnvoyObject[] = [];
      let port = 20000;
      for (const w of snapshot.workloads) {
        for (const p of [...new Set(Object.values(w.ports))].sort((a, b) => a - b)) {
          const protocol = workloadPortProtocol(snapshot, w, p);
          const a = inboundAuthz(snapshot, w, p, protocol);
          const jwt = protocol === 'http' ? jwtAuthnFilter(snapshot, w) : undefined;
          const filters = protocol === 'http'
            ? [{ name: Filter.HttpConnectionManager, typed_config: typed(TypeName.HttpConnectionManager, {
              stat_prefix: 'v', route_config: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
              http_filters: [...(jwt && 'filter' in jwt && jwt.filter ? [jwt.filter] : []), ...a.httpFilters, { name: Filter.Router, typed_config: typed(TypeName.Router, {}) }],
            }) }]
            : [...a.networkFilters, { name: Filter.TcpProxy, typed_config: typed(TypeName.TcpProxy, { stat_prefix: 'v', cluster: 'app' }) }];
          listeners.push({ name: `${w.namespace}-${w.name}-${p}`, address: { socket_address: { address: '127.0.0.1', port_value: port++ } }, filter_chains: [{ filters }] });
        }
      }
      const refs = [...clusterRefs(listeners, new Set(['app']))].sort();
      const clusters = refs.map((name) => ({
        name, type: 'STATIC', connect_timeout: '1s',
        ...(name.startsWith('outbound|') ? { typed_extension_protocol_options: { [TypeName.HttpProtocolOptions]: typed(TypeName.HttpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } }) } } : {}),
        load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] },
      }));
      const file = join(dir, `${c.name}.yaml`);
      writeFileSync(file, YAML.stringify({ node: { id: 'validate', cluster: 'validate' }, static_resources: { listeners, clusters } }));
      jobs.push({ label: c.name, file });
    }
    assert.ok(jobs.length >= 20, `validated ${jobs.length} cases`);
    const failures: string[] = [];
    for (let i = 0; i < jobs.length; i += 2) {
      const batch = jobs.slice(i, i + 2);
      const results = await Promise.all(batch.map((j) => validateEnvoyConfig(j.file)));
      results.forEach((res, k) => {
        if (res.code !== 0 || !/OK/.test(res.out)) failures.push(`${batch[k]!.label}: exit ${res.code}\n${res.out.split('\n').filter((l) => /error|critical|constraint|rejected|exception/i.test(l)).slice(0, 5).join('\n').slice(0, 1500)}`);
      });
    }
    assert.deepEqual(failures, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

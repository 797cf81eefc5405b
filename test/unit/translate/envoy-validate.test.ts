/**
 * Real Envoy accepts what translation emits: for every sidecar proxy of the golden cases, two
 * bootstraps go through `envoy --mode validate`:
 *  - as emitted: listeners and clusters as static resources, RDS/EDS/SDS still over ADS;
 *  - inlined: EDS clusters made STATIC with their ClusterLoadAssignment, RDS replaced by the
 *    route configuration, SDS replaced by static secrets (a throwaway self-signed cert), so the
 *    route configurations, endpoint metadata and TLS contexts are checked as well.
 * A missing Envoy binary fails the test (scripts/ensure-envoy.sh installs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { translate } from '../../../src/xds/translate/index.js';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';
import { throwawayCert, validateEnvoyConfig } from '../../helpers/envoy-validate.js';
import { goldenCases } from '../../helpers/golden.js';
import { loadCase } from './load-case.js';
import { inlined } from './inline.js';

type Json = unknown;

const ADS_BOOTSTRAP = {
  node: { id: 'validate', cluster: 'validate' },
  dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] } },
};
const XDS_CLUSTER = {
  name: 'xds-grpc', type: 'STATIC', connect_timeout: '1s',
  typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } },
  load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 15010 } } } }] }] },
};
const AGENT_CLUSTER = { ...XDS_CLUSTER, name: 'sds-grpc', load_assignment: { cluster_name: 'sds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/tmp/meshd-validate-agent.sock' } } } }] }] } };

function asEmitted(listeners: readonly EnvoyObject[], clusters: readonly EnvoyObject[]): Json {
  return { ...ADS_BOOTSTRAP, static_resources: { listeners, clusters: [XDS_CLUSTER, AGENT_CLUSTER, ...clusters] } };
}

test('Envoy validates the translated config of every golden sidecar proxy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-translate-validate-'));
  try {
    const { key, cert } = throwawayCert(dir);
    const jobs: { label: string; file: string }[] = [];
    for (const c of goldenCases('translate')) {
      const { snapshot, proxies } = await loadCase(c.dir);
      for (const p of proxies) {
        if (p.proxyless) continue;
        const r = translate(snapshot, p);
        const listeners = r.listeners.flat();
        const clusters = r.clusters.flat();
        const base = join(dir, `${c.name}-${p.id.replace(/[^A-Za-z0-9.-]/g, '_')}`);
        writeFileSync(`${base}-ads.yaml`, YAML.stringify(asEmitted(listeners, clusters)));
        writeFileSync(`${base}-inline.yaml`, YAML.stringify(inlined(listeners, clusters, r.routes.flat(), r.endpoints.flat(), { certFile: cert, keyFile: key })));
        jobs.push({ label: `${c.name} ${p.id} (as emitted)`, file: `${base}-ads.yaml` }, { label: `${c.name} ${p.id} (inlined)`, file: `${base}-inline.yaml` });
      }
    }
    assert.ok(jobs.length >= 20, `validated ${jobs.length} bootstraps`);
    const failures: string[] = [];
    for (let i = 0; i < jobs.length; i += 2) {
      const batch = jobs.slice(i, i + 2);
      const results = await Promise.all(batch.map((j) => validateEnvoyConfig(j.file)));
      results.forEach((res, k) => {
        if (res.code !== 0 || !/OK/.test(res.out)) failures.push(`${batch[k]!.label}: exit ${res.code}\n${res.out.split("\n").filter((l) => /error|critical|Proto constraint|rejected|exception/i.test(l)).slice(0, 5).join("\n").slice(0, 1500)}\n${readFileSync(batch[k]!.file, 'utf8').length} bytes`);
      });
    }
    assert.deepEqual(failures, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Real Envoy accepts the route side: for every proxy of the traffic-xlate-routes golden cases,
 * the translated config inlined into one static bootstrap (routes in place of RDS, endpoints
 * in place of EDS, throwaway static secrets) goes through `envoy --mode validate`, so per-route
 * fault/CORS configs, retry predicates, redirects and SNI chains are checked by Envoy itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { translate } from '../../../src/xds/translate/index.js';
import { throwawayCert, validateEnvoyConfig } from '../../helpers/envoy-validate.js';
import { goldenCases } from '../../helpers/golden.js';
import { loadCase } from '../translate/load-case.js';
import { inlined } from '../translate/inline.js';

test('Envoy validates the translated routes of every traffic-xlate-routes golden proxy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-routes-validate-'));
  try {
    const { key, cert } = throwawayCert(dir);
    const failures: string[] = [];
    let n = 0;
    for (const c of goldenCases('traffic-xlate-routes')) {
      const { snapshot, proxies } = await loadCase(c.dir);
      for (const p of proxies) {
        const r = translate(snapshot, p);
        const file = join(dir, `${c.name}-${n++}.yaml`);
        writeFileSync(file, YAML.stringify(inlined(r.listeners.flat(), r.clusters.flat(), r.routes.flat(), r.endpoints.flat(), { certFile: cert, keyFile: key })));
        const res = await validateEnvoyConfig(file);
        if (res.code !== 0 || !/OK/.test(res.out)) failures.push(`${c.name} ${p.id}: exit ${res.code}\n${res.out.split('\n').filter((l) => /error|critical|constraint|rejected|exception/i.test(l)).slice(0, 5).join('\n').slice(0, 1500)}`);
      }
    }
    assert.ok(n >= 25, `validated ${n} bootstraps`);
    assert.deepEqual(failures, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

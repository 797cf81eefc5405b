/**
 * Real Envoy accepts what the destination side emits: every proxy of the traffic-xlate golden
 * cases goes through `envoy --mode validate` with its resources inlined (EDS made STATIC with
 * the emitted assignment, RDS inlined, SDS replaced by a throwaway certificate), so subset
 * clusters, policies, TLS origination contexts and ServiceEntry listeners are all checked.
 * The client-certificate paths of the golden inputs (/etc/meshd-test/*) point at that
 * certificate. A missing Envoy binary fails the test.
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

test('Envoy validates the destination-side config of every traffic-xlate golden proxy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-dest-validate-'));
  try {
    const { key, cert } = throwawayCert(dir);
    const jobs: { label: string; file: string }[] = [];
    for (const c of goldenCases('traffic-xlate')) {
      const { snapshot, proxies } = await loadCase(c.dir);
      for (const p of proxies) {
        const r = translate(snapshot, p);
        const file = join(dir, `${c.name}-${p.id.replace(/[^A-Za-z0-9.-]/g, '_')}.yaml`);
        const text = YAML.stringify(inlined(r.listeners.flat(), r.clusters.flat(), r.routes.flat(), r.endpoints.flat(), { certFile: cert, keyFile: key }))
          .replaceAll('/etc/meshd-test/cert.pem', cert).replaceAll('/etc/meshd-test/key.pem', key);
        writeFileSync(file, text);
        jobs.push({ label: `${c.name} ${p.id}`, file });
      }
    }
    assert.ok(jobs.length >= 15, `validated ${jobs.length} bootstraps`);
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

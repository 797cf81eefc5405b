/**
 * Golden route translation: test/golden/traffic-xlate-routes/<case>/in.yaml holds mesh objects
 * and `Proxy` documents (as test/golden/translate); out.yaml holds, per proxy, the diagnostics,
 * the outbound RouteConfigurations and the HTTP filters of its outbound HCMs. Every emitted
 * route configuration must survive protobuf encoding unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translate } from '../../../src/xds/translate/index.js';
import { formatDiagnostic } from '../../../src/model/types.js';
import { ResourceType, decodeResource, encodeResource, type EnvoyObject } from '../../../src/xds/resource-types.js';
import { loadCase, type Rec } from '../translate/load-case.js';
import { checkGolden, goldenCases, goldenYaml } from '../../helpers/golden.js';

/** Names of the HTTP filters of the first outbound HCM (they are equal on every port). */
function outboundHttpFilters(listeners: readonly EnvoyObject[]): string[] {
  for (const l of listeners) {
    if (l.traffic_direction !== 'OUTBOUND') continue;
    for (const ch of (l.filter_chains as EnvoyObject[] | undefined) ?? []) {
      for (const f of (ch.filters as EnvoyObject[] | undefined) ?? []) {
        const hf = (f.typed_config as EnvoyObject | undefined)?.http_filters as EnvoyObject[] | undefined;
        if (hf) return hf.map((x) => String(x.name));
      }
    }
  }
  return [];
}

for (const c of goldenCases('traffic-xlate-routes')) {
  test(`golden routes ${c.name}`, async () => {
    const { snapshot, proxies, parseDiagnostics } = await loadCase(c.dir);
    assert.ok(proxies.length > 0, 'a case names at least one Proxy');
    const out: Rec = { parseDiagnostics, proxies: {} };
    for (const p of proxies) {
      const r = translate(snapshot, p);
      const routes = r.routes.flat();
      for (const rc of routes) assert.deepEqual(decodeResource(ResourceType.Route, encodeResource(ResourceType.Route, rc)), JSON.parse(JSON.stringify(rc)), `${p.id}: route ${String(rc.name)} round-trips`);
      (out.proxies as Rec)[p.id] = { diagnostics: r.diagnostics.map(formatDiagnostic), outboundHttpFilters: outboundHttpFilters(r.listeners.flat()), routes };
    }
    assert.deepEqual(checkGolden(c.dir, { 'out.yaml': goldenYaml(out) }), []);
  });
}

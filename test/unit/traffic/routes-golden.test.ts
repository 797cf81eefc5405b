/**
 * Golden route translation: test/golden/traffic-xlate-routes/<case>/in.yaml holds mesh objects
 * and `Proxy` documents (as test/golden/translate); out.yaml holds, per proxy, the diagnostics,
 * the outbound RouteConfigurations, the HTTP filters of its outbound HCMs and its outbound
 * TCP listeners (where `tcp`/`tls` rules land). Every emitted
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

/** Outbound listeners that carry a tcp_proxy to a service cluster (where TCP/TLS rules land). */
function l4Listeners(listeners: readonly EnvoyObject[]): EnvoyObject[] {
  return listeners.filter((l) => l.traffic_direction === 'OUTBOUND' && l.name !== 'virtualOutbound' && JSON.stringify(l.filter_chains ?? []).includes('tcp_proxy.v3.TcpProxy'));
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
      const l4 = l4Listeners(r.listeners.flat());
      (out.proxies as Rec)[p.id] = { diagnostics: r.diagnostics.map(formatDiagnostic), outboundHttpFilters: outboundHttpFilters(r.listeners.flat()), routes, ...(l4.length ? { l4Listeners: l4 } : {}) };
    }
    assert.deepEqual(checkGolden(c.dir, { 'out.yaml': goldenYaml(out) }), []);
  });
}

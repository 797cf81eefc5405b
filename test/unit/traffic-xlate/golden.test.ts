/**
 * Golden cases for the destination side of traffic translation: test/golden/traffic-xlate/
 * <case>/in.yaml holds mesh objects (Services, WorkloadEntries, DestinationRules,
 * ServiceEntries, Sidecars), optional MeshConfig overrides and the Proxy documents (with
 * `labels`) to translate for. out.yaml holds, per proxy, the diagnostics and the outbound
 * clusters and endpoints (PassthroughCluster/BlackHoleCluster and inbound clusters are left
 * out); a first line `# show: listeners,routes` adds those types. Every resource must survive
 * protobuf encoding unchanged. To keep the files readable, a cluster's standard auto-mTLS
 * `transport_socket_matches` (mesh mTLS to `tlsMode: istio` endpoints, plaintext otherwise) is
 * written as `transport_socket_matches: auto-mTLS sans=<SANs> alpn=<ALPN>`; anything else
 * is written out in full.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { translate } from '../../../src/xds/translate/index.js';
import { formatDiagnostic } from '../../../src/model/types.js';
import { ResourceType, decodeResource, encodeResource, type ResourceTypeUrl } from '../../../src/xds/resource-types.js';
import { checkGolden, goldenCases, goldenYaml } from '../../helpers/golden.js';
import { loadCase, type Rec } from '../translate/load-case.js';

const TYPES: Record<'clusters' | 'endpoints' | 'listeners' | 'routes', ResourceTypeUrl> = {
  clusters: ResourceType.Cluster, endpoints: ResourceType.Endpoint, listeners: ResourceType.Listener, routes: ResourceType.Route,
};

/** Which resource types a case shows (its first line `# show: a,b`), besides clusters and endpoints. */
export function shownTypes(dir: string): Set<string> {
  const first = readFileSync(join(dir, 'in.yaml'), 'utf8').split('\n')[0] ?? '';
  const m = /^# show: (.*)$/.exec(first);
  return new Set(['clusters', 'endpoints', ...(m ? m[1]!.split(',').map((s) => s.trim()) : [])]);
}

interface Match { name?: string; match?: Rec; transport_socket?: { typed_config?: { common_tls_context?: Rec } } }

/** The short form of the standard auto-mTLS socket matches, or undefined when `m` is anything else. */
function autoMtls(m: unknown): string | undefined {
  if (!Array.isArray(m) || m.length !== 2) return undefined;
  const [a, b] = m as [Match, Match];
  if (a.name !== 'tlsMode-istio' || b.name !== 'tlsMode-disabled' || Object.keys(b.match ?? {}).length) return undefined;
  const ctx = a.transport_socket?.typed_config?.common_tls_context as { alpn_protocols?: string[]; combined_validation_context?: { default_validation_context?: { match_typed_subject_alt_names?: { matcher: { exact: string } }[] } } } | undefined;
  const sans = ctx?.combined_validation_context?.default_validation_context?.match_typed_subject_alt_names?.map((x) => x.matcher.exact) ?? [];
  return `auto-mTLS sans=[${sans.join(',')}] alpn=[${(ctx?.alpn_protocols ?? []).join(',')}]`;
}

function compact(r: Rec): Rec {
  const short = autoMtls(r.transport_socket_matches);
  return short ? { ...r, transport_socket_matches: short } : r;
}

const outboundOnly = (name: string): boolean => name.startsWith('outbound|');

for (const c of goldenCases('traffic-xlate')) {
  test(`golden traffic-xlate ${c.name}`, async () => {
    const { snapshot, proxies, parseDiagnostics } = await loadCase(c.dir);
    assert.ok(proxies.length > 0, 'a golden case names at least one Proxy');
    const show = shownTypes(c.dir);
    const out: Rec = { parseDiagnostics, proxies: {} };
    for (const p of proxies) {
      const r = translate(snapshot, p);
      const flat: Rec = { diagnostics: r.diagnostics.map(formatDiagnostic) };
      for (const [k, t] of Object.entries(TYPES) as [keyof typeof TYPES, ResourceTypeUrl][]) {
        const all = r[k].flat();
        const names = all.map((x) => String(x.name ?? x.cluster_name));
        assert.equal(new Set(names).size, names.length, `${p.id}: ${k} names are unique`);
        for (const res of all) {
          assert.deepEqual(decodeResource(t, encodeResource(t, res)), JSON.parse(JSON.stringify(res)), `${p.id}: ${k} ${String(res.name ?? res.cluster_name)} round-trips`);
        }
        if (!show.has(k)) continue;
        flat[k] = k === 'clusters' ? all.filter((x) => outboundOnly(String(x.name))).map((x) => compact(x as Rec))
          : k === 'endpoints' ? all.filter((x) => outboundOnly(String(x.cluster_name))) : all;
      }
      (out.proxies as Rec)[p.id] = flat;
    }
    checkGolden(c.dir, goldenYaml(out));
  });
}

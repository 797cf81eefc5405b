/**
 * Outbound listeners follow what the proxy sees: an HTTP listener whose route configuration
 * is not emitted (no visible host on that port) is dropped, and one is added for every emitted
 * route configuration that has no listener (a ServiceEntry's HTTP port); a TCP filter chain
 * whose cluster is not emitted (a hidden Service) is dropped, and a listener left without
 * chains with it. virtualOutbound and inbound listeners are kept as they are.
 */
import type { Diagnostic, InterceptionMode } from '../../model/types.js';
import type { EnvoyObject } from '../resource-types.js';
import { VIRTUAL_OUTBOUND, addressListenerName } from '../names.js';
import { socketAddress } from './common.js';
import { outboundHcm } from './outbound-listeners.js';

interface Chain { readonly filters?: readonly { readonly typed_config?: Record<string, unknown> }[] }

function rdsName(chain: Chain): string | undefined {
  for (const f of chain.filters ?? []) {
    const rds = f.typed_config?.rds as { route_config_name?: string } | undefined;
    if (rds?.route_config_name !== undefined) return rds.route_config_name;
  }
  return undefined;
}

function tcpClusters(chain: Chain): string[] | undefined {
  for (const f of chain.filters ?? []) {
    const tc = f.typed_config;
    if (!tc || !String(tc['@type'] ?? '').endsWith('TcpProxy')) continue;
    if (typeof tc.cluster === 'string') return [tc.cluster];
    const wc = tc.weighted_clusters as { clusters?: { name: string }[] } | undefined;
    return (wc?.clusters ?? []).map((c) => c.name);
  }
  return undefined;
}

/**
 * `listeners` restricted to the emitted `clusters` and `routes` names, plus HTTP listeners for
 * route configurations without one (bound on `bindAddress` in explicit mode, unbound
 * `0.0.0.0_<port>` in transparent mode). Inputs are not mutated.
 */
export function scopeListeners(listeners: readonly EnvoyObject[], clusters: ReadonlySet<string>, routes: ReadonlySet<string>, mode: InterceptionMode, bindAddress: string, diagnostics: Diagnostic[]): EnvoyObject[] {
  const out: EnvoyObject[] = [];
  const served = new Set<string>();
  for (const l of listeners) {
    if (l.traffic_direction !== 'OUTBOUND' || l.name === VIRTUAL_OUTBOUND) { out.push(l); continue; }
    const chains = (l.filter_chains ?? []) as Chain[];
    const kept = chains.filter((c) => {
      const rds = rdsName(c);
      if (rds !== undefined) { served.add(rds); return routes.has(rds); }
      const tcp = tcpClusters(c);
      return tcp === undefined || tcp.some((n) => clusters.has(n));
    });
    if (kept.length === 0) continue;
    out.push(kept.length === chains.length ? l : { ...l, filter_chains: kept });
  }
  const names = new Set(out.map((l) => String(l.name)));
  for (const r of [...routes].sort()) {
    const port = Number(r);
    if (served.has(r) || !/^\d+$/.test(r)) continue;
    const name = mode === 'REDIRECT' ? addressListenerName('0.0.0.0', port) : addressListenerName(bindAddress, port);
    if (names.has(name)) {
      diagnostics.push({ severity: 'warning', source: 'translate', kind: 'Listener', name, field: 'filter_chains', message: `HTTP port ${port} has routes but ${name} already serves another protocol; HTTP hosts on that port are not reachable through the sidecar` });
      continue;
    }
    out.push({
      name, address: socketAddress(mode === 'REDIRECT' ? '0.0.0.0' : bindAddress, port),
      ...(mode === 'REDIRECT' ? { bind_to_port: false } : {}),
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [outboundHcm(port)] }],
    });
  }
  return out;
}

/**
 * Proxyless gRPC clients (@grpc/grpc-js-xds): for `xds:///<target>` the client asks LDS for
 * `<target>` itself, expects an `api_listener` holding an HCM with RDS over ADS (router filter
 * last), matches virtual host domains against `<target>`, and follows CDS → EDS.
 */
import type { Diagnostic, MeshSnapshot, Service, ServicePort } from '../../model/types.js';
import { hostMatches } from './registry.js';
import { isHttpProtocol } from '../../config/protocol.js';
import { Filter, TypeName, typed, type EnvoyObject } from '../resource-types.js';
import { apiListenerName, outboundClusterName } from '../names.js';
import { ADS_SOURCE, ROUTER_FILTER } from './common.js';
import { meshPorts } from './outbound-clusters.js';

/** The `xds:///` targets that resolve to one service port (with port; without it when the service has one HTTP port). */
export function proxylessTargets(svc: Service, sp: ServicePort, single: boolean): string[] {
  const { name, namespace } = svc.meta;
  const hosts = [svc.hostname, `${name}.${namespace}.svc`, `${name}.${namespace}`];
  return [...hosts.map((h) => apiListenerName(h, sp.port)), ...(single ? hosts.map((h) => apiListenerName(h)) : [])];
}

/** The HTTP(gRPC) service ports a proxyless client can call. */
export function proxylessPorts(svc: Service): ServicePort[] {
  return meshPorts(svc).filter((p) => isHttpProtocol(p.protocol));
}

/** API listeners, one per target name, all pointing at the route config named after the FQDN target. */
export function proxylessListeners(snapshot: MeshSnapshot): EnvoyObject[] {
  const out: EnvoyObject[] = [];
  for (const svc of snapshot.services) {
    const ports = proxylessPorts(svc);
    for (const sp of ports) {
      const routeName = apiListenerName(svc.hostname, sp.port);
      for (const target of proxylessTargets(svc, sp, ports.length === 1)) {
        out.push({
          name: target,
          api_listener: {
            api_listener: typed(TypeName.HttpConnectionManager, {
              stat_prefix: target,
              rds: { route_config_name: routeName, config_source: ADS_SOURCE },
              http_filters: [{ ...ROUTER_FILTER, name: Filter.Router }],
            }),
          },
        });
      }
    }
  }
  return out;
}

/** One route configuration per service port, one virtual host whose domains are all its targets. */
export function proxylessRoutes(snapshot: MeshSnapshot): EnvoyObject[] {
  const out: EnvoyObject[] = [];
  for (const svc of snapshot.services) {
    const ports = proxylessPorts(svc);
    for (const sp of ports) {
      const name = apiListenerName(svc.hostname, sp.port);
      out.push({
        name,
        virtual_hosts: [{
          name,
          domains: proxylessTargets(svc, sp, ports.length === 1),
          routes: [{ name: 'default', match: { prefix: '' }, route: { cluster: outboundClusterName(sp.port, svc.hostname) } }],
        }],
      });
    }
  }
  return out;
}

const proxylessNotes = new WeakMap<MeshSnapshot, readonly Diagnostic[]>();

/**
 * What proxyless clients do not get, named (once per snapshot): they are sent plain round-robin
 * routing to each Service, so a VirtualService, HTTPRoute or GRPCRoute, a DestinationRule, or a
 * ServiceEntry that covers a host they can call is not applied to them.
 */
export function proxylessDiagnostics(snapshot: MeshSnapshot): readonly Diagnostic[] {
  let d = proxylessNotes.get(snapshot);
  if (d) return d;
  const hosts = snapshot.services.filter((svc) => proxylessPorts(svc).length > 0).map((svc) => svc.hostname);
  const covers = (pattern: string): boolean => hosts.some((h) => hostMatches(pattern, h));
  const out: Diagnostic[] = [];
  const note = (kind: string, meta: { source: string; namespace: string; name: string }, field: string, what: string): void => {
    out.push({ severity: 'warning', source: meta.source, kind, namespace: meta.namespace, name: meta.name, field, message: `proxyless gRPC clients (xds:///) get plain round-robin routing to each Service; meshd does not apply ${what} to them (sidecars get it)` });
  };
  for (const rs of snapshot.routeSets) if (rs.http.length && rs.hosts.some(covers)) note(rs.origin, rs.meta, rs.origin === 'VirtualService' ? 'spec.http' : 'spec.rules', `this ${rs.origin}'s routes`);
  for (const dr of snapshot.destinationRules) if (covers(dr.host)) note('DestinationRule', dr.meta, 'spec', 'its subsets and traffic policy');
  for (const se of snapshot.serviceEntries) note('ServiceEntry', se.meta, 'spec.hosts', 'ServiceEntry hosts (only Services are served over xds:///)');
  d = Object.freeze(out);
  proxylessNotes.set(snapshot, d);
  return d;
}

/**
 * A minimal inbound listener per workload port with the filter-chain shape the translation
 * uses (tls_inspector; an mTLS chain matching the mesh ALPN and requiring client certificates;
 * a plaintext chain in PERMISSIVE/DISABLE; RBAC before the router or tcp_proxy). It lets the
 * evaluator and `meshctl authz check` work from policies alone, without the full translation.
 */
import { jwtAuthnFilter } from './request-authn-filter.js';
import type { MeshSnapshot, Workload } from '../model/types.js';
import { Filter, TypeName, typed } from '../xds/resource-types.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import { MESH_ALPN, SECRET_DEFAULT, SECRET_ROOTCA, addressListenerName, inboundClusterName, inboundStatPrefix } from '../xds/names.js';
import { effectiveMtls, effectiveModeForPort } from './peer.js';
import { inboundAuthz } from './rbac-filters.js';

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC']);

/**
 * Protocol of a workload port, as Istio decides it: the protocol of a selecting Service's port
 * that targets it (by number or name), else the workload port name's prefix (`http`, `http2`,
 * `grpc`), else TCP.
 */
export function workloadPortProtocol(snapshot: MeshSnapshot, workload: Workload, port: number): 'http' | 'tcp' {
  const name = Object.keys(workload.ports).find((n) => workload.ports[n] === port);
  for (const s of snapshot.services) {
    if (s.meta.namespace !== workload.namespace || !s.selector) continue;
    const sel = s.selector;
    if (!Object.keys(sel).every((k) => workload.labels[k] === sel[k])) continue;
    for (const sp of s.ports) {
      const target = typeof sp.targetPort === 'number' ? sp.targetPort : workload.ports[sp.targetPort];
      if (target === port || (sp.targetPort === name && name !== undefined)) return HTTP_PROTOCOLS.has(sp.protocol) ? 'http' : 'tcp';
    }
  }
  const prefix = (name ?? '').split('-')[0]!.toLowerCase();
  return prefix === 'http' || prefix === 'http2' || prefix === 'grpc' ? 'http' : 'tcp';
}

function mtlsSocket(): EnvoyObject {
  return {
    name: Filter.TransportSocketTls,
    typed_config: typed(TypeName.DownstreamTlsContext, {
      require_client_certificate: true,
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificate_sds_secret_configs: [{ name: SECRET_DEFAULT, sds_config: { ads: {}, resource_api_version: 'V3' } }],
        validation_context_sds_secret_config: { name: SECRET_ROOTCA, sds_config: { ads: {}, resource_api_version: 'V3' } },
      },
    }),
  };
}

function filtersFor(snapshot: MeshSnapshot, workload: Workload, port: number, protocol: 'http' | 'tcp', stat: string): EnvoyObject[] {
  const authz = inboundAuthz(snapshot, workload, port, protocol);
  const cluster = inboundClusterName(port);
  if (protocol === 'tcp') {
    return [...authz.networkFilters, { name: Filter.TcpProxy, typed_config: typed(TypeName.TcpProxy, { stat_prefix: stat, cluster }) }];
  }
  return [{
    name: Filter.HttpConnectionManager,
    typed_config: typed(TypeName.HttpConnectionManager, {
      stat_prefix: stat,
      route_config: { name: cluster, virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
      http_filters: [...(jwtAuthnFilter(snapshot, workload).filter ? [jwtAuthnFilter(snapshot, workload).filter!] : []), ...authz.httpFilters, { name: Filter.Router, typed_config: typed(TypeName.Router, {}) }],
    }),
  }];
}

/** The sketch's inbound listeners for every port of a workload, sorted by port. */
export function authzSketchListeners(snapshot: MeshSnapshot, workload: Workload): EnvoyObject[] {
  const mtls = effectiveMtls(snapshot, workload);
  const ports = [...new Set(Object.values(workload.ports))].sort((a, b) => a - b);
  return ports.map((port) => {
    const protocol = workloadPortProtocol(snapshot, workload, port);
    const mode = effectiveModeForPort(mtls, port);
    const chains: EnvoyObject[] = [];
    if (mode !== 'DISABLE') {
      chains.push({
        name: `${inboundClusterName(port)}-mtls`,
        filter_chain_match: { transport_protocol: 'tls', application_protocols: [MESH_ALPN] },
        transport_socket: mtlsSocket(),
        filters: filtersFor(snapshot, workload, port, protocol, inboundStatPrefix('mtls', port)),
      });
    }
    if (mode !== 'STRICT') {
      chains.push({
        name: `${inboundClusterName(port)}-plaintext`,
        filter_chain_match: mode === 'DISABLE' ? {} : { transport_protocol: 'raw_buffer' },
        filters: filtersFor(snapshot, workload, port, protocol, inboundStatPrefix('plaintext', port)),
      });
    }
    return {
      name: addressListenerName(workload.address, port),
      address: { socket_address: { address: workload.address, port_value: port } },
      listener_filters: [{ name: Filter.TlsInspector, typed_config: typed(TypeName.TlsInspector, {}) }],
      filter_chains: chains,
    };
  });
}

/**
 * The "mesh-1k" workload for the xDS bench, built the way translation shares chunks:
 * clusters and endpoints are one frozen chunk per namespace, one RouteConfiguration ("80")
 * with a virtual host per service is shared by every sidecar, and each sidecar has its own
 * outbound listener. Changes replace only the chunk that changed.
 */
import { ResourceType as T, TYPE_PREFIX, TypeName, type EnvoyObject } from '../src/xds/resource-types.js';
import { MESH_ALPN, SECRET_DEFAULT, SECRET_ROOTCA, outboundClusterName } from '../src/xds/names.js';
import type { ConnectedProxy, GeneratedResources } from '../src/xds/server/types.js';

type Chunk = readonly EnvoyObject[];

export interface WorkloadShape {
  readonly namespaces: number;
  readonly servicesPerNamespace: number;
  readonly endpointsPerService: number;
  /** Clusters carry the mesh mTLS transport socket. */
  readonly tls: boolean;
}

export const MESH_1K: WorkloadShape = { namespaces: 20, servicesPerNamespace: 50, endpointsPerService: 2, tls: false };

const sds = (name: string): EnvoyObject => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

function host(ns: number, i: number): string {
  return `svc-${i}.ns-${ns}.svc.cluster.local`;
}

/**
 * An outbound EDS cluster over ADS, as the brief's workload defines it. `withTls` adds the
 * mesh mTLS transport socket the real translation emits (SDS secrets, SAN match, ALPN),
 * which quadruples the CDS size (`--tls`).
 */
function cluster(ns: number, i: number, timeout: string, withTls: boolean): EnvoyObject {
  const name = outboundClusterName(80, host(ns, i));
  const base = {
    name,
    type: 'EDS',
    connect_timeout: timeout,
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
  };
  if (!withTls) return Object.freeze(base);
  return Object.freeze({
    ...base,
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TYPE_PREFIX + TypeName.UpstreamTlsContext,
        sni: host(ns, i),
        common_tls_context: {
          alpn_protocols: [MESH_ALPN, 'h2', 'http/1.1'],
          tls_certificate_sds_secret_configs: [sds(SECRET_DEFAULT)],
          combined_validation_context: {
            default_validation_context: {
              match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: `spiffe://cluster.local/ns/ns-${ns}/sa/svc-${i}` } }],
            },
            validation_context_sds_secret_config: sds(SECRET_ROOTCA),
          },
        },
      },
    },
  });
}

function cla(ns: number, i: number, endpoints: number, gen: number): EnvoyObject {
  const lb = [];
  for (let e = 0; e < endpoints; e++) {
    lb.push({ endpoint: { address: { socket_address: { address: `10.${ns}.${i}.${(e + gen * endpoints) % 250 + 1}`, port_value: 8080 } } } });
  }
  return Object.freeze({ cluster_name: outboundClusterName(80, host(ns, i)), endpoints: [{ lb_endpoints: lb }] });
}

function routeConfig(shape: WorkloadShape, gen: number): EnvoyObject {
  const vhosts = [];
  for (let ns = 0; ns < shape.namespaces; ns++) {
    for (let i = 0; i < shape.servicesPerNamespace; i++) {
      const h = host(ns, i);
      vhosts.push({
        name: `${h}:80`,
        domains: [h, `${h}:80`, `svc-${i}.ns-${ns}`, `svc-${i}.ns-${ns}:80`],
        routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: outboundClusterName(80, h), timeout: gen === 0 ? '0s' : `${gen}s` } }],
      });
    }
  }
  return Object.freeze({ name: '80', virtual_hosts: vhosts, validate_clusters: false });
}

function listener(podName: string): EnvoyObject {
  return Object.freeze({
    name: '0.0.0.0_80',
    address: { socket_address: { address: '0.0.0.0', port_value: 80 } },
    bind_to_port: false,
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': TYPE_PREFIX + TypeName.HttpConnectionManager,
              stat_prefix: `outbound_80_${podName}`,
              rds: { route_config_name: '80', config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_PREFIX + TypeName.Router } }],
            },
          },
        ],
      },
    ],
  });
}

/** The mutable mesh state the bench changes, and the generator the server calls. */
export class MeshWorkload {
  private clusterChunks: Chunk[] = [];
  private endpointChunks: Chunk[] = [];
  private routeChunk: Chunk;
  /** The one-chunk RDS list, kept as the same array until the routes change (as translation shares lists). */
  private routeList: readonly Chunk[];
  private readonly listeners = new Map<string, readonly Chunk[]>();
  private endpointGen = 0;
  private clusterGen = 0;
  private routeGen = 0;

  constructor(readonly shape: WorkloadShape) {
    for (let ns = 0; ns < shape.namespaces; ns++) {
      const cs: EnvoyObject[] = [];
      const es: EnvoyObject[] = [];
      for (let i = 0; i < shape.servicesPerNamespace; i++) {
        cs.push(cluster(ns, i, '10s', shape.tls));
        es.push(cla(ns, i, shape.endpointsPerService, 0));
      }
      this.clusterChunks.push(Object.freeze(cs));
      this.endpointChunks.push(Object.freeze(es));
    }
    this.routeChunk = Object.freeze([routeConfig(shape, 0)]);
    this.routeList = [this.routeChunk];
  }

  /** Every chunk shared by all sidecars (to pre-encode before measuring memory). */
  sharedChunks(): GeneratedResources {
    return { [T.Cluster]: this.clusterChunks, [T.Endpoint]: this.endpointChunks, [T.Route]: [this.routeChunk] };
  }

  /** The generator: shared chunks plus the sidecar's own listener (memoized per proxy). */
  generate(proxy: ConnectedProxy): GeneratedResources {
    let l = this.listeners.get(proxy.info.id);
    if (!l) this.listeners.set(proxy.info.id, (l = [Object.freeze([listener(proxy.info.workloadName)])]));
    return { [T.Cluster]: this.clusterChunks, [T.Endpoint]: this.endpointChunks, [T.Listener]: l, [T.Route]: this.routeList };
  }

  /** One service's endpoints move (a pod replaced): one new CLA in one new namespace chunk. */
  changeOneEndpoint(): void {
    const g = ++this.endpointGen;
    const ns = g % this.shape.namespaces;
    const i = (g * 7) % this.shape.servicesPerNamespace;
    const chunk = [...this.endpointChunks[ns]!];
    chunk[i] = cla(ns, i, this.shape.endpointsPerService, g);
    this.endpointChunks = [...this.endpointChunks];
    this.endpointChunks[ns] = Object.freeze(chunk);
  }

  /** One cluster's settings change: every sidecar gets a new CDS (SotW: the full set). */
  changeOneCluster(): void {
    const g = ++this.clusterGen;
    const ns = g % this.shape.namespaces;
    const i = (g * 11) % this.shape.servicesPerNamespace;
    const chunk = [...this.clusterChunks[ns]!];
    chunk[i] = cluster(ns, i, `${10 + g}s`, this.shape.tls);
    this.clusterChunks = [...this.clusterChunks];
    this.clusterChunks[ns] = Object.freeze(chunk);
  }

  /** The shared route configuration changes: every sidecar gets the new RDS resource. */
  changeRoutes(): void {
    this.routeChunk = Object.freeze([routeConfig(this.shape, ++this.routeGen)]);
    this.routeList = [this.routeChunk];
  }
}

/**
 * The xDS bench's workloads ("mesh-1k", "mesh-10k"), built the way translation shares chunks:
 * clusters and endpoints are one frozen chunk per namespace, one RouteConfiguration ("80")
 * with a virtual host per service is shared by every sidecar, and each sidecar has its own
 * outbound listener. Changes replace only the chunk that changed, and return what changed so
 * the same change can be applied to a peer server (istiod's files, the reference's control).
 */
import { ResourceType as T, TYPE_PREFIX, TypeName, type EnvoyObject } from '../src/xds/resource-types.js';
import { MESH_ALPN, SECRET_DEFAULT, SECRET_ROOTCA, outboundClusterName } from '../src/xds/names.js';
import type { ConnectedProxy, GeneratedResources } from '../src/xds/server/types.js';

type Chunk = readonly EnvoyObject[];

export interface WorkloadShape {
  readonly name: string;
  readonly namespaces: number;
  readonly servicesPerNamespace: number;
  readonly endpointsPerService: number;
  /** Connected sidecars (the bench's `--proxies` overrides it). */
  readonly sidecars: number;
  /** Clusters carry the mesh mTLS transport socket (meshd only: `--tls`). */
  readonly tls: boolean;
}

export const MESH_1K: WorkloadShape = { name: 'mesh-1k', namespaces: 20, servicesPerNamespace: 50, endpointsPerService: 2, sidecars: 1000, tls: false };
export const MESH_10K: WorkloadShape = { name: 'mesh-10k', namespaces: 100, servicesPerNamespace: 100, endpointsPerService: 3, sidecars: 2000, tls: false };

/** The service port every sidecar routes (HTTP) and the port its endpoints listen on. */
export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;
/** The default connect timeout of every cluster (istiod's mesh default too). */
export const DEFAULT_CONNECT_TIMEOUT_S = 10;

/** One mesh service as every server under test sees it. */
export interface MeshService {
  readonly namespace: string;
  readonly name: string;
  readonly endpoints: readonly string[];
  readonly connectTimeoutS: number;
}

/** A change the bench applies, and what a sidecar sees when it has arrived. */
export type MeshChange =
  | { readonly kind: 'endpoints'; readonly service: MeshService; readonly cluster: string; readonly newAddress: string }
  | { readonly kind: 'cluster'; readonly service: MeshService; readonly cluster: string }
  | { readonly kind: 'service'; readonly service: MeshService; readonly cluster: string };

const sds = (name: string): EnvoyObject => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

/** The FQDN of a mesh service. */
export function hostOf(s: Pick<MeshService, 'namespace' | 'name'>): string {
  return `${s.name}.${s.namespace}.svc.cluster.local`;
}

/** The outbound cluster (and EDS service) name of a mesh service, as Istio names it. */
export function clusterOf(s: Pick<MeshService, 'namespace' | 'name'>): string {
  return outboundClusterName(SERVICE_PORT, hostOf(s));
}

/**
 * An outbound EDS cluster over ADS. `withTls` adds the mesh mTLS transport socket the real
 * translation emits (SDS secrets, SAN match, ALPN), which quadruples the CDS size (`--tls`).
 */
function cluster(s: MeshService, withTls: boolean): EnvoyObject {
  const name = clusterOf(s);
  const base = {
    name,
    type: 'EDS',
    connect_timeout: `${s.connectTimeoutS}s`,
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
  };
  if (!withTls) return Object.freeze(base);
  return Object.freeze({
    ...base,
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TYPE_PREFIX + TypeName.UpstreamTlsContext,
        sni: hostOf(s),
        common_tls_context: {
          alpn_protocols: [MESH_ALPN, 'h2', 'http/1.1'],
          tls_certificate_sds_secret_configs: [sds(SECRET_DEFAULT)],
          combined_validation_context: {
            default_validation_context: {
              match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: `spiffe://cluster.local/ns/${s.namespace}/sa/${s.name}` } }],
            },
            validation_context_sds_secret_config: sds(SECRET_ROOTCA),
          },
        },
      },
    },
  });
}

function cla(s: MeshService): EnvoyObject {
  const lb = s.endpoints.map((address) => ({ endpoint: { address: { socket_address: { address, port_value: TARGET_PORT } } } }));
  return Object.freeze({ cluster_name: clusterOf(s), endpoints: [{ lb_endpoints: lb }] });
}

function routeConfig(services: readonly (readonly MeshService[])[], gen: number): EnvoyObject {
  const vhosts = [];
  for (const list of services) {
    for (const s of list) {
      const h = hostOf(s);
      const short = `${s.name}.${s.namespace}`;
      vhosts.push({
        name: `${h}:${SERVICE_PORT}`,
        domains: [h, `${h}:${SERVICE_PORT}`, short, `${short}:${SERVICE_PORT}`],
        routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: clusterOf(s), timeout: gen === 0 ? '0s' : `${gen}s` } }],
      });
    }
  }
  return Object.freeze({ name: String(SERVICE_PORT), virtual_hosts: vhosts, validate_clusters: false });
}

function listener(podName: string): EnvoyObject {
  return Object.freeze({
    name: `0.0.0.0_${SERVICE_PORT}`,
    address: { socket_address: { address: '0.0.0.0', port_value: SERVICE_PORT } },
    bind_to_port: false,
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': TYPE_PREFIX + TypeName.HttpConnectionManager,
              stat_prefix: `outbound_${SERVICE_PORT}_${podName}`,
              rds: { route_config_name: String(SERVICE_PORT), config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_PREFIX + TypeName.Router } }],
            },
          },
        ],
      },
    ],
  });
}

/** What the bench needs of a workload: meshd's generator, and changes that say what a sidecar will see. */
export interface BenchWorkload {
  generate(proxy: ConnectedProxy): GeneratedResources;
  sharedChunks(): GeneratedResources;
  changeOneEndpoint(): MeshChange;
  changeOneCluster(): MeshChange;
  addService(): MeshChange;
  changeRoutes(): void;
}

/** The mutable mesh state the bench changes, and the generator the (in-process) meshd server calls. */
export class MeshWorkload implements BenchWorkload {
  /** Services per namespace index (the source of truth every server's config is made from). */
  private services: MeshService[][] = [];
  private clusterChunks: Chunk[] = [];
  private endpointChunks: Chunk[] = [];
  private routeChunk: Chunk;
  /** The one-chunk RDS list, kept as the same array until the routes change (as translation shares lists). */
  private routeList: readonly Chunk[];
  private readonly listeners = new Map<string, readonly Chunk[]>();
  private endpointGen = 0;
  private clusterGen = 0;
  private serviceGen = 0;
  private routeGen = 0;

  constructor(readonly shape: WorkloadShape) {
    for (let ns = 0; ns < shape.namespaces; ns++) {
      const list: MeshService[] = [];
      for (let i = 0; i < shape.servicesPerNamespace; i++) {
        const endpoints = Array.from({ length: shape.endpointsPerService }, (_, e) => `10.${ns}.${i}.${e + 1}`);
        list.push({ namespace: `ns-${ns}`, name: `svc-${i}`, endpoints, connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S });
      }
      this.services.push(list);
      this.clusterChunks.push(Object.freeze(list.map((s) => cluster(s, shape.tls))));
      this.endpointChunks.push(Object.freeze(list.map(cla)));
    }
    this.routeChunk = Object.freeze([routeConfig(this.services, 0)]);
    this.routeList = [this.routeChunk];
  }

  /** Every service, namespace by namespace (do not mutate). */
  allServices(): readonly (readonly MeshService[])[] {
    return this.services;
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

  private replace(ns: number, i: number, s: MeshService, what: { clusters?: boolean; endpoints?: boolean }): void {
    this.services[ns]![i] = s;
    if (what.endpoints) {
      const chunk = [...this.endpointChunks[ns]!];
      chunk[i] = cla(s);
      this.endpointChunks = [...this.endpointChunks];
      this.endpointChunks[ns] = Object.freeze(chunk);
    }
    if (what.clusters) {
      const chunk = [...this.clusterChunks[ns]!];
      chunk[i] = cluster(s, this.shape.tls);
      this.clusterChunks = [...this.clusterChunks];
      this.clusterChunks[ns] = Object.freeze(chunk);
    }
  }

  /** One service's endpoint moves (a pod replaced): one new CLA in one new namespace chunk. */
  changeOneEndpoint(): MeshChange {
    const g = ++this.endpointGen;
    const ns = g % this.shape.namespaces;
    const i = (g * 7) % this.shape.servicesPerNamespace;
    const old = this.services[ns]![i]!;
    // A fresh last octet per change (above the initial ones), so its arrival can be recognized.
    const newAddress = `10.${ns}.${i}.${this.shape.endpointsPerService + 1 + (g % 200)}`;
    const endpoints = [...old.endpoints];
    endpoints[g % endpoints.length] = newAddress;
    const s = { ...old, endpoints };
    this.replace(ns, i, s, { endpoints: true });
    return { kind: 'endpoints', service: s, cluster: clusterOf(s), newAddress };
  }

  /** One cluster's connect timeout changes: every sidecar gets a new CDS (SotW: the full set). */
  changeOneCluster(): MeshChange {
    const g = ++this.clusterGen;
    const ns = g % this.shape.namespaces;
    const i = (g * 11) % this.shape.servicesPerNamespace;
    const s = { ...this.services[ns]![i]!, connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S + g };
    this.replace(ns, i, s, { clusters: true });
    return { kind: 'cluster', service: s, cluster: clusterOf(s) };
  }

  /** A new service (2 endpoints' worth of the shape) appears: new CDS, EDS and RDS for every sidecar. */
  addService(): MeshChange {
    const g = ++this.serviceGen;
    const ns = g % this.shape.namespaces;
    const i = this.services[ns]!.length;
    const endpoints = Array.from({ length: this.shape.endpointsPerService }, (_, e) => `10.${ns}.${i}.${e + 1}`);
    const s: MeshService = { namespace: `ns-${ns}`, name: `added-${g}`, endpoints, connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S };
    this.services[ns]!.push(s);
    this.clusterChunks = [...this.clusterChunks];
    this.clusterChunks[ns] = Object.freeze([...this.clusterChunks[ns]!, cluster(s, this.shape.tls)]);
    this.endpointChunks = [...this.endpointChunks];
    this.endpointChunks[ns] = Object.freeze([...this.endpointChunks[ns]!, cla(s)]);
    this.routeChunk = Object.freeze([routeConfig(this.services, this.routeGen)]);
    this.routeList = [this.routeChunk];
    return { kind: 'service', service: s, cluster: clusterOf(s) };
  }

  /** The shared route configuration changes: every sidecar gets the new RDS resource. */
  changeRoutes(): void {
    this.routeChunk = Object.freeze([routeConfig(this.services, ++this.routeGen)]);
    this.routeList = [this.routeChunk];
  }
}

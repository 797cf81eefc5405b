/**
 * Renders a sidecar bootstrap from `envoy-bootstrap/sidecar.template.yaml`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { prometheusCluster, prometheusListener, statsConfig } from './stats.js';
import { statsNamespaceExtension } from './stats-namespace-wasm.js';

export interface BootstrapOptions {
  readonly namespace: string;
  readonly workload: string;
  readonly serviceAccount: string;
  /** The workload's address, as in its WorkloadEntry (node id). */
  readonly ip: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** `host:port` of meshd's xDS port. */
  readonly meshd: string;
  readonly mode?: 'explicit' | 'transparent';
  readonly delta?: boolean;
  /** Envoy admin port on 127.0.0.1; 0 lets Envoy pick (use --admin-address-path to learn it). */
  readonly adminPort?: number;
  /** A join token or Kubernetes service-account token, sent as `authorization: Bearer ...`. */
  readonly token?: string;
  /**
   * mTLS to meshd's secure port with the node agent's certificate: the agent's SDS socket path.
   * Secrets `default` and `ROOTCA` then come from the agent, not from meshd.
   */
  readonly agentSocket?: string;
  /** Trust anchor for meshd's server certificate when talking TLS without an agent (PEM file). */
  readonly meshdCaFile?: string;
  /**
   * Prometheus port (Istio's 15090) on the workload's address, serving Envoy's
   * `/stats/prometheus` with Istio's standard metrics. 0 turns it off. Needs a fixed
   * `adminPort` (the listener forwards to the admin API); with admin port 0 it is left out.
   */
  readonly statsPort?: number;
}

/** Istio's Prometheus port on every sidecar. */
export const DEFAULT_STATS_PORT = 15090;

const TEMPLATE_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'envoy-bootstrap', 'sidecar.template.yaml');

/** The static cluster name of the node agent's SDS socket (translation points secrets at it). */
export const AGENT_SDS_CLUSTER = 'sds-grpc';

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new Error(`meshd address must be host:port, got ${JSON.stringify(s)}`);
  const port = Number(s.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`meshd address has a bad port: ${JSON.stringify(s)}`);
  return [s.slice(0, i), port];
}

/** Renders the bootstrap as a plain object (Envoy's YAML/JSON form). Pure but for reading the template. */
export function renderBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const [host, port] = splitHostPort(o.meshd);
  const vars: Record<string, string> = {
    IP: o.ip,
    WORKLOAD: o.workload,
    NAMESPACE: o.namespace,
    SERVICE_ACCOUNT: o.serviceAccount,
    INTERCEPTION_MODE: o.mode === 'transparent' ? 'REDIRECT' : 'NONE',
    ADMIN_PORT: String(o.adminPort ?? 0),
    ADS_API_TYPE: o.delta ? 'DELTA_GRPC' : 'GRPC',
    MESHD_HOST: host,
    MESHD_PORT: String(port),
  };
  const text = readFileSync(TEMPLATE_PATH, 'utf8').replace(/\$\{([A-Z_]+)\}/g, (_m, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`bootstrap template: unknown placeholder ${k}`);
    return v;
  });
  const b = YAML.parse(text) as Bootstrap;
  b.node.metadata.LABELS = { ...(o.labels ?? {}) };
  // Where meshctl can read this Envoy's own /certs (meshd passes it on only when it is loopback).
  if (o.adminPort) b.node.metadata.ADMIN_ADDRESS = `127.0.0.1:${o.adminPort}`;
  // Istio's standard metrics: their stat namespace, histogram buckets, and the Prometheus port.
  b.bootstrap_extensions = [statsNamespaceExtension()];
  b.stats_config = statsConfig();
  const statsPort = o.statsPort ?? DEFAULT_STATS_PORT;
  if (statsPort > 0 && (o.adminPort ?? 0) > 0) {
    b.static_resources.listeners = [prometheusListener(o.ip, statsPort, o.adminPort!)];
    b.static_resources.clusters.push(prometheusCluster(o.adminPort!));
  }
  const ads = b.dynamic_resources.ads_config;
  if (o.token) {
    ads.grpc_services[0]!.initial_metadata = [{ key: 'authorization', value: `Bearer ${o.token}` }];
  }
  const xds = b.static_resources.clusters[0]!;
  if (o.agentSocket) {
    b.node.metadata.SECRET_SOURCE = 'agent';
    b.static_resources.clusters.push({
      name: AGENT_SDS_CLUSTER,
      type: 'STATIC',
      connect_timeout: '1s',
      typed_extension_protocol_options: xds.typed_extension_protocol_options,
      load_assignment: {
        cluster_name: AGENT_SDS_CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: o.agentSocket } } } }] }],
      },
    });
    const agentSds = { resource_api_version: 'V3', api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: AGENT_SDS_CLUSTER } }] } };
    xds.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: 'meshd',
        common_tls_context: {
          alpn_protocols: ['h2'],
          tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: agentSds }],
          validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: agentSds },
        },
      },
    };
  } else if (o.meshdCaFile) {
    xds.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: 'meshd',
        common_tls_context: { alpn_protocols: ['h2'], validation_context: { trusted_ca: { filename: o.meshdCaFile } } },
      },
    };
  }
  if (o.token) {
    // Every gRPC stream on xds-grpc carries the credential, not only ADS: the inbound access
    // loggers (meshd's AccessLogService) authenticate with the same token. An upstream filter,
    // because listeners come from translation, which never holds credentials.
    const opts = xds.typed_extension_protocol_options as Record<string, Record<string, unknown>>;
    const key = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
    xds.typed_extension_protocol_options = { ...opts, [key]: { ...opts[key], http_filters: [
      {
        name: 'envoy.filters.http.header_mutation',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
          mutations: { request_mutations: [{ append: { header: { key: 'authorization', value: `Bearer ${o.token}` }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } }] },
        },
      },
      { name: 'envoy.filters.http.upstream_codec', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec' } },
    ] } };
  }
  return b as unknown as Record<string, unknown>;
}

/** Renders the bootstrap as YAML text. */
export function renderBootstrapYaml(o: BootstrapOptions): string {
  return YAML.stringify(renderBootstrap(o));
}

interface Bootstrap {
  node: { metadata: Record<string, unknown> };
  bootstrap_extensions?: unknown[];
  stats_config?: unknown;
  dynamic_resources: { ads_config: { grpc_services: { initial_metadata?: unknown[] }[] } };
  static_resources: { clusters: Record<string, unknown>[]; listeners?: unknown[] };
}

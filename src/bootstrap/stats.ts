/**
 * The bootstrap's metrics parts: histogram buckets for Istio's byte histograms, and the
 * Prometheus listener (Istio's 15090) that forwards `/stats/prometheus` to the admin API.
 */

/** Name of the static listener and cluster behind the Prometheus port. */
export const PROMETHEUS_STATS = 'prometheus_stats';

/** `stats_config`: default tags plus byte buckets for istio_request_bytes / istio_response_bytes. */
export function statsConfig(): Record<string, unknown> {
  return {
    stats_tags: [],
    use_all_default_tags: true,
    histogram_bucket_settings: [{
      match: { safe_regex: { regex: '^wasmcustom\\.istio_(request|response)_bytes' } },
      buckets: [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000],
    }],
  };
}

/** A listener on `address:port` serving only GET `/stats/prometheus` (and `/metrics`) from the admin API on 127.0.0.1:`adminPort`. */
export function prometheusListener(address: string, port: number, adminPort: number): Record<string, unknown> {
  return {
    name: PROMETHEUS_STATS,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: PROMETHEUS_STATS,
          route_config: {
            virtual_hosts: [{
              name: PROMETHEUS_STATS, domains: ['*'],
              routes: [
                { match: { path: '/stats/prometheus', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: PROMETHEUS_STATS } },
                { match: { path: '/metrics', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: PROMETHEUS_STATS, prefix_rewrite: '/stats/prometheus' } },
                { match: { prefix: '/' }, direct_response: { status: 404 } },
              ],
            }],
          },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
        },
      }],
    }],
  };
}

/** The static cluster to the admin API. */
export function prometheusCluster(adminPort: number): Record<string, unknown> {
  return {
    name: PROMETHEUS_STATS, type: 'STATIC', connect_timeout: '1s',
    load_assignment: { cluster_name: PROMETHEUS_STATS, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } } }] }] },
  };
}

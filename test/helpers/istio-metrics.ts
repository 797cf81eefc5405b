/**
 * Istio's standard metrics as Istio's own telemetry emits them (read from istio/proxy's stats
 * filter and istio.io's "Istio Standard Metrics" page, written down here as our own list):
 * every name and, per metric, the exact label set that Istio's dashboards group by.
 */

/** Labels of Istio's HTTP/gRPC metrics. */
export const ISTIO_HTTP_LABELS: readonly string[] = [
  'reporter',
  'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version',
  'source_canonical_service', 'source_canonical_revision', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_service', 'destination_service_name', 'destination_service_namespace',
  'destination_canonical_service', 'destination_canonical_revision', 'destination_cluster',
  'request_protocol', 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy',
];

/** Labels of Istio's TCP metrics: the HTTP ones without response_code and grpc_response_status. */
export const ISTIO_TCP_LABELS: readonly string[] = ISTIO_HTTP_LABELS.filter((l) => l !== 'response_code' && l !== 'grpc_response_status');

/** Istio's metric names (Prometheus), with their type and label set. */
export const ISTIO_METRICS: readonly { name: string; type: 'counter' | 'histogram'; labels: readonly string[] }[] = [
  { name: 'istio_requests_total', type: 'counter', labels: ISTIO_HTTP_LABELS },
  { name: 'istio_request_duration_milliseconds', type: 'histogram', labels: ISTIO_HTTP_LABELS },
  { name: 'istio_request_bytes', type: 'histogram', labels: ISTIO_HTTP_LABELS },
  { name: 'istio_response_bytes', type: 'histogram', labels: ISTIO_HTTP_LABELS },
  { name: 'istio_tcp_connections_opened_total', type: 'counter', labels: ISTIO_TCP_LABELS },
  { name: 'istio_tcp_connections_closed_total', type: 'counter', labels: ISTIO_TCP_LABELS },
  { name: 'istio_tcp_sent_bytes_total', type: 'counter', labels: ISTIO_TCP_LABELS },
  { name: 'istio_tcp_received_bytes_total', type: 'counter', labels: ISTIO_TCP_LABELS },
];

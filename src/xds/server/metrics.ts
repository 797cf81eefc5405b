/**
 * The ADS server's Prometheus metrics (`meshd_xds_*`), registered on the Registry the
 * caller passes; without one they are kept on a private Registry.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface XdsMetrics {
  readonly connected: Gauge<'protocol'>;
  readonly pushes: Counter<'type'>;
  readonly pushDuration: Histogram<string>;
  readonly nacks: Counter<'type'>;
  readonly convergence: Histogram<string>;
  readonly protocolErrors: Counter<'reason'>;
  readonly limitExceeded: Counter<'limit'>;
  readonly onDemand: Counter<'result'>;
  readonly namePoolBytes: Gauge<string>;
  readonly queueTime: Histogram<'type'>;
  readonly configSize: Histogram<'type'>;
}

/** Creates and registers the metrics; one set per server. */
export function createXdsMetrics(registry: Registry = new Registry(), namePoolBytes: () => number = () => 0): XdsMetrics {
  const registers = [registry];
  return {
    connected: new Gauge({ name: 'meshd_xds_connected_proxies', help: 'Connected ADS streams', labelNames: ['protocol'], registers }),
    pushes: new Counter({ name: 'meshd_xds_pushes_total', help: 'Responses sent, by resource type', labelNames: ['type'], registers }),
    pushDuration: new Histogram({
      name: 'meshd_xds_push_duration_seconds',
      help: 'From push() to every affected proxy regenerated and queued',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    nacks: new Counter({ name: 'meshd_xds_nacks_total', help: 'NACKs received, by resource type', labelNames: ['type'], registers }),
    convergence: new Histogram({
      name: 'meshd_xds_convergence_seconds',
      help: 'From push() (a config change) to the last affected proxy ACK',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    queueTime: new Histogram({
      name: 'meshd_xds_queue_seconds',
      help: 'From new resources for a stream (a push) to the response being written, by type: time spent behind earlier types and unanswered responses',
      labelNames: ['type'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    configSize: new Histogram({
      name: 'meshd_xds_config_size_bytes',
      help: 'Size of each response sent, by type',
      labelNames: ['type'],
      buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304],
      registers,
    }),
    protocolErrors: new Counter({
      name: 'meshd_xds_protocol_errors_total',
      help: 'Requests ignored or streams ended for bad input, by reason',
      labelNames: ['reason'],
      registers,
    }),
    onDemand: new Counter({ name: 'meshd_xds_on_demand_clusters_total', help: 'Clusters asked for by on-demand CDS (ODCDS) streams, by result (found, not_found: answered as removed)', labelNames: ['result'], registers }),
    limitExceeded: new Counter({
      name: 'meshd_xds_limit_exceeded_total',
      help: 'Clients refused or dropped for exceeding a per-client limit, by limit',
      labelNames: ['limit'],
      registers,
    }),
    namePoolBytes: new Gauge({ name: 'meshd_xds_name_pool_bytes', help: 'Estimated bytes of SotW resource-name lists shared between streams', registers,
      collect() { this.set(namePoolBytes()); } }),
  };
}

/** Metrics of the external CA path (meshd as a registration authority in front of a signer). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How one request to the external signer ended. */
export type ExternalResult = 'issued' | 'denied' | 'failed' | 'timeout' | 'invalid' | 'error';

export class ExternalCaMetrics {
  readonly requests: Counter<'result'>;
  readonly seconds: Histogram;
  readonly pending: Gauge;
  readonly lastFailure: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'meshd_ca_external_requests_total', help: 'Workload certificate requests sent to the external signer, by result (issued, denied, failed, timeout, invalid, error).', labelNames: ['result'], registers });
    this.seconds = new Histogram({ name: 'meshd_ca_external_issue_seconds', help: 'Time from creating a CertificateSigningRequest to holding its signed certificate.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers });
    this.pending = new Gauge({ name: 'meshd_ca_external_pending', help: 'CertificateSigningRequests waiting for the external signer.', registers });
    this.lastFailure = new Gauge({ name: 'meshd_ca_external_last_failure_timestamp_seconds', help: 'When a request to the external signer last failed (Unix seconds; 0 if never).', registers });
  }
}

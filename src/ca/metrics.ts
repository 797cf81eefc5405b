/** The CA's and SDS's Prometheus metrics, registered on a Registry the caller passes in. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type AuthFailureReason =
  | 'no-credentials'
  | 'expired'
  | 'not-yet-valid'
  | 'bad-signature'
  | 'malformed'
  | 'wrong-audience'
  | 'wrong-identity'
  | 'untrusted-certificate'
  | 'no-spiffe-id'
  | 'rejected';

export class CaMetrics {
  readonly csrTotal: Counter;
  readonly issuanceSeconds: Histogram;
  readonly authFailures: Counter<'reason'>;
  readonly signingErrors: Counter;
  readonly rootExpiry: Gauge;
  readonly intermediateExpiry: Gauge;
  readonly workloadCertExpiry: Gauge<'proxy'>;
  readonly sdsPushErrors: Counter;
  readonly csrRateLimited: Counter<'limit'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.csrTotal = new Counter({ name: 'meshd_ca_csr_total', help: 'Certificate signing requests received.', registers });
    this.issuanceSeconds = new Histogram({
      name: 'meshd_ca_issuance_seconds',
      help: 'Time to issue one certificate (key generation or CSR verification, signing, encoding).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers,
    });
    this.authFailures = new Counter({ name: 'meshd_ca_auth_failures_total', help: 'Callers of the CA that failed authentication.', labelNames: ['reason'], registers });
    this.signingErrors = new Counter({ name: 'meshd_ca_signing_errors_total', help: 'Certificate requests that failed after authentication.', registers });
    this.rootExpiry = new Gauge({ name: 'meshd_ca_root_expiry_timestamp_seconds', help: 'NotAfter of the signing root certificate (Unix seconds).', registers });
    this.intermediateExpiry = new Gauge({ name: 'meshd_ca_intermediate_expiry_timestamp_seconds', help: 'NotAfter of the signing intermediate certificate, when plugged in (Unix seconds).', registers });
    this.workloadCertExpiry = new Gauge({ name: 'meshd_ca_workload_cert_expiry_timestamp_seconds', help: 'NotAfter of the certificate held for each proxy (Unix seconds).', labelNames: ['proxy'], registers });
    this.csrRateLimited = new Counter({ name: 'meshd_ca_csr_rate_limited_total', help: 'CSRs refused by a rate limit (limit: global or identity).', labelNames: ['limit'], registers });
    this.sdsPushErrors = new Counter({ name: 'meshd_sds_push_errors_total', help: 'Secret pushes that failed (issuance or send).', registers });
  }
}

/**
 * What one ADS client may cost the server. Each limit is a meshd flag; a client over one is
 * refused with RESOURCE_EXHAUSTED naming the limit, counted in
 * `meshd_xds_limit_exceeded_total{limit}`, and logged. Defaults leave room for a 10,000-service
 * mesh (a sidecar subscribes to one EDS name per service port).
 */

export interface XdsLimits {
  /** ADS streams open at once on one HTTP/2 connection (Envoy opens one). */
  readonly maxStreamsPerConnection: number;
  /** TCP connections open at once from one source address. */
  readonly maxConnectionsPerAddress: number;
  /** Names one stream may subscribe to for one type (SotW list or Delta subscriptions). */
  readonly maxNamesPerSubscription: number;
  /** Clusters one on-demand CDS stream may ask for (ODCDS: each names one host it calls). */
  readonly maxOnDemandNames: number;
  /** Size of one request message (grpc-js refuses larger ones before reading them whole). */
  readonly maxRequestBytes: number;
  /** Response bytes written to a stream and not yet taken by its client; over this the stream is dropped. */
  readonly maxPendingBytes: number;
  /** How long a response may stay unread by its client before the stream is dropped. */
  readonly writeTimeoutMs: number;
  /** How long a new stream may wait before sending its first request. */
  readonly firstRequestTimeoutMs: number;
  /** How long an HTTP/2 connection may stay without any call (grpc-js closes it). */
  readonly idleConnectionTimeoutMs: number;
  /** Bytes of decoded SotW name lists kept for sharing between streams (lists in use are counted). */
  readonly namePoolBytes: number;
  /** Requests one stream may send per second, averaged (a burst of 10 seconds' worth is allowed). */
  readonly maxRequestsPerSecond: number;
}

export const DEFAULT_XDS_LIMITS: XdsLimits = Object.freeze({
  maxStreamsPerConnection: 8,
  maxConnectionsPerAddress: 2048,
  maxNamesPerSubscription: 50_000,
  maxOnDemandNames: 1024,
  maxRequestBytes: 8 * 1024 * 1024,
  maxPendingBytes: 64 * 1024 * 1024,
  writeTimeoutMs: 60_000,
  firstRequestTimeoutMs: 15_000,
  idleConnectionTimeoutMs: 60_000,
  namePoolBytes: 64 * 1024 * 1024,
  maxRequestsPerSecond: 200,
});

/** The limit names used in the metric label and in RESOURCE_EXHAUSTED messages (with their flags). */
export const LIMIT_FLAGS = {
  streams_per_connection: '--xds-max-streams-per-connection',
  connections_per_address: '--xds-max-connections-per-address',
  names_per_subscription: '--xds-max-names-per-subscription',
  on_demand_names: '--xds-max-on-demand-names',
  request_bytes: '--xds-max-request-bytes',
  pending_bytes: '--xds-max-pending-bytes',
  write_timeout: '--xds-write-timeout',
  first_request_timeout: '--xds-first-request-timeout',
  idle_connection_timeout: '--xds-idle-connection-timeout',
  requests_per_second: '--xds-max-requests-per-second',
} as const;

export type LimitName = keyof typeof LIMIT_FLAGS;

/** The message a client gets when it exceeds `limit`: what was exceeded, by how much, and the flag. */
export function limitMessage(limit: LimitName, detail: string): string {
  return `meshd: ${detail} (limit ${LIMIT_FLAGS[limit]})`;
}

/** A token bucket: `rate` per second, holding at most `burst`. */
export class RateBucket {
  private tokens: number;
  private at: number;
  constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

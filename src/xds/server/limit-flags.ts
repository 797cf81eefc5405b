/** meshd's flags for the per-client xDS limits (src/xds/server/limits.ts), and their parsing. */
import type { FlagSpec, FlagValues } from '../../util/flags.js';
import { DEFAULT_XDS_LIMITS, type XdsLimits } from './limits.js';

const d = DEFAULT_XDS_LIMITS;
const ms = (n: number): string => (n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`);

/** The flags, each with its MESHD_* environment variable; defaults are DEFAULT_XDS_LIMITS. */
export const XDS_LIMIT_FLAGS: readonly FlagSpec[] = [
  { name: 'xds-max-streams-per-connection', env: 'MESHD_XDS_MAX_STREAMS_PER_CONNECTION', type: 'int', default: String(d.maxStreamsPerConnection), help: 'ADS streams one HTTP/2 connection may hold open' },
  { name: 'xds-max-connections-per-address', env: 'MESHD_XDS_MAX_CONNECTIONS_PER_ADDRESS', type: 'int', default: String(d.maxConnectionsPerAddress), help: 'gRPC connections open at once from one source address' },
  { name: 'xds-max-names-per-subscription', env: 'MESHD_XDS_MAX_NAMES_PER_SUBSCRIPTION', type: 'int', default: String(d.maxNamesPerSubscription), help: 'resource names one stream may subscribe to per type' },
  { name: 'xds-max-on-demand-names', env: 'MESHD_XDS_MAX_ON_DEMAND_NAMES', type: 'int', default: String(d.maxOnDemandNames), help: 'clusters one on-demand CDS stream may ask for' },
  { name: 'xds-max-request-bytes', env: 'MESHD_XDS_MAX_REQUEST_BYTES', type: 'int', default: String(d.maxRequestBytes), help: 'largest ADS request message' },
  { name: 'xds-max-pending-bytes', env: 'MESHD_XDS_MAX_PENDING_BYTES', type: 'int', default: String(d.maxPendingBytes), help: 'response bytes a client may leave unread before its stream is dropped' },
  { name: 'xds-write-timeout', env: 'MESHD_XDS_WRITE_TIMEOUT', type: 'duration', default: ms(d.writeTimeoutMs), help: 'a stream whose client has not taken a response for this long is dropped' },
  { name: 'xds-first-request-timeout', env: 'MESHD_XDS_FIRST_REQUEST_TIMEOUT', type: 'duration', default: ms(d.firstRequestTimeoutMs), help: 'a stream that sends no request for this long is closed' },
  { name: 'xds-idle-connection-timeout', env: 'MESHD_XDS_IDLE_CONNECTION_TIMEOUT', type: 'duration', default: ms(d.idleConnectionTimeoutMs), help: 'an HTTP/2 connection that holds no call for this long is closed' },
  { name: 'xds-name-pool-bytes', env: 'MESHD_XDS_NAME_POOL_BYTES', type: 'int', default: String(d.namePoolBytes), help: 'bytes of SotW name lists kept for sharing between streams' },
  { name: 'xds-max-requests-per-second', env: 'MESHD_XDS_MAX_REQUESTS_PER_SECOND', type: 'int', default: String(d.maxRequestsPerSecond), help: 'requests one stream may send per second (bursts of 10 s allowed)' },
];

/** Parsed flag values → limits; throws an Error naming the flag on a value below 1. */
export function toXdsLimits(v: FlagValues): XdsLimits {
  const num = (name: string): number => {
    const n = v[name] as number;
    if (!(n >= 1)) throw new Error(`--${name}: must be at least 1`);
    return n;
  };
  return {
    maxStreamsPerConnection: num('xds-max-streams-per-connection'),
    maxConnectionsPerAddress: num('xds-max-connections-per-address'),
    maxNamesPerSubscription: num('xds-max-names-per-subscription'),
    maxOnDemandNames: num('xds-max-on-demand-names'),
    maxRequestBytes: num('xds-max-request-bytes'),
    maxPendingBytes: num('xds-max-pending-bytes'),
    writeTimeoutMs: num('xds-write-timeout'),
    firstRequestTimeoutMs: num('xds-first-request-timeout'),
    idleConnectionTimeoutMs: num('xds-idle-connection-timeout'),
    namePoolBytes: num('xds-name-pool-bytes'),
    maxRequestsPerSecond: num('xds-max-requests-per-second'),
  };
}

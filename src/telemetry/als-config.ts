/**
 * The gRPC access loggers inbound filter chains send to meshd (AccessLogService over the
 * bootstrap's static `xds-grpc` cluster). Each chain's logger carries the chain name as a
 * literal custom tag, since Envoy's ALS entries have no filter-chain field: the tag tells
 * mTLS, plaintext and TLS passthrough apart. Pure builders, used by translation.
 */
import { typed, type EnvoyObject } from '../xds/resource-types.js';

/** Envoy extension names of the gRPC access loggers (next to `Filter` once resource-types.ts is free). */
export const GrpcAccessLog = {
  Http: 'envoy.access_loggers.http_grpc',
  Tcp: 'envoy.access_loggers.tcp_grpc',
  HttpType: 'envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig',
  TcpType: 'envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig',
} as const;

/** The static cluster every sidecar bootstrap has (envoy-bootstrap/sidecar.template.yaml). */
export const ALS_CLUSTER = 'xds-grpc';
/** `log_name` of inbound loggers (the stream identifier's log name). */
export const ALS_LOG_NAME = 'meshd-inbound';
/** Custom tag holding the inbound filter chain name (`inbound|8080|plaintext`). */
export const CHAIN_TAG = 'meshd.chain';

function commonConfig(chain: string): EnvoyObject {
  return {
    log_name: ALS_LOG_NAME,
    grpc_service: { envoy_grpc: { cluster_name: ALS_CLUSTER } },
    transport_api_version: 'V3',
    buffer_flush_interval: '1s',
    custom_tags: [{ tag: CHAIN_TAG, literal: { value: chain } }],
  };
}

/** HTTP access logger (`http_grpc`) for an inbound HCM on filter chain `chain`. */
export function inboundHttpGrpcAccessLog(chain: string): EnvoyObject {
  return { name: GrpcAccessLog.Http, typed_config: typed(GrpcAccessLog.HttpType, { common_config: commonConfig(chain) }) };
}

/** Connection access logger (`tcp_grpc`) for an inbound tcp_proxy on filter chain `chain`. */
export function inboundTcpGrpcAccessLog(chain: string): EnvoyObject {
  return { name: GrpcAccessLog.Tcp, typed_config: typed(GrpcAccessLog.TcpType, { common_config: commonConfig(chain) }) };
}

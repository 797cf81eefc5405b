/** Telemetry from sidecars to meshd: access-log config for translation, the receiver, the reports. */
export { GrpcAccessLog, ALS_CLUSTER, ALS_LOG_NAME, CHAIN_TAG, inboundHttpGrpcAccessLog, inboundTcpGrpcAccessLog } from './als-config.js';
export { TelemetryReceiver, ALS_PATH, ALS_SERVICE } from './receiver.js';
export type { TelemetryDeps, AlsSession } from './receiver.js';
export type { EdgeRow, DenialRow, PlaintextReport, PlaintextNamespace, PlaintextWorkload, PlaintextClient } from './reports.js';
export { edgeRows, denialRows, plaintextReport, denyingPolicy } from './reports.js';

/**
 * The seam between the ADS server and the rest of meshd. The server knows nothing of Istio:
 * it asks `generate(proxy)` for chunks per type URL and serves them.
 */
import type * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { Registry } from 'prom-client';
import type { Identity, ProxyInfo } from '../../model/types.js';
import type { ResourceTypeUrl } from '../resource-types.js';
import type { ResourceChunk } from '../translate/types.js';
import type { XdsLimits } from './limits.js';

/** A proxy's resources: per type URL, a list of chunks shared by identity (Secret included). */
export type GeneratedResources = Readonly<Partial<Record<ResourceTypeUrl, readonly ResourceChunk[]>>>;

/** Plain JSON, as node metadata is turned into. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue };
export type JsonObject = { readonly [k: string]: JsonValue };

/** The `Node` a client sent, as plain data. */
export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: JsonObject;
  readonly userAgentName: string;
  readonly userAgentVersion: string;
}

/** One connected ADS stream and the proxy behind it. */
export interface ConnectedProxy {
  /** Unique per stream (a proxy that reconnects gets a new one). */
  readonly connectionId: string;
  readonly info: ProxyInfo;
  /** Set only from `authenticate`, never from node metadata. */
  readonly identity?: Identity;
  readonly node: NodeInfo;
  readonly protocol: 'sotw' | 'delta';
  /**
   * An on-demand CDS stream (ODCDS, `ClusterDiscoveryService/DeltaClusters` or initial metadata
   * `x-meshd-stream: on-demand-cds`): it only names clusters, served from the full translation.
   */
  readonly onDemand?: boolean;
  /** Remote address as grpc-js reports it. */
  readonly peer: string;
  /** Epoch ms. */
  readonly connectedAt: number;
}

/** What `authenticate` sees. */
export interface AuthContext {
  readonly metadata: grpc.Metadata;
  readonly peerCertificate?: PeerCertificate;
  readonly node: NodeInfo;
  readonly peer: string;
}

/** The outcome of authentication; a failure ends the stream with `code`. */
export type AuthResult =
  | { readonly ok: true; readonly identity?: Identity }
  | { readonly ok: false; readonly code: grpc.status; readonly message: string };

/** Structured log sink; fields are plain data. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface XdsServerOptions {
  /** Resources for one proxy. Called on connect and on every push that selects the proxy. */
  generate(proxy: ConnectedProxy): Promise<GeneratedResources> | GeneratedResources;
  /** Runs once per stream, after the first request's node is known. Absent: everyone is accepted without identity. */
  authenticate?(ctx: AuthContext): Promise<AuthResult> | AuthResult;
  /** Called once when a stream that got its proxy identified ends (for per-connection cleanup). */
  onDisconnect?(proxy: ConnectedProxy): void;
  /** An on-demand stream asked for `names` (its new ones); `found` says which exist. */
  onDemandRequested?(proxy: ConnectedProxy, names: readonly string[], found: readonly boolean[]): void;
  logger?: Logger;
  /** Where `meshd_xds_*` metrics are registered. */
  registry?: Registry;
  /** How long a push waits for an earlier type's ACK before sending the next type. Default 5000. */
  ackTimeoutMs?: number;
  /** How long `push()` waits for every affected proxy's ACK before giving up. Default 30000. */
  convergenceTimeoutMs?: number;
  /** What one client may cost (defaults: DEFAULT_XDS_LIMITS). */
  limits?: Partial<XdsLimits>;
  /** `control_plane.identifier` in responses. */
  controlPlaneId?: string;
  /** Called once when a ready stream ends (release per-connection state such as certificates). */
  onDisconnect?(proxy: ConnectedProxy): void;
}

/** A NACK as recorded for the admin endpoint. */
export interface Rejection {
  readonly proxyId: string;
  readonly connectionId: string;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly message: string;
  /** RFC 3339. */
  readonly time: string;
}

/** Sync state of one type on one stream. */
export interface TypeSyncStatus {
  readonly sentVersion?: string;
  readonly sentNonce?: string;
  readonly ackedVersion?: string;
  readonly awaitingAck: boolean;
  /** RFC 3339: when the last response of this type was sent. */
  readonly sentAt?: string;
  readonly lastNack?: Rejection;
}

/** Sync state of one stream. */
export interface ProxySyncStatus {
  readonly proxyId: string;
  readonly connectionId: string;
  readonly protocol: 'sotw' | 'delta';
  readonly types: Readonly<Partial<Record<ResourceTypeUrl, TypeSyncStatus>>>;
  /** The last generation or consistency error for this proxy, if any. */
  readonly lastError?: string;
}

/** What a `push()` reports once every affected proxy answered (or the wait timed out). */
export interface PushOutcome {
  /** Streams whose resources were regenerated. */
  readonly proxies: number;
  /** True when every affected stream answered every response of this push. */
  readonly converged: boolean;
  /** From the `push()` call to the last answer, in ms. */
  readonly ms: number;
}

/** Counters of protocol events, for tests and debug. */
export interface XdsCounters {
  readonly staleNonces: number;
  readonly unknownTypes: number;
  readonly malformed: number;
  readonly nacks: number;
  readonly responses: number;
  readonly inconsistent: number;
}

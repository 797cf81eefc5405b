/**
 * A small State-of-the-World SDS server for the node agent: serves `default` and `ROOTCA`
 * to Envoy over `SecretDiscoveryService/StreamSecrets` and over ADS (type Secret only).
 * ACKs send nothing, NACKs are logged and never answered with the same version again.
 */
import type { MethodDefinition, Server, ServerDuplexStream } from '@grpc/grpc-js';
import { messageType } from '../xds/protos.js';
import { encodeResource, ResourceType, type EnvoyObject } from '../xds/resource-types.js';

export interface SecretSource {
  /** The current secret with this name, if any. */
  get(name: string): EnvoyObject | undefined;
  /** Every secret name (for wildcard requests). */
  names(): readonly string[];
  /** Changes whenever any secret changes. */
  version(): string;
  onChange(fn: () => void): () => void;
}

export interface DiscoveryRequest {
  readonly version_info?: string;
  readonly resource_names?: readonly string[];
  readonly type_url?: string;
  readonly response_nonce?: string;
  readonly error_detail?: { readonly code?: number; readonly message?: string };
}

export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly { readonly type_url: string; readonly value: Uint8Array }[];
  readonly type_url: string;
  readonly nonce: string;
}

function codecs(): Pick<MethodDefinition<DiscoveryRequest, DiscoveryResponse>, 'requestSerialize' | 'requestDeserialize' | 'responseSerialize' | 'responseDeserialize'> {
  const req = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const res = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  return {
    requestSerialize: (m) => Buffer.from(req.encode(req.fromObject(m as Record<string, unknown>)).finish()),
    requestDeserialize: (b) => req.toObject(req.decode(b), { defaults: false, arrays: true, longs: Number }) as DiscoveryRequest,
    responseSerialize: (m) => Buffer.from(res.encode(res.fromObject(m as unknown as Record<string, unknown>)).finish()),
    responseDeserialize: (b) => res.toObject(res.decode(b), { defaults: true, arrays: true, longs: Number }) as DiscoveryResponse,
  };
}

type Method = MethodDefinition<DiscoveryRequest, DiscoveryResponse>;

/** Service definitions for SDS and ADS streams (both carry DiscoveryRequest/Response). */
export function sdsServiceDefinitions(): { sds: { StreamSecrets: Method }; ads: { StreamAggregatedResources: Method } } {
  const c = codecs();
  const stream = { requestStream: true, responseStream: true, ...c } as const;
  return {
    sds: { StreamSecrets: { path: '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets', ...stream } },
    ads: { StreamAggregatedResources: { path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', ...stream } },
  };
}

export interface SdsServerOptions {
  readonly log?: (line: string) => void;
  readonly onPushError?: () => void;
}

/** Serves one stream; exported for tests that drive it without a socket. */
export function serveSecretStream(call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>, source: SecretSource, opts: SdsServerOptions = {}): void {
  let names: readonly string[] | undefined; // undefined: nothing requested yet; []: wildcard
  let lastNonce = '';
  let nonceCounter = 0;
  let sentVersion = '';
  const send = (): void => {
    if (names === undefined) return;
    const wanted = names.length === 0 ? source.names() : names;
    const resources = wanted.flatMap((n) => {
      const s = source.get(n);
      return s ? [{ type_url: ResourceType.Secret, value: encodeResource(ResourceType.Secret, s) }] : [];
    });
    sentVersion = source.version();
    lastNonce = String(++nonceCounter);
    try {
      call.write({ version_info: sentVersion, resources, type_url: ResourceType.Secret, nonce: lastNonce });
    } catch (e) {
      opts.onPushError?.();
      opts.log?.(`sds: send failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const unsubscribe = source.onChange(() => {
    if (source.version() !== sentVersion) send();
  });
  call.on('data', (req: DiscoveryRequest) => {
    if (req.type_url && req.type_url !== ResourceType.Secret) return; // ADS for other types: not ours
    if (req.response_nonce && req.response_nonce !== lastNonce) return; // stale
    const requested = [...(req.resource_names ?? [])].sort();
    const changed = names === undefined || requested.join('\n') !== names.join('\n');
    names = requested;
    if (req.error_detail) {
      opts.log?.(`sds: proxy rejected secrets version ${sentVersion}: ${req.error_detail.message ?? ''}`);
      if (!changed) return;
    }
    if (changed || !req.response_nonce) send();
  });
  const end = (): void => {
    unsubscribe();
  };
  call.on('end', () => {
    end();
    call.end();
  });
  call.on('error', end);
  call.on('cancelled', end);
}

/** Adds SDS (and ADS restricted to secrets) to a grpc.Server. */
export function addSdsService(server: Server, source: SecretSource, opts: SdsServerOptions = {}): void {
  const defs = sdsServiceDefinitions();
  const handler = (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void => serveSecretStream(call, source, opts);
  server.addService(defs.sds, { StreamSecrets: handler });
  server.addService(defs.ads, { StreamAggregatedResources: handler });
}

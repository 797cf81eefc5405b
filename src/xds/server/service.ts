/**
 * The ADS service definition, hand-written so that requests are decoded with protobufjs
 * into plain typed data and responses go out as pre-built bytes (no re-encoding).
 */
import type * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { lenField } from '../cache/proto-wire.js';
import { serializePieces } from '../cache/responses.js';
import { messageType } from '../protos.js';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const SOTW_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;
export const DELTA_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;

export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

/**
 * A decoded DiscoveryRequest. Envoy repeats the whole `resource_names` list in every
 * request (1,000 EDS names in each ACK), so names are decoded only on demand and
 * `namesDigest` (a hash of their raw bytes) lets a stream skip an unchanged list cheaply.
 */
export interface SotwRequest {
  readonly versionInfo: string;
  /** The decoded `Node` message, or undefined when the request has none. */
  node(): unknown;
  readonly typeUrl: string;
  readonly responseNonce: string;
  readonly errorDetail?: ErrorDetail;
  /**
   * The raw `resource_names` fields (a view into the request: compare, never keep). An ACK
   * repeats them byte for byte, so a stream compares them with the last list it decoded.
   */
  readonly namesBytes: Buffer;
  /** A hash of `namesBytes` ('' for no names), computed on first call. */
  namesDigest(): string;
  resourceNames(): string[];
}

/** A decoded DeltaDiscoveryRequest. */
export interface DeltaRequest {
  readonly node: unknown;
  readonly typeUrl: string;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: ReadonlyMap<string, string>;
  readonly responseNonce: string;
  readonly errorDetail?: ErrorDetail;
}

/** A request, or why it could not be decoded (the stream is then ended by the handler). */
export type Decoded<T> = { readonly ok: true; readonly req: T; readonly size?: number } | { readonly ok: false; readonly error: string; readonly size?: number };

type Rec = { readonly [k: string]: unknown };

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function errorDetailOf(v: unknown): ErrorDetail | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Rec;
  return { code: typeof o['code'] === 'number' ? o['code'] : 0, message: str(o['message']) };
}

function decodeWith(name: string, buf: Buffer): Rec {
  return messageType(name).decode(buf) as unknown as Rec;
}

/**
 * Decodes DiscoveryRequest bytes by hand (envelope only); never throws. `hints` are names
 * regions the same client sent before on this stream (one per type): when the request's names region is
 * byte-identical to one of them — every ACK repeats its list — it is recognised with one
 * comparison instead of walking a thousand names, and `namesBytes` is that hint itself.
 */
export function decodeSotwRequest(buf: Buffer, hints: readonly Buffer[] = []): Decoded<SotwRequest> {
  try {
    let versionInfo = '';
    let typeUrl = '';
    let responseNonce = '';
    let nodeBytes: Buffer | undefined;
    let errorBytes: Buffer | undefined;
    const segments: Buffer[] = [];
    let pos = 0;
    const readVarint = (): number => {
      let result = 0;
      let mul = 1;
      for (let i = 0; i < 10; i++) {
        if (pos >= buf.length) throw new Error('truncated varint');
        const b = buf[pos++]!;
        result += (b & 0x7f) * mul;
        if (b < 0x80) return result;
        mul *= 0x80;
      }
      throw new Error('varint too long');
    };
    while (pos < buf.length) {
      const fieldStart = pos;
      if (buf[pos] === 0x1a) {
        // resource_names (field 3, LEN): thousands in an EDS ACK. Every encoder writes them
        // contiguously (one region): first try the regions this stream sent before.
        let hit: Buffer | undefined;
        for (const h of hints) {
          const end = fieldStart + h.length;
          if (h.length > 0 && end <= buf.length && (end === buf.length || buf[end] !== 0x1a) && buf.compare(h, 0, h.length, fieldStart, end) === 0) {
            hit = h;
            break;
          }
        }
        if (hit) {
          pos += hit.length;
          segments.push(hit);
          continue;
        }
        // Otherwise skipped in a tight loop without allocating.
        while (pos < buf.length && buf[pos] === 0x1a) {
          pos++;
          const len = readVarint();
          pos += len;
        }
        if (pos > buf.length) throw new Error('truncated field');
        segments.push(buf.subarray(fieldStart, pos));
        continue;
      }
      const key = readVarint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (field === 0) throw new Error('field number 0');
      if (wire === 0) { readVarint(); continue; }
      if (wire === 1) { pos += 8; continue; }
      if (wire === 5) { pos += 4; continue; }
      if (wire !== 2) throw new Error(`unsupported wire type ${wire}`);
      const len = readVarint();
      if (pos + len > buf.length) throw new Error('truncated field');
      const body = buf.subarray(pos, pos + len);
      pos += len;
      switch (field) {
        case 1: versionInfo = body.toString('utf8'); break;
        case 2: nodeBytes = body; break;
        case 3:
          // Field 3 with an unusual tag encoding: re-framed canonically.
          segments.push(lenField(3, body));
          break;
        case 4: typeUrl = body.toString('utf8'); break;
        case 5: responseNonce = body.toString('utf8'); break;
        case 6: errorBytes = body; break;
        default: break;
      }
    }
    const namesRegion = segments.length === 1 ? segments[0]! : Buffer.concat(segments);
    let namesDigest: string | undefined;
    let errorDetail: ErrorDetail | undefined;
    if (errorBytes) errorDetail = errorDetailOf(messageType('google.rpc.Status').decode(errorBytes));
    let node: unknown;
    let nodeDecoded = false;
    let names: string[] | undefined;
    return {
      ok: true,
      req: {
        versionInfo,
        typeUrl,
        responseNonce,
        errorDetail,
        namesBytes: namesRegion,
        namesDigest(): string {
          namesDigest ??= namesRegion.length === 0 ? '' : createHash('sha1').update(namesRegion).digest('base64');
          return namesDigest;
        },
        node(): unknown {
          // A node that does not decode is no node (the stream then fails INVALID_ARGUMENT);
          // thrown from here it was an unhandled rejection that ended meshd (issue 14, fuzzing).
          if (!nodeDecoded && nodeBytes) { try { node = messageType('envoy.config.core.v3.Node').decode(nodeBytes); } catch { node = undefined; } }
          nodeDecoded = true;
          return node;
        },
        resourceNames(): string[] {
          if (names) return names;
          const out: string[] = (names = []);
          let p = 0;
          const region = namesRegion;
          while (p < region.length) {
            // Each entry: tag 0x1a, varint length, bytes (other fields never sit between names).
            const key = region[p++]!;
            let len = 0;
            let mul = 1;
            for (;;) {
              const b = region[p++]!;
              len += (b & 0x7f) * mul;
              if (b < 0x80) break;
              mul *= 0x80;
            }
            if (key === 0x1a) out.push(region.toString('utf8', p, p + len));
            p += len;
          }
          return out;
        },
      },
    };
  } catch (e: unknown) {
    return { ok: false, error: `malformed DiscoveryRequest: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Decodes DeltaDiscoveryRequest bytes; never throws. */
export function decodeDeltaRequest(buf: Buffer): Decoded<DeltaRequest> {
  try {
    const m = decodeWith('envoy.service.discovery.v3.DeltaDiscoveryRequest', buf);
    const iv = m['initial_resource_versions'];
    const initialVersions = new Map<string, string>();
    if (typeof iv === 'object' && iv !== null) {
      for (const [k, v] of Object.entries(iv as Rec)) if (typeof v === 'string') initialVersions.set(k, v);
    }
    return {
      ok: true,
      size: buf.length,
      req: {
        node: m['node'] ?? undefined,
        typeUrl: str(m['type_url']),
        subscribe: strings(m['resource_names_subscribe']),
        unsubscribe: strings(m['resource_names_unsubscribe']),
        initialVersions,
        responseNonce: str(m['response_nonce']),
        errorDetail: errorDetailOf(m['error_detail']),
      },
    };
  } catch (e: unknown) {
    return { ok: false, size: buf.length, error: `malformed DeltaDiscoveryRequest: ${e instanceof Error ? e.message : String(e)}` };
  }
}

const identity = (b: Buffer): Buffer => b;

/**
 * The service definition: responses are pre-built pieces (or Buffers). Delta requests decode
 * to plain data; SotW requests arrive as their bytes, decoded by the stream with its hints.
 */
export const adsServiceDefinition = {
  StreamAggregatedResources: {
    path: SOTW_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: serializePieces,
    responseDeserialize: identity,
  },
  DeltaAggregatedResources: {
    path: DELTA_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: decodeDeltaRequest,
    responseSerialize: serializePieces,
    responseDeserialize: identity,
  },
} as const;

/** Envoy's own CDS service, for ODCDS's Delta stream (`api_config_source` of type DELTA_GRPC). */
export const CDS_DELTA_PATH = '/envoy.service.cluster.v3.ClusterDiscoveryService/DeltaClusters';
export const cdsServiceDefinition = {
  DeltaClusters: { ...adsServiceDefinition.DeltaAggregatedResources, path: CDS_DELTA_PATH },
} as const;

/** The type grpc-js needs for `addService`. */
export type AdsServiceDefinition = grpc.ServiceDefinition<grpc.UntypedServiceImplementation>;

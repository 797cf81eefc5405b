/**
 * DiscoveryResponse / DeltaDiscoveryResponse bytes, built by concatenating pre-encoded
 * resource fields with a hand-framed envelope. Nothing is re-encoded per proxy.
 */
import { lenField, stringField } from './proto-wire.js';

/** A SotW response; `resources` are `Encoded.sotwField` buffers or whole chunk bytes. */
export interface SotwResponseParts {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly resources: readonly Buffer[];
  readonly nonce: string;
  readonly controlPlane?: string;
}

/** Encodes a DiscoveryResponse: version_info 1, resources 2, type_url 4, nonce 5, control_plane 6. */
export function sotwResponse(p: SotwResponseParts): Buffer {
  return Buffer.concat([
    stringField(1, p.versionInfo),
    ...p.resources,
    stringField(4, p.typeUrl),
    stringField(5, p.nonce),
    p.controlPlane ? lenField(6, stringField(1, p.controlPlane)) : Buffer.alloc(0),
  ]);
}

/** A Delta response; `resources` are `Encoded.deltaField()` buffers. */
export interface DeltaResponseParts {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly resources: readonly Buffer[];
  readonly removed: readonly string[];
  readonly nonce: string;
  readonly controlPlane?: string;
}

/**
 * Encodes a DeltaDiscoveryResponse: system_version_info 1, resources 2, type_url 4,
 * nonce 5, removed_resources 6, control_plane 7.
 */
export function deltaResponse(p: DeltaResponseParts): Buffer {
  return Buffer.concat([
    stringField(1, p.systemVersionInfo),
    ...p.resources,
    stringField(4, p.typeUrl),
    stringField(5, p.nonce),
    ...p.removed.map((n) => lenField(6, Buffer.from(n, 'utf8'))),
    p.controlPlane ? lenField(7, stringField(1, p.controlPlane)) : Buffer.alloc(0),
  ]);
}

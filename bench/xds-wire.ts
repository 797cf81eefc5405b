/**
 * Allocation-light protobuf and gRPC framing helpers for the xDS bench's load generator:
 * scanning encoded messages without decoding them, DiscoveryRequest pieces, gRPC frames.
 */
import { messageType } from '../src/xds/protos.js';
import { stringField } from '../src/xds/cache/proto-wire.js';

const fid = (type: string, field: string): number => {
  const f = messageType(type).fields[field];
  if (!f) throw new Error(`${type}.${field} unknown`);
  return f.id;
};

/** Field numbers the load generator reads (looked up in the pinned protos, not hard-coded). */
export const F = {
  clusterName: fid('envoy.config.cluster.v3.Cluster', 'name'),
  clusterEds: fid('envoy.config.cluster.v3.Cluster', 'eds_cluster_config'),
  clusterConnectTimeout: fid('envoy.config.cluster.v3.Cluster', 'connect_timeout'),
  durationSeconds: fid('google.protobuf.Duration', 'seconds'),
  edsService: fid('envoy.config.cluster.v3.Cluster.EdsClusterConfig', 'service_name'),
  claName: fid('envoy.config.endpoint.v3.ClusterLoadAssignment', 'cluster_name'),
  socketAddress: fid('envoy.config.core.v3.SocketAddress', 'address'),
  routeName: fid('envoy.config.route.v3.RouteConfiguration', 'name'),
  listenerName: fid('envoy.config.listener.v3.Listener', 'name'),
  chains: fid('envoy.config.listener.v3.Listener', 'filter_chains'),
  filters: fid('envoy.config.listener.v3.FilterChain', 'filters'),
  typedConfig: fid('envoy.config.listener.v3.Filter', 'typed_config'),
  hcmRds: fid('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', 'rds'),
  rdsName: fid('envoy.extensions.filters.network.http_connection_manager.v3.Rds', 'route_config_name'),
};

/**
 * Calls `each(field, s, e)` for every length-delimited field in [start, end) of `buf` (body
 * at [s, e)), and `onVarint(field, value)` for varints; return false from `each` to stop.
 */
export function scan(buf: Buffer, start: number, end: number, each: (field: number, s: number, e: number) => boolean | void, onVarint?: (field: number, v: number) => void): void {
  let pos = start;
  while (pos < end) {
    let key = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++]!;
      key += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
    }
    const wire = key & 7;
    if (wire === 0) {
      let v = 0;
      mul = 1;
      for (;;) {
        const b = buf[pos++]!;
        v += (b & 0x7f) * mul;
        if (b < 0x80) break;
        mul *= 0x80;
      }
      onVarint?.(Math.floor(key / 8), v);
      continue;
    }
    if (wire === 1) {
      pos += 8;
      continue;
    }
    if (wire === 5) {
      pos += 4;
      continue;
    }
    let len = 0;
    mul = 1;
    for (;;) {
      const b = buf[pos++]!;
      len += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
    }
    if (each(Math.floor(key / 8), pos, pos + len) === false) return;
    pos += len;
  }
}

/** The body range of the first field `field` in [start, end), or undefined. */
export function find(buf: Buffer, start: number, end: number, field: number): [number, number] | undefined {
  let r: [number, number] | undefined;
  scan(buf, start, end, (f, s, e) => {
    if (f !== field) return true;
    r = [s, e];
    return false;
  });
  return r;
}

/** The value of varint field `field` in [start, end), or 0 (proto3's default). */
export function varint(buf: Buffer, start: number, end: number, field: number): number {
  let v = 0;
  scan(buf, start, end, () => true, (f, x) => {
    if (f === field) v = x;
  });
  return v;
}

/** The UTF-8 text of a range, or undefined. */
export const text = (buf: Buffer, r: [number, number] | undefined): string | undefined => (r ? buf.toString('utf8', r[0], r[1]) : undefined);

/** A parsed (Delta)DiscoveryResponse: body ranges of each resource's Any.value, and removed names. */
export interface Envelope {
  version: string;
  typeUrl: string;
  nonce: string;
  values: [number, number][];
  removed: string[];
}

/** Parses a DiscoveryResponse, or a DeltaDiscoveryResponse (resources wrap the Any in a Resource; removed_resources 6). */
export function parseResponse(buf: Buffer, delta: boolean): Envelope {
  const env: Envelope = { version: '', typeUrl: '', nonce: '', values: [], removed: [] };
  scan(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) env.version = buf.toString('utf8', s, e);
    else if (f === 2) {
      const any = delta ? find(buf, s, e, 2) : ([s, e] as [number, number]);
      const v = any && find(buf, any[0], any[1], 2);
      if (v) env.values.push(v);
    } else if (f === 4) env.typeUrl = buf.toString('utf8', s, e);
    else if (f === 5) env.nonce = buf.toString('utf8', s, e);
    else if (f === 6 && delta) env.removed.push(buf.toString('utf8', s, e));
  });
  return env;
}

export const EMPTY = Buffer.alloc(0);

/** A DiscoveryRequest as pieces: version 1, node 2, names 3 (a shared encoded block, not copied), type 4, nonce 5. */
export function request(typeUrl: string, version: string, nonce: string, names: Buffer, node?: Buffer): Buffer[] {
  return [Buffer.concat([stringField(1, version), node ?? EMPTY]), names, Buffer.concat([stringField(4, typeUrl), stringField(5, nonce)])];
}

/** A DeltaDiscoveryRequest: node 1, type_url 2, subscribe 3 (an encoded names block), response_nonce 6. */
export function deltaRequest(typeUrl: string, nonce: string, subscribe: Buffer, node?: Buffer): Buffer[] {
  return [Buffer.concat([node ?? EMPTY, stringField(2, typeUrl)]), subscribe, stringField(6, nonce)];
}

/** gRPC length-prefixed message framing over a raw HTTP/2 stream (no compression). */
export function frame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Reassembles gRPC messages from DATA chunks. */
export class MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly onMessage: (m: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.size < 5) return;
      let head = this.chunks[0]!;
      if (head.length < 5) {
        head = Buffer.concat(this.chunks);
        this.chunks = [head];
      }
      const len = head.readUInt32BE(1);
      if (this.size < 5 + len) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.size);
      const msg = all.subarray(5, 5 + len);
      const rest = all.subarray(5 + len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
      this.onMessage(msg);
    }
  }
}

/** The EDS names a CDS response leads to: service_name (or name) of each cluster that has an eds_cluster_config, sorted. */
export function edsNames(buf: Buffer, env: Envelope): string[] {
  const out: string[] = [];
  for (const [s, e] of env.values) {
    const eds = find(buf, s, e, F.clusterEds);
    if (!eds) continue;
    out.push((text(buf, find(buf, eds[0], eds[1], F.edsService)) || text(buf, find(buf, s, e, F.clusterName)))!);
  }
  return out.sort();
}

/** The RDS names an LDS response leads to (every HCM with `rds` in any filter chain), sorted. */
export function rdsNames(buf: Buffer, env: Envelope): string[] {
  const routes = new Set<string>();
  for (const [s, e] of env.values) {
    scan(buf, s, e, (f, cs, ce) => {
      if (f !== F.chains) return;
      scan(buf, cs, ce, (g, fs, fe) => {
        if (g !== F.filters) return;
        const tc = find(buf, fs, fe, F.typedConfig);
        const val = tc && find(buf, tc[0], tc[1], 2);
        const rds = val && find(buf, val[0], val[1], F.hcmRds);
        const n = rds && text(buf, find(buf, rds[0], rds[1], F.rdsName));
        if (n) routes.add(n);
      });
    });
  }
  return [...routes].sort();
}

/** The name of a resource of any of the four types (field 1 of Cluster, CLA, Listener, RouteConfiguration). */
export function resourceName(buf: Buffer, s: number, e: number): string {
  return text(buf, find(buf, s, e, 1)) ?? '';
}

/**
 * Load generator for the xDS bench, run as a child process: opens simulated sidecars over
 * ADS (SotW) that behave like Envoy — CDS and LDS wildcard, then EDS for every cluster and
 * RDS for every route name seen — and ACK every response. Each sidecar has its own HTTP/2
 * connection. With `delta`, sidecars use Delta ADS instead (ACKs carry only the nonce).
 * Talks to the parent over IPC: {cmd:'start', address, count, delta} → {ready, ms}.
 */
import * as http2 from 'node:http2';
import { messageType } from '../src/xds/protos.js';
import { ResourceType as T } from '../src/xds/resource-types.js';
import { lenField, stringField } from '../src/xds/cache/proto-wire.js';
import { DELTA_PATH, SOTW_PATH } from '../src/xds/server/service.js';
import { startCpuProfile } from './cpu-profile.js';

const fid = (type: string, field: string): number => {
  const f = messageType(type).fields[field];
  if (!f) throw new Error(`${type}.${field} unknown`);
  return f.id;
};
const F = {
  clusterName: fid('envoy.config.cluster.v3.Cluster', 'name'),
  clusterEds: fid('envoy.config.cluster.v3.Cluster', 'eds_cluster_config'),
  edsService: fid('envoy.config.cluster.v3.Cluster.EdsClusterConfig', 'service_name'),
  claName: fid('envoy.config.endpoint.v3.ClusterLoadAssignment', 'cluster_name'),
  routeName: fid('envoy.config.route.v3.RouteConfiguration', 'name'),
  chains: fid('envoy.config.listener.v3.Listener', 'filter_chains'),
  filters: fid('envoy.config.listener.v3.FilterChain', 'filters'),
  typedConfig: fid('envoy.config.listener.v3.Filter', 'typed_config'),
  hcmRds: fid('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', 'rds'),
  rdsName: fid('envoy.extensions.filters.network.http_connection_manager.v3.Rds', 'route_config_name'),
};

/**
 * Allocation-free protobuf scanning over [start, end) of a buffer: calls `each(field, s, e)`
 * for every length-delimited field (body at [s, e)); return false from `each` to stop.
 */
function scan(buf: Buffer, start: number, end: number, each: (field: number, s: number, e: number) => boolean | void): void {
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
      while (buf[pos++]! >= 0x80);
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
function find(buf: Buffer, start: number, end: number, field: number): [number, number] | undefined {
  let r: [number, number] | undefined;
  scan(buf, start, end, (f, s, e) => {
    if (f !== field) return true;
    r = [s, e];
    return false;
  });
  return r;
}

const text = (buf: Buffer, r: [number, number] | undefined): string | undefined => (r ? buf.toString('utf8', r[0], r[1]) : undefined);

interface Envelope {
  version: string;
  typeUrl: string;
  nonce: string;
  /** Body ranges of each resource's Any.value. */
  values: [number, number][];
}

/** Parses a DiscoveryResponse, or a DeltaDiscoveryResponse (resources wrap the Any in a Resource). */
function parseResponse(buf: Buffer, delta: boolean): Envelope {
  const env: Envelope = { version: '', typeUrl: '', nonce: '', values: [] };
  scan(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) env.version = buf.toString('utf8', s, e);
    else if (f === 2) {
      const any = delta ? find(buf, s, e, 2) : ([s, e] as [number, number]);
      const v = any && find(buf, any[0], any[1], 2);
      if (v) env.values.push(v);
    } else if (f === 4) env.typeUrl = buf.toString('utf8', s, e);
    else if (f === 5) env.nonce = buf.toString('utf8', s, e);
  });
  return env;
}

/** A DeltaDiscoveryRequest: node 1, type_url 2, subscribe 3 (an encoded names block), response_nonce 6. */
function deltaRequest(typeUrl: string, nonce: string, subscribe: Buffer, node?: Buffer): Buffer[] {
  return [Buffer.concat([node ?? EMPTY, stringField(2, typeUrl)]), subscribe, stringField(6, nonce)];
}

/** The join key of a names array, computed once per array. */
const keyByArray = new WeakMap<readonly string[], string>();
function keyOf(names: readonly string[]): string {
  let k = keyByArray.get(names);
  if (k === undefined) keyByArray.set(names, (k = names.join('\n')));
  return k;
}

/** The encoded names block of a (memoized, shared) names array: built once per array. */
const blockByArray = new WeakMap<readonly string[], Buffer>();
function blockOf(names: readonly string[]): Buffer {
  let b = blockByArray.get(names);
  if (!b) blockByArray.set(names, (b = namesBlock(keyOf(names), names)));
  return b;
}

/** Resource names of an EDS/RDS response, and whether one covers a names list (memoized by response and list). */
const responseNames = new Map<string, string[]>();
const coverage = new Map<string, boolean>();

/** Names that CDS/LDS responses lead to (EDS names, RDS names), memoized by type and version. */
const followMemo = new Map<string, string[]>();

function edsNames(buf: Buffer, env: Envelope): string[] {
  // Only EDS clusters (they carry eds_cluster_config) lead to EDS names; STATIC and ORIGINAL_DST ones do not.
  return env.values
    .flatMap(([s, e]) => {
      const eds = find(buf, s, e, F.clusterEds);
      if (!eds) return [];
      return [text(buf, find(buf, eds[0], eds[1], F.edsService)) ?? text(buf, find(buf, s, e, F.clusterName))!];
    })
    .sort();
}

function rdsNames(buf: Buffer, env: Envelope): string[] {
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

/** The encoded resource_names block of a list, shared by every sidecar with the same list (memo by key). */
const namesBlocks = new Map<string, Buffer>();
function namesBlock(key: string, names: readonly string[]): Buffer {
  let b = namesBlocks.get(key);
  if (!b) namesBlocks.set(key, (b = Buffer.concat(names.map((n) => stringField(3, n)))));
  return b;
}

const EMPTY = Buffer.alloc(0);

/** A DiscoveryRequest as pieces (the shared names block is written as is, not copied). */
function request(typeUrl: string, version: string, nonce: string, names: Buffer, node?: Buffer): Buffer[] {
  return [Buffer.concat([stringField(1, version), node ?? EMPTY]), names, Buffer.concat([stringField(4, typeUrl), stringField(5, nonce)])];
}

interface TypeTrack {
  names: string[];
  key: string;
  /** Encoded names of `names` (the SotW requests repeat it; built once per list). */
  block: Buffer;
  version: string;
  nonce: string;
  acked: boolean;
  received: Set<string>;
  /** One response already carried every name in `names`. */
  complete: boolean;
}

const newTrack = (): TypeTrack => ({ names: [], key: '', block: EMPTY, version: '', nonce: '', acked: false, received: new Set(), complete: false });

/** gRPC length-prefixed message framing over a raw HTTP/2 stream (no compression). */
function frame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Reassembles gRPC messages from DATA chunks. */
class MessageReader {
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

/**
 * One simulated sidecar: its own HTTP/2 connection (raw node:http2 with gRPC framing, as
 * Envoy's own client; grpc-js channels cost more per connection than the server under test),
 * with Envoy's large flow-control windows.
 */
class Sidecar {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly t = new Map<string, TypeTrack>([
    [T.Cluster, newTrack()],
    [T.Endpoint, newTrack()],
    [T.Listener, newTrack()],
    [T.Route, newTrack()],
  ]);
  ready = false;
  responses = 0;

  constructor(address: string, index: number, private readonly delta: boolean, private readonly onReady: () => void, onError: (e: Error) => void) {
    const window = 64 * 1024 * 1024;
    this.session = http2.connect(`http://${address}`, { settings: { initialWindowSize: window } });
    this.session.on('error', onError);
    this.session.on('connect', () => this.session.setLocalWindowSize(window));
    this.stream = this.session.request({ ':method': 'POST', ':path': delta ? DELTA_PATH : SOTW_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const reader = new MessageReader((m) => this.onResponse(m));
    this.stream.on('data', (c: Buffer) => reader.push(c));
    this.stream.on('error', onError);
    const ns = index % 20;
    const pod = `app-${index}-abcde`;
    const N = messageType('envoy.config.core.v3.Node');
    const node = Buffer.from(
      N.encode(
        N.fromObject({
          id: `sidecar~10.200.${Math.floor(index / 250)}.${(index % 250) + 1}~${pod}.ns-${ns}~ns-${ns}.svc.cluster.local`,
          cluster: `app-${index}.ns-${ns}`,
          metadata: { NAMESPACE: `ns-${ns}`, WORKLOAD_NAME: `app-${index}`, LABELS: { app: `app-${index}` }, INTERCEPTION_MODE: 'REDIRECT' },
        }),
      ).finish(),
    );
    if (delta) {
      this.write(deltaRequest(T.Cluster, '', EMPTY, lenField(1, node)));
      this.write(deltaRequest(T.Listener, '', EMPTY));
    } else {
      this.write(request(T.Cluster, '', '', EMPTY, lenField(2, node)));
      this.write(request(T.Listener, '', '', EMPTY));
    }
  }

  private write(msg: Buffer | Buffer[]): void {
    if (Buffer.isBuffer(msg)) {
      this.stream.write(frame(msg));
      return;
    }
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.reduce((a, b) => a + b.length, 0), 1);
    this.stream.cork();
    this.stream.write(head);
    for (const b of msg) if (b.length > 0) this.stream.write(b);
    this.stream.uncork();
  }

  private onResponse(buf: Buffer): void {
    this.responses++;
    const env = parseResponse(buf, this.delta);
    const tr = this.t.get(env.typeUrl);
    if (!tr) return;
    tr.version = env.version;
    tr.nonce = env.nonce;
    tr.acked = true;
    let follow: { type: string; names: string[] } | undefined;
    if (env.typeUrl === T.Cluster || env.typeUrl === T.Listener) {
      // A SotW CDS/LDS version names the whole set, so the names it leads to can be memoized.
      const key = env.typeUrl + '|' + env.version + '|' + env.values.length;
      let names = followMemo.get(key);
      if (!names) followMemo.set(key, (names = env.typeUrl === T.Cluster ? edsNames(buf, env) : rdsNames(buf, env)));
      follow = { type: env.typeUrl === T.Cluster ? T.Endpoint : T.Route, names };
    } else if (!this.ready && !tr.complete) {
      // Names in a response, decoded once per distinct response (every sidecar gets the same).
      const rkey = env.typeUrl + '|' + env.version + '|' + buf.length + '|' + env.values.length;
      let got = responseNames.get(rkey);
      if (!got) {
        const field = env.typeUrl === T.Endpoint ? F.claName : F.routeName;
        responseNames.set(rkey, (got = env.values.map(([s, e]) => text(buf, find(buf, s, e, field))!)));
      }
      const ckey = rkey + '\n' + tr.key;
      let covers = coverage.get(ckey);
      if (covers === undefined) {
        const have = new Set(got);
        coverage.set(ckey, (covers = tr.names.every((n) => have.has(n))));
      }
      if (covers) tr.complete = true;
      else for (const n of got) tr.received.add(n);
    }
    if (this.delta) {
      // Delta: an ACK is just the nonce; new EDS/RDS names are subscribed incrementally.
      this.write(deltaRequest(env.typeUrl, env.nonce, EMPTY));
      if (follow) {
        const ft = this.t.get(follow.type)!;
        // The first subscription is the whole (memoized) list: its block is shared by every sidecar.
        let added: readonly string[] = follow.names;
        if (ft.names.length > 0) {
          if (keyOf(follow.names) === ft.key) added = [];
          else {
            const have = new Set(ft.names);
            added = follow.names.filter((n) => !have.has(n));
          }
        }
        if (added.length > 0) {
          ft.names = ft.names.length === 0 ? follow.names : [...ft.names, ...added];
          ft.key = keyOf(ft.names);
          ft.complete = false;
          this.write(deltaRequest(follow.type, '', added === follow.names ? blockOf(added) : namesBlock(added.join('\n'), added)));
        }
      }
    } else {
      this.write(request(env.typeUrl, env.version, env.nonce, tr.block));
      if (follow) {
        const ft = this.t.get(follow.type)!;
        if (follow.names !== ft.names) {
          const key = follow.names.join('\n');
          ft.names = follow.names;
          if (key !== ft.key) {
            ft.key = key;
            ft.complete = false;
            ft.block = namesBlock(key, follow.names);
            this.write(request(follow.type, ft.version, ft.nonce, ft.block));
          }
        }
      }
    }
    this.checkReady();
  }

  private checkReady(): void {
    if (this.ready) return;
    const c = this.t.get(T.Cluster)!;
    const l = this.t.get(T.Listener)!;
    const e = this.t.get(T.Endpoint)!;
    const r = this.t.get(T.Route)!;
    if (!c.acked || !l.acked) return;
    if (!e.complete && e.names.some((n) => !e.received.has(n))) return;
    if (!r.complete && r.names.some((n) => !r.received.has(n))) return;
    this.ready = true;
    e.received.clear();
    r.received.clear();
    this.onReady();
  }

  close(): void {
    this.stream.close();
    this.session.destroy();
  }
}

type ParentMsg =
  | { cmd: 'start'; address: string; count: number; delta: boolean }
  | { cmd: 'stop' }
  | { cmd: 'profile-start' }
  | { cmd: 'profile-stop'; file: string };

/** Stops the profiler started by `profile-start` (the bench's `--profile`). */
let stopProfile: ((file: string) => Promise<string>) | undefined;

function main(): void {
  let sidecars: Sidecar[] = [];
  let errors = 0;
  process.on('message', (m: ParentMsg) => {
    if (m.cmd === 'start') {
      const t0 = performance.now();
      let ready = 0;
      const readyAt: number[] = [];
      for (let i = 0; i < m.count; i++) {
        sidecars.push(
          new Sidecar(
            m.address,
            i,
            m.delta,
            () => {
              readyAt.push(performance.now() - t0);
              if (++ready === m.count) {
                const q = (p: number): number => Math.round(readyAt[Math.min(readyAt.length - 1, Math.floor(p * readyAt.length))]!);
                process.stderr.write(`  loadgen: ready p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)} max ${q(1)} ms\n`);
                process.send?.({ ready, ms: performance.now() - t0, errors });
              }
            },
            () => errors++,
          ),
        );
      }
    } else if (m.cmd === 'profile-start') {
      void startCpuProfile().then((stop) => (stopProfile = stop));
    } else if (m.cmd === 'profile-stop') {
      const stop = stopProfile;
      stopProfile = undefined;
      void stop?.(m.file).then((file) => process.send?.({ profiled: file }));
    } else if (m.cmd === 'stop') {
      for (const s of sidecars) s.close();
      sidecars = [];
      process.send?.({ stopped: true, errors });
      setTimeout(() => process.exit(0), 100);
    }
  });
  process.send?.({ hello: true });
}

main();

/**
 * Load generator for the xDS bench, run as one or more child processes: opens simulated
 * sidecars over ADS (SotW, or Delta with `delta`) that behave like Envoy with an Istio
 * sidecar's node — CDS and LDS wildcard, then EDS for every EDS cluster and RDS for every
 * route name seen — and ACK every response. Each sidecar has its own HTTP/2 connection; a
 * refused or broken stream is retried with Envoy's jittered exponential backoff (500 ms up
 * to 30 s). Talks to the parent over IPC (see ParentMsg / LoadgenMsg in xds-loadgens.ts):
 * start, expect (report when every affected sidecar has received a change), config (one
 * sidecar's resources by type), cpu, profile-start/-stop, stop.
 */
import * as http2 from 'node:http2';
import { messageType } from '../src/xds/protos.js';
import { ResourceType as T } from '../src/xds/resource-types.js';
import { lenField, stringField } from '../src/xds/cache/proto-wire.js';
import { DELTA_PATH, SOTW_PATH } from '../src/xds/server/service.js';
import { startCpuProfile } from './cpu-profile.js';
import { EMPTY, F, MessageReader, deltaRequest, edsNames, find, parseResponse, rdsNames, request, resourceName, varint, type Envelope } from './xds-wire.js';
import type { ConfigStats, Expectation, LoadgenMsg, ParentMsg } from './xds-loadgens.js';

/** The Istio version a sidecar announces (istiod gates features on it). */
const ISTIO_VERSION = '1.28.3';

/** The join key of a names array, computed once per array. */
const keyByArray = new WeakMap<readonly string[], string>();
function keyOf(names: readonly string[]): string {
  let k = keyByArray.get(names);
  if (k === undefined) keyByArray.set(names, (k = names.join('\n')));
  return k;
}

/** The encoded resource_names block of a list, shared by every sidecar with the same list (memo by key). */
const namesBlocks = new Map<string, Buffer>();
function namesBlock(key: string, names: readonly string[]): Buffer {
  let b = namesBlocks.get(key);
  if (!b) namesBlocks.set(key, (b = Buffer.concat(names.map((n) => stringField(3, n)))));
  return b;
}
const blockOf = (names: readonly string[]): Buffer => namesBlock(keyOf(names), names);

/** Resource names of an EDS/RDS response, and whether one covers a names list (memoized by response and list). */
const responseNames = new Map<string, string[]>();
const coverage = new Map<string, boolean>();
/** Names that CDS/LDS responses lead to (EDS names, RDS names), memoized by type, version and size. */
const followMemo = new Map<string, string[]>();

interface TypeTrack {
  names: string[];
  key: string;
  block: Buffer;
  version: string;
  nonce: string;
  acked: boolean;
  received: Set<string>;
  complete: boolean;
}
const newTrack = (): TypeTrack => ({ names: [], key: '', block: EMPTY, version: '', nonce: '', acked: false, received: new Set(), complete: false });

/** The change being waited for in this process, with who has seen it. */
interface Waiting {
  readonly x: Expectation;
  readonly marker: Buffer;
  readonly affected: Set<Sidecar>;
  readonly seen: Set<Sidecar>;
  /** Per response key: whether it carries the change (every sidecar gets the same response). */
  readonly memo: Map<string, boolean>;
  lastNs: bigint;
  responses: Record<string, number>;
  bytes: Record<string, number>;
  timer: NodeJS.Timeout;
}
let waiting: Waiting | undefined;

/** One simulated sidecar (raw node:http2 with gRPC framing, as Envoy's own client), with Envoy's large windows. */
class Sidecar {
  private session: http2.ClientHttp2Session | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private t = new Map<string, TypeTrack>();
  private attempt = 0;
  private stopped = false;
  private readonly node: Buffer;
  ready = false;
  retries = 0;
  /** Resource bytes by type and name, kept only for the sample sidecar (config per proxy). */
  config: Map<string, Map<string, number>> | undefined;

  constructor(private readonly address: string, index: number, private readonly delta: boolean, private readonly onReady: () => void, sample: boolean) {
    if (sample) this.config = new Map();
    const ns = `ns-${index % 20}`;
    const pod = `app-${index}-abcde`;
    const ip = `10.200.${Math.floor(index / 250)}.${(index % 250) + 1}`;
    const N = messageType('envoy.config.core.v3.Node');
    // As istio-agent announces a Kubernetes pod: istiod parses the id (type~ip~pod.ns~domain) and this metadata.
    const node = N.fromObject({
      id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
      cluster: `app-${index}.${ns}`,
      metadata: {
        ISTIO_VERSION,
        CLUSTER_ID: 'Kubernetes',
        NAMESPACE: ns,
        WORKLOAD_NAME: `app-${index}`,
        SERVICE_ACCOUNT: 'default',
        INSTANCE_IPS: ip,
        MESH_ID: 'cluster.local',
        LABELS: { app: `app-${index}` },
        INTERCEPTION_MODE: 'REDIRECT',
      },
    });
    this.node = Buffer.from(N.encode(node).finish());
    this.connect();
  }

  private connect(): void {
    for (const k of [T.Cluster, T.Endpoint, T.Listener, T.Route]) this.t.set(k, newTrack());
    const window = 64 * 1024 * 1024;
    const session = http2.connect(`http://${this.address}`, { settings: { initialWindowSize: window } });
    this.session = session;
    session.on('error', () => undefined);
    session.on('connect', () => session.setLocalWindowSize(window));
    const stream = session.request({ ':method': 'POST', ':path': this.delta ? DELTA_PATH : SOTW_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    this.stream = stream;
    const reader = new MessageReader((m) => this.onResponse(m));
    stream.on('data', (c: Buffer) => reader.push(c));
    stream.on('error', () => undefined);
    stream.on('close', () => this.retry(session));
    if (this.delta) {
      this.write(deltaRequest(T.Cluster, '', EMPTY, lenField(1, this.node)));
      this.write(deltaRequest(T.Listener, '', EMPTY));
    } else {
      this.write(request(T.Cluster, '', '', EMPTY, lenField(2, this.node)));
      this.write(request(T.Listener, '', '', EMPTY));
    }
  }

  /** A closed stream (refused by a throttle, or broken) reconnects after a fully jittered exponential backoff, as Envoy's gRPC mux. */
  private retry(session: http2.ClientHttp2Session): void {
    session.destroy();
    if (this.stopped || session !== this.session) return;
    this.retries++;
    const ceiling = Math.min(30_000, 500 * 2 ** this.attempt++);
    setTimeout(() => {
      if (!this.stopped) this.connect();
    }, Math.random() * ceiling);
  }

  private write(msg: Buffer[]): void {
    const s = this.stream!;
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.reduce((a, b) => a + b.length, 0), 1);
    s.cork();
    s.write(head);
    for (const b of msg) if (b.length > 0) s.write(b);
    s.uncork();
  }

  private onResponse(buf: Buffer): void {
    this.attempt = 0;
    const env = parseResponse(buf, this.delta);
    const tr = this.t.get(env.typeUrl);
    if (!tr) return;
    if (this.config) this.record(buf, env);
    if (waiting) observe(this, buf, env);
    tr.version = env.version;
    tr.nonce = env.nonce;
    tr.acked = true;
    let follow: { type: string; names: string[] } | undefined;
    if (env.typeUrl === T.Cluster || env.typeUrl === T.Listener) {
      const key = env.typeUrl + '|' + env.version + '|' + buf.length + '|' + env.values.length;
      let names = followMemo.get(key);
      if (!names) followMemo.set(key, (names = env.typeUrl === T.Cluster ? edsNames(buf, env) : rdsNames(buf, env)));
      follow = { type: env.typeUrl === T.Cluster ? T.Endpoint : T.Route, names };
    } else if (!this.ready && !tr.complete) {
      const rkey = env.typeUrl + '|' + env.version + '|' + buf.length + '|' + env.values.length;
      let got = responseNames.get(rkey);
      if (!got) responseNames.set(rkey, (got = env.values.map(([s, e]) => resourceName(buf, s, e))));
      const ckey = rkey + '\n' + tr.key;
      let covers = coverage.get(ckey);
      if (covers === undefined) {
        const have = new Set(got);
        coverage.set(ckey, (covers = tr.names.every((n) => have.has(n))));
      }
      if (covers) tr.complete = true;
      else for (const n of got) tr.received.add(n);
    }
    if (this.delta) this.ackDelta(env, follow);
    else this.ackSotw(env, tr, follow);
    this.checkReady();
  }

  private ackSotw(env: Envelope, tr: TypeTrack, follow: { type: string; names: string[] } | undefined): void {
    this.write(request(env.typeUrl, env.version, env.nonce, tr.block));
    if (!follow) return;
    const ft = this.t.get(follow.type)!;
    if (follow.names === ft.names) return;
    const key = keyOf(follow.names);
    ft.names = follow.names;
    if (key === ft.key) return;
    ft.key = key;
    ft.complete = false;
    ft.block = namesBlock(key, follow.names);
    this.write(request(follow.type, ft.version, ft.nonce, ft.block));
  }

  /** Delta: an ACK is just the nonce; new EDS/RDS names are subscribed incrementally. */
  private ackDelta(env: Envelope, follow: { type: string; names: string[] } | undefined): void {
    this.write(deltaRequest(env.typeUrl, env.nonce, EMPTY));
    if (!follow) return;
    const ft = this.t.get(follow.type)!;
    let added: readonly string[] = follow.names;
    if (ft.names.length > 0) {
      if (keyOf(follow.names) === ft.key) added = [];
      else {
        const have = new Set(ft.names);
        added = follow.names.filter((n) => !have.has(n));
      }
    }
    if (added.length === 0) return;
    ft.names = ft.names.length === 0 ? follow.names : [...ft.names, ...added];
    ft.key = keyOf(ft.names);
    ft.complete = false;
    this.write(deltaRequest(follow.type, '', added === follow.names ? blockOf(added) : namesBlock(added.join('\n'), added)));
  }

  /** Envoy's view: SotW CDS/LDS replace the set; EDS/RDS responses (and every Delta one) update by name. */
  private record(buf: Buffer, env: Envelope): void {
    let m = this.config!.get(env.typeUrl);
    const replace = !this.delta && (env.typeUrl === T.Cluster || env.typeUrl === T.Listener);
    if (!m || replace) this.config!.set(env.typeUrl, (m = new Map()));
    for (const [s, e] of env.values) m.set(resourceName(buf, s, e), e - s);
    for (const n of env.removed) m.delete(n);
  }

  /** Whether this sidecar has subscribed to EDS name `name`. */
  subscribes(name: string): boolean {
    const e = this.t.get(T.Endpoint)!;
    return e.names.includes(name);
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
    this.stopped = true;
    this.stream?.close();
    this.session?.destroy();
  }
}

/** Whether a response carries the awaited change (for the resource named in the expectation). */
function carries(buf: Buffer, env: Envelope, w: Waiting): boolean {
  const want = w.x.kind === 'endpoints' ? T.Endpoint : T.Cluster;
  if (env.typeUrl !== want) return false;
  const key = env.version + '|' + buf.length + '|' + env.values.length;
  const hit = w.memo.get(key);
  if (hit !== undefined) return hit;
  let found = false;
  for (const [s, e] of env.values) {
    if (resourceName(buf, s, e) !== w.x.cluster) continue;
    if (w.x.kind === 'endpoints') found = buf.subarray(s, e).includes(w.marker);
    else if (w.x.kind === 'cluster') {
      const d = find(buf, s, e, F.clusterConnectTimeout);
      found = d !== undefined && varint(buf, d[0], d[1], F.durationSeconds) === w.x.connectTimeoutS;
    } else found = true;
    break;
  }
  w.memo.set(key, found);
  return found;
}

function observe(sc: Sidecar, buf: Buffer, env: Envelope): void {
  const w = waiting!;
  w.responses[env.typeUrl] = (w.responses[env.typeUrl] ?? 0) + 1;
  w.bytes[env.typeUrl] = (w.bytes[env.typeUrl] ?? 0) + buf.length;
  if (!w.affected.has(sc) || w.seen.has(sc) || !carries(buf, env, w)) return;
  w.seen.add(sc);
  w.lastNs = process.hrtime.bigint();
  if (w.seen.size === w.affected.size) finish(true);
}

function finish(done: boolean): void {
  const w = waiting;
  if (!w) return;
  waiting = undefined;
  clearTimeout(w.timer);
  send({ expected: w.x.id, done, seen: w.seen.size, affected: w.affected.size, lastNs: w.lastNs.toString(), responses: w.responses, bytes: w.bytes });
}

const send = (m: LoadgenMsg): void => void process.send?.(m);

function configStats(sc: Sidecar | undefined): ConfigStats {
  const out: ConfigStats = {};
  for (const [type, m] of sc?.config ?? []) {
    let bytes = 0;
    for (const b of m.values()) bytes += b;
    out[type] = { count: m.size, bytes, names: [...m.keys()].sort() };
  }
  return out;
}

/** Stops the profiler started by `profile-start` (the bench's `--profile`). */
let stopProfile: ((file: string) => Promise<string>) | undefined;

function main(): void {
  let sidecars: Sidecar[] = [];
  process.on('message', (m: ParentMsg) => {
    if (m.cmd === 'start') {
      const t0 = performance.now();
      let ready = 0;
      const readyAt: number[] = [];
      for (let i = 0; i < m.count; i++) {
        const onReady = (): void => {
          readyAt.push(performance.now() - t0);
          if (++ready < m.count) return;
          const q = (p: number): number => Math.round(readyAt[Math.min(readyAt.length - 1, Math.floor(p * readyAt.length))]!);
          const retries = sidecars.reduce((a, s) => a + s.retries, 0);
          send({ ready, ms: performance.now() - t0, retries, spread: `p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)} max ${q(1)} ms` });
        };
        sidecars.push(new Sidecar(m.address, m.first + i, m.delta, onReady, i === 0));
      }
    } else if (m.cmd === 'expect') {
      finish(false);
      const x = m.expect;
      const affected = new Set(x.kind === 'endpoints' ? sidecars.filter((s) => s.ready && s.subscribes(x.cluster)) : sidecars.filter((s) => s.ready));
      waiting = {
        x,
        marker: x.kind === 'endpoints' ? stringField(F.socketAddress, x.newAddress) : EMPTY,
        affected,
        seen: new Set(),
        memo: new Map(),
        lastNs: 0n,
        responses: {},
        bytes: {},
        timer: setTimeout(() => finish(false), x.timeoutMs),
      };
      send({ expecting: x.id, affected: affected.size });
      if (affected.size === 0) finish(true);
    } else if (m.cmd === 'config') {
      send({ config: configStats(sidecars[0]), retries: sidecars.reduce((a, s) => a + s.retries, 0) });
    } else if (m.cmd === 'status') {
      send({ status: { ready: sidecars.filter((s) => s.ready).length, sidecars: sidecars.length } });
    } else if (m.cmd === 'cpu') {
      const c = process.cpuUsage();
      send({ cpu: (c.user + c.system) / 1e6 });
    } else if (m.cmd === 'profile-start') {
      void startCpuProfile().then((stop) => (stopProfile = stop));
    } else if (m.cmd === 'profile-stop') {
      const stop = stopProfile;
      stopProfile = undefined;
      void stop?.(m.file).then((file) => send({ profiled: file }));
    } else if (m.cmd === 'stop') {
      for (const s of sidecars) s.close();
      sidecars = [];
      send({ stopped: true });
      setTimeout(() => process.exit(0), 100);
    }
  });
  // The bench gone (killed, crashed): end too, never left running.
  process.on('disconnect', () => process.exit(0));
  send({ hello: true });
}

main();

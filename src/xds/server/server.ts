/**
 * The ADS server: registers the service on a grpc.Server, owns the resource cache, and
 * exposes the narrow seam to the rest of meshd (`push`, `connectedProxies`, `syncStatus`,
 * `rejections`, `close`). It knows nothing of Istio.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server as NetServer } from 'node:net';
import { SHORT_NAME, type ResourceTypeUrl } from '../resource-types.js';
import { ConsistencyChecker } from '../cache/consistency.js';
import { ResourceCache } from '../cache/resource-cache.js';
import { createXdsMetrics, type XdsMetrics } from './metrics.js';
import { adsServiceDefinition, cdsServiceDefinition, type AdsServiceDefinition } from './service.js';
import { ON_DEMAND_STREAM_METADATA } from '../names.js';
import { AdsStream, type AdsCall } from './stream.js';
import { sessionOf, tuneAdsSession } from './http2-tuning.js';
import type { StreamHost } from './stream-host.js';
import { DEFAULT_XDS_LIMITS, limitMessage, type XdsLimits } from './limits.js';
import { NamePool } from './name-pool.js';
import { ConnectionGuard } from './connection-guard.js';
import type {
  AuthContext,
  AuthResult,
  ConnectedProxy,
  GeneratedResources,
  Logger,
  ProxySyncStatus,
  PushOutcome,
  Rejection,
  XdsCounters,
  XdsServerOptions,
} from './types.js';

const REJECTIONS_KEPT = 200;

/** HTTP/2 keepalive and size options for a grpc.Server that carries ADS (with the default limits; see adsServerOptions). */
export const ADS_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.max_send_message_length': -1,
  // channelz bookkeeping per call and socket costs CPU at thousands of streams; meshd has its own metrics.
  'grpc.enable_channelz': 0,
};

/**
 * ADS_SERVER_OPTIONS with the limits applied: grpc-js refuses a request over twice
 * `maxRequestBytes` before reading it (the stream names the limit for anything above
 * `maxRequestBytes`), and closes a connection that has had no call for `idleConnectionTimeoutMs`.
 */
export function adsServerOptions(limits: Partial<XdsLimits> = {}): grpc.ServerOptions {
  const l = { ...DEFAULT_XDS_LIMITS, ...limits };
  return { ...ADS_SERVER_OPTIONS, 'grpc.max_receive_message_length': 2 * l.maxRequestBytes, 'grpc.max_connection_idle_ms': l.idleConnectionTimeoutMs };
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

type MutableCounters = { -readonly [K in keyof XdsCounters]: number };

export class XdsServer {
  readonly cache = new ResourceCache();
  readonly metrics: XdsMetrics;
  private readonly checker: ConsistencyChecker;
  private readonly streams = new Set<AdsStream>();
  private readonly rejected: Rejection[] = [];
  private readonly counters: MutableCounters = { staleNonces: 0, unknownTypes: 0, malformed: 0, nacks: 0, responses: 0, inconsistent: 0 };
  readonly limits: XdsLimits;
  readonly names: NamePool;
  /** Connections per source address and silent connections, for the sockets `listen`/`serve` accept. */
  readonly connections: ConnectionGuard;
  private readonly streamsPerSession = new WeakMap<object, number>();
  private readonly sweep: NodeJS.Timeout;
  private readonly subscriptionPool = new Map<string, ReadonlySet<string>>();
  private subscriptionPoolChars = 0;
  private seq = 0;
  private nextConnection = 0;
  private grpcServer: grpc.Server | undefined;
  private readonly listeners: { listener: NetServer; injector: grpc.ConnectionInjector }[] = [];
  private readonly host: StreamHost;

  constructor(private readonly opts: XdsServerOptions) {
    this.limits = { ...DEFAULT_XDS_LIMITS, ...opts.limits };
    this.names = new NamePool(this.limits.namePoolBytes);
    this.metrics = createXdsMetrics(opts.registry, () => this.names.bytes);
    this.checker = new ConsistencyChecker(this.cache);
    const log = opts.logger ?? silent;
    this.connections = new ConnectionGuard(this.limits, log, (l) => this.metrics.limitExceeded.inc({ limit: l }));
    // Streams whose client stopped reading are dropped here (write timeout, pending bytes).
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const st of this.streams) st.checkPending(now);
    }, Math.min(1000, Math.max(50, this.limits.writeTimeoutMs / 4)));
    this.sweep.unref();
    this.host = {
      cache: this.cache,
      checker: this.checker,
      log,
      ackTimeoutMs: opts.ackTimeoutMs ?? 5000,
      controlPlaneId: opts.controlPlaneId,
      authenticate: opts.authenticate ? (ctx: AuthContext): Promise<AuthResult> | AuthResult => opts.authenticate!(ctx) : undefined,
      generate: (p: ConnectedProxy): Promise<GeneratedResources> | GeneratedResources => opts.generate(p),
      pushSeq: () => this.seq,
      count: (c, reason) => {
        this.counters[c]++;
        this.metrics.protocolErrors.inc({ reason });
      },
      names: this.names,
      limits: this.limits,
      limitHit: (l) => this.metrics.limitExceeded.inc({ limit: l }),
      sharedSubscription: (typeUrl, names, intern) => {
        const key = `${typeUrl}\n${names.join('\n')}`;
        let hit = this.subscriptionPool.get(key);
        if (!hit) {
          hit = new Set(names.map(intern));
          // Bounded by key bytes: streams keep their own reference, so clearing only loses sharing.
          if (this.subscriptionPoolChars + key.length > 8 * 1024 * 1024) {
            this.subscriptionPool.clear();
            this.subscriptionPoolChars = 0;
          }
          this.subscriptionPool.set(key, hit);
          this.subscriptionPoolChars += key.length;
        }
        return hit;
      },
      recordRejection: (r) => {
        this.counters.nacks++;
        this.metrics.nacks.inc({ type: SHORT_NAME[r.typeUrl as ResourceTypeUrl] ?? r.typeUrl });
        this.rejected.push(r);
        if (this.rejected.length > REJECTIONS_KEPT) this.rejected.shift();
      },
      onResponse: (t, bytes, queuedMs) => {
        this.counters.responses++;
        const type = SHORT_NAME[t];
        this.metrics.pushes.inc({ type });
        this.metrics.configSize.observe({ type }, bytes);
        this.metrics.queueTime.observe({ type }, queuedMs / 1000);
      },
      onDemandRequested: (p, names, found) => {
        for (const f of found) this.metrics.onDemand.inc({ result: f ? 'found' : 'not_found' });
        opts.onDemandRequested?.(p, names, found);
      },
      onReady: (s) => {
        this.streams.add(s);
        this.metrics.connected.inc({ protocol: s.protocol });
      },
      onClose: (s) => {
        if (this.streams.delete(s)) {
          this.metrics.connected.dec({ protocol: s.protocol });
          if (s.proxy) opts.onDisconnect?.(s.proxy);
        }
      },
    };
  }

  /** Adds the ADS service to a grpc.Server (create it with ADS_SERVER_OPTIONS). */
  addTo(server: grpc.Server): void {
    const open = (protocol: 'sotw' | 'delta', odcds = false) => (call: AdsCall) => {
      tuneAdsSession(call);
      // ODCDS: Envoy's on-demand CDS stream (its own Delta CDS call, or ADS marked by metadata).
      const onDemand = odcds || call.metadata?.get(ON_DEMAND_STREAM_METADATA.key)[0] === ON_DEMAND_STREAM_METADATA.value;
      const stream = new AdsStream(this.host, call, protocol, `${onDemand ? 'odcds' : protocol}-${++this.nextConnection}`, onDemand);
      const over = this.connections.overLimit(call);
      if (over) return stream.exceeded('connections_per_address', over, true);
      const session = sessionOf(call);
      if (!session) return;
      const n = (this.streamsPerSession.get(session) ?? 0) + 1;
      const max = this.limits.maxStreamsPerConnection;
      if (n > max) return stream.exceeded('streams_per_connection', `more than ${max} ADS streams on one connection`);
      this.streamsPerSession.set(session, n);
      call.once('close', () => this.streamsPerSession.set(session, (this.streamsPerSession.get(session) ?? 1) - 1));
    };
    // Envoy's own Delta CDS service, for the on-demand stream (ODCDS), then ADS.
    server.addService(cdsServiceDefinition as unknown as AdsServiceDefinition, { DeltaClusters: open('delta', true) });
    server.addService(adsServiceDefinition as unknown as AdsServiceDefinition, {
      StreamAggregatedResources: open('sotw'),
      DeltaAggregatedResources: open('delta'),
    });
  }

  /**
   * Starts a grpc.Server of its own on `host:port` (`127.0.0.1:0` for any port); returns the
   * port. The listening socket is our own `net.Server` with a deep accept backlog (grpc-js
   * listens with Node's default 511, so a reconnect storm of a thousand sidecars overflows
   * it and costs them 1–3 s SYN retransmits), its connections handed to grpc-js.
   */
  async listen(address: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(), backlog = 4096): Promise<number> {
    const server = new grpc.Server(adsServerOptions(this.limits));
    this.addTo(server);
    this.grpcServer = server;
    return this.serve(server, address, credentials, backlog);
  }

  /**
   * Accepts connections for `server` (ADS added with `addTo`, and any other service) on
   * `host:port` through our own listening socket: deep backlog, connections per source
   * address counted, silent connections closed. Returns the port.
   */
  async serve(server: grpc.Server, address: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(), backlog = 4096): Promise<number> {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
    if (!m) throw new Error(`listen address must be host:port, got ${address}`);
    const injector = server.createConnectionInjector(credentials);
    const listener = createServer({ noDelay: true }, (socket) => {
      this.connections.accept(socket);
      injector.injectConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host: m[1], port: Number(m[2]), backlog }, () => resolve());
    });
    this.listeners.push({ listener, injector });
    const addr = listener.address();
    return typeof addr === 'object' && addr ? addr.port : Number(m[2]);
  }

  /**
   * Regenerates the proxies `filter` selects (all when absent) and sends each only what
   * changed. Resolves when every affected proxy has answered (ACK or NACK) or the
   * convergence timeout passed; the time is observed as `meshd_xds_convergence_seconds`.
   */
  async push(filter?: (proxy: ConnectedProxy) => boolean): Promise<PushOutcome> {
    const seq = ++this.seq;
    const t0 = performance.now();
    const affected = [...this.streams].filter((s) => s.ready && s.proxy && (!filter || filter(s.proxy)));
    const taken: AdsStream[] = [];
    await Promise.all(
      affected.map(async (s) => {
        try {
          const gen = await this.opts.generate(s.proxy!);
          if (s.setResources(gen, seq)) taken.push(s);
        } catch (e: unknown) {
          s.lastError = `generate failed: ${e instanceof Error ? e.message : String(e)}`;
          this.host.log.error('xds: generate failed on push', { node: s.proxy?.info.id, error: s.lastError });
        }
      }),
    );
    this.metrics.pushDuration.observe((performance.now() - t0) / 1000);
    const timeoutMs = this.opts.convergenceTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const all = Promise.all(taken.map((s) => s.waitGen(seq))).then((r) => r.every(Boolean));
    const converged = await Promise.race([all, timeout]);
    clearTimeout(timer);
    const ms = performance.now() - t0;
    if (converged) this.metrics.convergence.observe(ms / 1000);
    return { proxies: affected.length, converged, ms };
  }

  /**
   * Withdraws `names` from the on-demand CDS streams `filter` selects (Envoy removes those
   * clusters). Envoy keeps a withdrawn name subscribed and does not ask for it again, so its
   * next use waits out the on-demand timeout: learned scoping pins such clusters instead.
   */
  revokeOnDemand(filter: (proxy: ConnectedProxy) => boolean, names: readonly string[]): void {
    for (const s of this.streams) if (s.proxy?.onDemand && filter(s.proxy)) s.revoke(names);
  }

  /** Streams that passed authentication and got their first resources. */
  connectedProxies(): ConnectedProxy[] {
    return [...this.streams].flatMap((s) => (s.proxy ? [s.proxy] : []));
  }

  /** Per stream and type: sent version/nonce, acked version, last NACK; sorted by proxy id. */
  syncStatus(): ProxySyncStatus[] {
    return [...this.streams].map((s) => s.syncStatus()).sort((a, b) => a.proxyId.localeCompare(b.proxyId) || a.connectionId.localeCompare(b.connectionId));
  }

  /** The latest NACKs (oldest first, at most 200), for the admin endpoint. */
  rejections(): readonly Rejection[] {
    return [...this.rejected];
  }

  /** Protocol event counters (stale nonces, unknown types, malformed requests, ...). */
  counts(): XdsCounters {
    return { ...this.counters };
  }

  /** Ends every stream and, when `listen` started one, the grpc.Server. */
  async close(): Promise<void> {
    for (const s of [...this.streams]) s.fail(grpc.status.UNAVAILABLE, 'server shutting down');
    const server = this.grpcServer;
    this.grpcServer = undefined;
    clearInterval(this.sweep);
    for (const l of this.listeners.splice(0)) {
      l.listener.close();
      l.injector.destroy();
    }
    this.connections.close();
    if (server) {
      // A client that never reads keeps its stream open; do not wait for it forever.
      await Promise.race([new Promise<void>((resolve) => server.tryShutdown(() => resolve())), new Promise((r) => setTimeout(r, 1000))]);
      server.forceShutdown();
    }
  }
}

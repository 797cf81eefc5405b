/**
 * One ADS stream (SotW or Delta). Requests update per-type state synchronously; a single
 * pump per stream sends responses in PUSH_ORDER, one message in flight at a time. A type
 * waits while an earlier (or the same) type awaits its ACK, up to `ackTimeoutMs`, except
 * that EDS does not wait for CDS (Envoy ACKs CDS only once its clusters warmed). Because
 * responses are planned from the latest resources when they are written, pushes that
 * arrive while the stream is slow coalesce (latest state wins) and memory stays bounded.
 */
import * as grpc from '@grpc/grpc-js';
import { PUSH_ORDER, ResourceType, SHORT_NAME, isResourceTypeUrl, type ResourceTypeUrl } from '../resource-types.js';
import type { Chunk } from '../cache/resource-cache.js';
import { deltaResponsePieces, responsePieces, sotwResponsePieces, type ResponsePieces } from '../cache/responses.js';
import { nodeInfoOf, proxyInfoOf } from './node.js';
import { decodeSotwRequest, type Decoded, type DeltaRequest, type ErrorDetail, type SotwRequest } from './service.js';
import { TypeState, WILDCARD, planDelta, planSotw, type Plan } from './type-state.js';
import type { SharedNames, StreamHost } from './stream-host.js';
import { RateBucket, limitMessage, type LimitName } from './limits.js';
import { countNames } from './name-pool.js';
import type { ConnectedProxy, GeneratedResources, ProxySyncStatus, TypeSyncStatus } from './types.js';

type Protocol = 'sotw' | 'delta';
type AnyRequest = SotwRequest | DeltaRequest;
/** SotW requests arrive as bytes (decoded here, with this stream's hints); Delta ones decoded. */
type Incoming = Buffer | Decoded<DeltaRequest>;
/** The grpc-js call of an ADS stream, as the service definition in service.ts shapes it. */
export type AdsCall = grpc.ServerDuplexStream<Incoming, ResponsePieces>;

const NO_CHUNKS: readonly Chunk[] = [];
const NO_NAMES: ReadonlySet<string> = new Set();

export class AdsStream {
  proxy: ConnectedProxy | undefined;
  lastError: string | undefined;
  private readonly types = new Map<ResourceTypeUrl, TypeState>();
  private current: GeneratedResources = {};
  private resSeq = -1;
  /** When the current resources were set (performance.now()), for the queue-time metric. */
  private resAt = 0;
  private wantGen = 0;
  private doneGen = 0;
  private waiters: { gen: number; resolve: (ok: boolean) => void }[] = [];
  private nonce = 0;
  private queue: AnyRequest[] | undefined = [];
  private closed = false;
  private wake: (() => void) | undefined;
  /** Resolves the write in flight (one at a time). */
  private writeDone: (() => void) | undefined;
  /** SotW: the names regions last seen per type, to recognise a repeated list cheaply. */
  private hints: Buffer[] = [];
  /** SotW: the pooled names list each type holds (released on change and on close). */
  private readonly lists = new Map<ResourceTypeUrl, SharedNames>();
  private readonly bucket: RateBucket;
  private firstRequestTimer: NodeJS.Timeout | undefined;
  /** The response handed to grpc-js and not yet taken by the client: its size and since when. */
  private inFlightBytes = 0;
  private inFlightSince = 0;

  constructor(
    private readonly host: StreamHost,
    private readonly call: AdsCall,
    readonly protocol: Protocol,
    readonly connectionId: string,
    /** ODCDS stream: named clusters only, missing ones answered as removed. */
    readonly onDemand = false,
  ) {
    const limits = host.limits;
    this.bucket = new RateBucket(limits.maxRequestsPerSecond, limits.maxRequestsPerSecond * 10, Date.now());
    this.firstRequestTimer = setTimeout(() => this.exceeded('first_request_timeout', `no request within ${limits.firstRequestTimeoutMs} ms of opening the stream`), limits.firstRequestTimeoutMs);
    this.firstRequestTimer.unref();
    call.on('data', (d: Incoming) => {
      const size = Buffer.isBuffer(d) ? d.length : (d.size ?? 0);
      if (size > limits.maxRequestBytes) return this.exceeded('request_bytes', `request of ${size} bytes, more than ${limits.maxRequestBytes}`);
      this.onData(Buffer.isBuffer(d) ? decodeSotwRequest(d, this.hints) : d);
    });
    call.on('end', () => this.close());
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
  }

  get ready(): boolean {
    return this.proxy !== undefined && this.queue === undefined && !this.closed;
  }

  private onData(d: Decoded<AnyRequest>): void {
    if (this.closed) return;
    if (this.firstRequestTimer) {
      clearTimeout(this.firstRequestTimer);
      this.firstRequestTimer = undefined;
    }
    if (!this.bucket.take(Date.now())) {
      const r = this.host.limits.maxRequestsPerSecond;
      return this.exceeded('requests_per_second', `more than ${r} requests per second on one stream (a burst of ${r * 10})`);
    }
    if (!d.ok) {
      this.host.count('malformed', 'malformed');
      this.host.log.warn('xds: malformed request, ending stream', { connection: this.connectionId, error: d.error });
      this.fail(grpc.status.INVALID_ARGUMENT, d.error);
      return;
    }
    if (this.queue) {
      this.queue.push(d.req);
      if (this.queue.length === 1 && !this.proxy) {
        this.init(d.req).catch((e: unknown) => this.fail(grpc.status.INTERNAL, `stream set-up failed: ${e instanceof Error ? e.message : String(e)}`));
      }
      return;
    }
    this.handle(d.req);
  }

  /** Ends the stream with RESOURCE_EXHAUSTED naming the limit; counted (unless `counted` already) and logged. */
  exceeded(limit: LimitName, detail: string, counted = false): void {
    if (this.closed) return;
    if (!counted) this.host.limitHit(limit);
    this.host.log.warn('xds: client over a limit, stream ended', { node: this.proxy?.info.id, peer: this.call.getPeer(), connection: this.connectionId, limit, detail });
    this.fail(grpc.status.RESOURCE_EXHAUSTED, limitMessage(limit, detail));
  }

  /** Ends the stream with a status (the client sees `code` and `message`). */
  fail(code: grpc.status, message: string): void {
    if (this.closed) return;
    this.call.emit('error', { code, details: message });
    this.close();
  }

  private async init(first: AnyRequest): Promise<void> {
    const node = nodeInfoOf(typeof first.node === 'function' ? first.node() : first.node);
    if (!node) return this.fail(grpc.status.INVALID_ARGUMENT, 'the first request must carry a node with an id');
    const peer = this.call.getPeer();
    const pi = proxyInfoOf(node, peer);
    if (!pi.ok) return this.fail(grpc.status.INVALID_ARGUMENT, pi.error);
    let identity;
    if (this.host.authenticate) {
      try {
        const res = await this.host.authenticate({
          metadata: this.call.metadata,
          peerCertificate: this.call.getAuthContext()?.sslPeerCertificate,
          node,
          peer,
        });
        if (!res.ok) {
          this.host.log.warn('xds: authentication failed', { node: node.id, message: res.message });
          return this.fail(res.code, res.message);
        }
        identity = res.identity;
      } catch (e: unknown) {
        this.host.log.error('xds: authenticate threw', { node: node.id, error: String(e) });
        return this.fail(grpc.status.UNAVAILABLE, 'authentication error');
      }
    }
    if (this.closed) return;
    this.proxy = { connectionId: this.connectionId, info: pi.info, identity, node, protocol: this.protocol, peer, connectedAt: Date.now(), ...(this.onDemand ? { onDemand: true } : {}) };
    for (let attempt = 0; attempt < 3; attempt++) {
      const seq = this.host.pushSeq();
      try {
        const gen = await this.host.generate(this.proxy);
        this.setResources(gen, seq);
      } catch (e: unknown) {
        this.lastError = `generate failed: ${e instanceof Error ? e.message : String(e)}`;
        this.host.log.error('xds: generate failed', { node: node.id, error: this.lastError });
        return this.fail(grpc.status.UNAVAILABLE, 'resource generation failed');
      }
      if (this.closed) return;
      if (this.host.pushSeq() === seq) break;
    }
    const queued = this.queue ?? [];
    this.queue = undefined;
    this.host.onReady(this);
    for (const r of queued) this.handle(r);
    void this.pump();
  }

  /**
   * Replaces this stream's resources unless a newer push already did; an inconsistent set
   * is refused (kept out of the stream) and recorded. Returns whether it was taken.
   */
  setResources(gen: GeneratedResources, seq: number): boolean {
    if (seq < this.resSeq) return false;
    this.resSeq = seq;
    const problems = this.host.checker.check(gen);
    if (problems.length > 0) {
      this.lastError = `inconsistent resources, not sent: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`;
      this.host.count('inconsistent', 'inconsistent');
      this.host.log.warn('xds: inconsistent resources, not sent', { node: this.proxy?.info.id, problems: problems.slice(0, 5) });
      return false;
    }
    this.lastError = undefined;
    this.current = gen;
    this.resAt = performance.now();
    this.wantGen = Math.max(this.wantGen, seq);
    this.signal();
    return true;
  }

  /** On-demand streams: withdraws clusters (sent as removed); a later request for one is served again. */
  revoke(names: readonly string[]): void {
    if (!this.onDemand || this.closed) return;
    this.state(ResourceType.Cluster).revoke(names);
    this.signal();
  }

  /** Resolves true once every response planned for push `seq` (or later) was answered. */
  waitGen(seq: number): Promise<boolean> {
    if (this.doneGen >= seq) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => this.waiters.push({ gen: seq, resolve }));
  }

  private state(t: ResourceTypeUrl): TypeState {
    let st = this.types.get(t);
    if (!st) {
      // Keyed by our own constant, not the request's copy of the string: the pump looks
      // types up by PUSH_ORDER on every wake, and identical string objects compare at once.
      const key = PUSH_ORDER.find((x) => x === t) ?? t;
      this.types.set(key, (st = new TypeState(key)));
    }
    return st;
  }

  private intern(t: ResourceTypeUrl): (n: string) => string {
    const chunks = this.current[t] ?? NO_CHUNKS;
    return (n) => this.host.cache.lookup(t, chunks, n)?.name ?? n;
  }

  private handle(req: AnyRequest): void {
    const t = req.typeUrl;
    if (!isResourceTypeUrl(t)) {
      this.host.count('unknownTypes', 'unknown_type');
      this.host.log.warn('xds: request for an unknown type URL ignored', { node: this.proxy?.info.id, typeUrl: t });
      return;
    }
    if (this.onDemand && (t !== ResourceType.Cluster || 'namesBytes' in req)) {
      this.host.count('unknownTypes', 'on_demand_type');
      this.host.log.warn('xds: on-demand stream serves named clusters over Delta only; request ignored', { node: this.proxy?.info.id, typeUrl: t });
      return;
    }
    const st = this.state(t);
    let stale = false;
    if (req.responseNonce !== '') {
      if (req.responseNonce !== st.sentNonce) {
        stale = true;
        this.host.count('staleNonces', 'stale_nonce');
        this.host.log.debug('xds: stale or unknown nonce ignored', { node: this.proxy?.info.id, type: SHORT_NAME[t], nonce: req.responseNonce });
      } else if (req.errorDetail) {
        this.onNack(st, req.errorDetail);
      } else {
        st.ackedVersion = 'versionInfo' in req ? req.versionInfo : st.sentVersion;
        st.awaitingAck = false;
      }
    }
    if ('namesBytes' in req) {
      // SotW: a stale request is ignored whole; the next one repeats the full subscription.
      if (stale) return;
      const reset = req.responseNonce === '' && st.requested;
      // An ACK repeats the list byte for byte: the decoder hands back our own region for it
      // (one memcmp there), so the list is neither decoded nor hashed again.
      const same = st.namesBytes !== undefined && (st.namesBytes === req.namesBytes || st.namesBytes.equals(req.namesBytes));
      if (!st.requested || reset || !same) {
        const max = this.host.limits.maxNamesPerSubscription;
        const n = countNames(req.namesBytes);
        if (n > max) return this.exceeded('names_per_subscription', `${n} resource names for ${SHORT_NAME[t]} in one request, more than ${max}`);
        const list = this.host.names.acquire(req);
        const prev = this.lists.get(t);
        this.lists.set(t, list);
        if (prev) this.host.names.release(prev);
        st.replaceWith(list.names, list.star);
        if (st.namesBytes !== list.bytes) {
          st.namesBytes = list.bytes;
          this.hints = [...this.types.values()].flatMap((x) => (x.namesBytes && x.namesBytes.length > 0 ? [x.namesBytes] : []));
        }
      }
      if (reset) st.base = undefined;
      st.requested = true;
    } else {
      // Delta: subscription changes apply even with a stale nonce (they are not repeated).
      let subscribed = false;
      if (!st.requested && this.onDemand) {
        st.requested = true;
        st.replaceWith(NO_NAMES, false);
      } else if (!st.requested) {
        st.requested = true;
        if (req.initialVersions.size > 0) st.initialVersions = req.initialVersions;
        if (req.subscribe.length === 0) st.replaceWith(NO_NAMES, false);
        else if (!req.subscribe.includes(WILDCARD)) {
          // A first list of names (1,000 EDS names per sidecar) is the same for many streams: share its Set.
          st.replaceWith(this.host.sharedSubscription(t, req.subscribe, this.intern(t)), false);
          subscribed = true;
        }
      }
      if (this.onDemand) {
        // Named clusters only: a wildcard here would hand out the whole mesh past the scope's point.
        const added = [...new Set(req.subscribe.filter((n) => n !== WILDCARD && !st.names.has(n)))];
        this.host.log.debug('xds: on-demand request', { node: this.proxy?.info.id, subscribe: req.subscribe.length, unsubscribe: req.unsubscribe.length, added: added.length, nonce: req.responseNonce });
        st.resend(req.subscribe);
        st.subscribe(added, this.intern(t));
        st.unsubscribe(req.unsubscribe);
        st.wildcard = false;
        st.newWildcard = false;
        const cap = this.host.limits.maxOnDemandNames;
        if (st.names.size > cap) return this.exceeded('on_demand_names', `${st.names.size} clusters asked for on demand, more than ${cap}`);
        if (added.length > 0 && this.proxy) {
          const cur = this.current[t] ?? NO_CHUNKS;
          this.host.onDemandRequested(this.proxy, added, added.map((n) => this.host.cache.lookup(t, cur, n) !== undefined));
        }
      } else if (!subscribed) st.subscribe(req.subscribe, this.intern(t));
      if (!this.onDemand) st.unsubscribe(req.unsubscribe);
      const max = this.host.limits.maxNamesPerSubscription;
      if (st.names.size > max) return this.exceeded('names_per_subscription', `${st.names.size} resource names subscribed for ${SHORT_NAME[t]}, more than ${max}`);
    }
    this.afterRequest();
  }

  /**
   * Wakes the pump only when a response may be due; a plain ACK that leaves nothing to send
   * settles the waiting pushes here (the common case: one per proxy per push).
   */
  private afterRequest(): void {
    if (this.anyPending()) this.signal();
    else if (!this.anyAwaiting()) this.settle();
  }

  private onNack(st: TypeState, err: ErrorDetail): void {
    const rejection = {
      proxyId: this.proxy?.info.id ?? '',
      connectionId: this.connectionId,
      typeUrl: st.typeUrl,
      version: st.sentVersion ?? '',
      nonce: st.sentNonce ?? '',
      message: err.message,
      time: new Date().toISOString(),
    };
    st.lastNack = rejection;
    st.awaitingAck = false;
    // The proxy keeps its last good config; re-send everything only with the next new version.
    st.forceFull = true;
    this.host.recordRejection(rejection);
    this.host.log.warn('xds: NACK', { node: rejection.proxyId, type: SHORT_NAME[st.typeUrl], version: rejection.version, message: err.message });
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => this.signal(), Math.max(1, ms)) : undefined;
      this.wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    });
  }

  private async pump(): Promise<void> {
    const ackTimeout = this.host.ackTimeoutMs;
    while (!this.closed) {
      const now = Date.now();
      let blocked = false;
      /**
       * CDS awaits its ACK: EDS may still go. Envoy holds the CDS ACK while a cluster warms,
       * and an EDS cluster warms until its endpoints come; listeners and routes still wait.
       */
      let cdsUnacked = false;
      let awaiting = false;
      let deadline = Infinity;
      let plan: Plan | undefined;
      let planState: TypeState | undefined;
      /** Something is due but held back by an unanswered response: wake at the ACK deadline. */
      let waitingOnAck = false;
      for (const t of PUSH_ORDER) {
        const st = this.types.get(t);
        if (!st) continue;
        const cur = this.current[t] ?? NO_CHUNKS;
        if (st.awaitingAck) {
          awaiting = true;
          const d = st.sentAt + ackTimeout;
          if (now < d) {
            if (t === ResourceType.Cluster) cdsUnacked = true;
            else blocked = true;
            deadline = Math.min(deadline, d);
          }
        }
        if (!st.pending(cur)) continue;
        if (blocked || (cdsUnacked && t !== ResourceType.Endpoint)) {
          waitingOnAck = true;
          break;
        }
        const changedClusters = t === ResourceType.Cluster && st.base !== undefined ? this.host.cache.diff(t, st.base, cur).changed : undefined;
        plan = this.protocol === 'sotw' ? planSotw(this.host.cache, st, cur) : planDelta(this.host.cache, st, cur, this.onDemand);
        // Envoy warms an updated EDS cluster until it gets that cluster's endpoints again,
        // unchanged or not (else it waits out initial_fetch_timeout, 15 s): they are due again.
        if (plan && changedClusters && changedClusters.length > 0) this.types.get(ResourceType.Endpoint)?.resend(changedClusters.map((e) => e.name));
        if (plan) {
          planState = st;
          break;
        }
      }
      if (plan && planState) {
        await this.send(planState, plan);
        continue;
      }
      if (!awaiting && !this.anyPending()) this.settle();
      // Without a held-back response there is nothing to time out: sleep until signalled
      // (no timer per ACK round trip).
      await this.sleep(waitingOnAck ? deadline - now : Infinity);
    }
  }

  private anyAwaiting(): boolean {
    for (const st of this.types.values()) if (st.awaitingAck) return true;
    return false;
  }

  private anyPending(): boolean {
    for (const [t, st] of this.types) if (st.pending(this.current[t] ?? NO_CHUNKS)) return true;
    return false;
  }

  private settle(): void {
    this.doneGen = this.wantGen;
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) (w.gen <= this.doneGen ? w.resolve(true) : keep.push(w));
    this.waiters = keep;
  }

  private async send(st: TypeState, plan: Plan): Promise<void> {
    const nonce = (++this.nonce).toString(36);
    const cp = this.host.controlPlaneId;
    const buf = responsePieces(
      this.protocol === 'sotw'
        ? sotwResponsePieces({ versionInfo: plan.version, typeUrl: st.typeUrl, resources: plan.resources, nonce, controlPlane: cp })
        : deltaResponsePieces({ systemVersionInfo: plan.version, typeUrl: st.typeUrl, resources: plan.resources, removed: plan.removed, nonce, controlPlane: cp }),
    );
    st.sentVersion = plan.version;
    st.sentNonce = nonce;
    st.awaitingAck = true;
    st.sentAt = Date.now();
    st.forceFull = false;
    this.host.onResponse(st.typeUrl, buf.length, performance.now() - this.resAt);
    await this.write(buf);
  }

  /** Writes one message and resolves when grpc-js has handed it to HTTP/2 (or the stream closed). */
  private write(buf: ResponsePieces): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.inFlightBytes = buf.length;
    this.inFlightSince = Date.now();
    return new Promise((resolve) => {
      const finish = (): void => {
        if (this.writeDone !== finish) return;
        this.writeDone = undefined;
        this.inFlightBytes = 0;
        resolve();
      };
      // close() finishes it too (grpc-js may never call back once the stream is gone).
      this.writeDone = finish;
      try {
        this.call.write(buf, finish);
      } catch {
        finish();
      }
    });
  }

  /**
   * Drops the stream when its client has not taken a response for longer than the write
   * timeout, or leaves more bytes unread than the pending limit (a client that never reads:
   * memory stays bounded, and pushes stop waiting for it). Called by the server's sweep.
   */
  checkPending(now: number): void {
    if (this.closed || this.inFlightBytes === 0) return;
    const { maxPendingBytes, writeTimeoutMs } = this.host.limits;
    const pending = this.inFlightBytes + ((this.call as unknown as { call?: { stream?: { writableLength?: number } } }).call?.stream?.writableLength ?? 0);
    const age = now - this.inFlightSince;
    if (pending > maxPendingBytes) this.exceeded('pending_bytes', `${pending} response bytes not read by the client, more than ${maxPendingBytes}`);
    else if (age > writeTimeoutMs) this.exceeded('write_timeout', `a ${this.inFlightBytes}-byte response not read by the client for ${Math.round(age / 1000)} s, more than ${writeTimeoutMs} ms`);
  }

  /** Marks the stream closed, wakes everything waiting on it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.firstRequestTimer) clearTimeout(this.firstRequestTimer);
    for (const l of this.lists.values()) this.host.names.release(l);
    this.lists.clear();
    this.writeDone?.();
    this.signal();
    for (const w of this.waiters) w.resolve(false);
    this.waiters = [];
    this.host.onClose(this);
    if (!this.call.destroyed && this.call.writable) {
      try {
        this.call.end();
      } catch {
        /* already ended */
      }
    }
  }

  /** Sync state per type, for the admin endpoint. */
  syncStatus(): ProxySyncStatus {
    const types: Partial<Record<ResourceTypeUrl, TypeSyncStatus>> = {};
    for (const [t, st] of this.types) {
      types[t] = { sentVersion: st.sentVersion, sentNonce: st.sentNonce, ackedVersion: st.ackedVersion, awaitingAck: st.awaitingAck, ...(st.sentAt ? { sentAt: new Date(st.sentAt).toISOString() } : {}), lastNack: st.lastNack };
    }
    return { proxyId: this.proxy?.info.id ?? '', connectionId: this.connectionId, protocol: this.protocol, types, lastError: this.lastError };
  }
}

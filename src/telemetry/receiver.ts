/**
 * meshd's AccessLogService (`envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs`):
 * sidecars stream their inbound access logs here over the `xds-grpc` cluster. A stream is
 * authenticated like an ADS stream (bearer token or client certificate, the same
 * authenticator), and the destination it speaks for comes from that credential. Records are
 * aggregated in a bounded store, counted in metrics, and served on `/debug/edges`,
 * `/debug/plaintext` and `/debug/denials`.
 */
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { Identity, MeshSnapshot } from '../model/types.js';
import { authContextFromCall, type AuthContext, type Authenticator } from '../ca/auth.js';
import { parseSpiffeId } from '../ca/spiffe.js';
import { messageType } from '../xds/protos.js';
import { parseDurationMs } from '../util/flags.js';
import type { Logger } from '../util/log.js';
import { createTelemetryMetrics, type TelemetryMetrics } from './metrics.js';
import { messageRecords, type LogRecord } from './records.js';
import { resolveDestination } from './resolve.js';
import { denialRows, denyingPolicy, edgeRows, plaintextReport, type EdgeRow, type EdgeScope } from './reports.js';
import { TelemetryStore, type Destination, type StoreLimits } from './store.js';
import { route } from '../admin/route-table.js';

export const ALS_SERVICE = 'envoy.service.accesslog.v3.AccessLogService';
export const ALS_PATH = `/${ALS_SERVICE}/StreamAccessLogs`;

type Rec = { readonly [k: string]: unknown };
/** A decoded StreamAccessLogsMessage, or why it could not be decoded. */
type Decoded = { readonly ok: true; readonly msg: Rec } | { readonly ok: false; readonly error: string };

function decodeMessage(buf: Buffer): Decoded {
  try {
    const t = messageType('envoy.service.accesslog.v3.StreamAccessLogsMessage');
    return { ok: true, msg: t.toObject(t.decode(buf), { longs: Number, enums: String }) as Rec };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

const definition: grpc.ServiceDefinition<grpc.UntypedServiceImplementation> = {
  StreamAccessLogs: {
    path: ALS_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: decodeMessage,
    // StreamAccessLogsResponse has no fields: its encoding is empty.
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: () => ({}),
  },
};

export interface TelemetryDeps {
  readonly authenticator: Authenticator;
  readonly snapshot: () => MeshSnapshot;
  readonly registry: Registry;
  readonly log: Logger;
  /** Accept streams without credentials, trusting the node's claim (meshd --allow-unauthenticated). */
  readonly allowUnauthenticated?: boolean;
  readonly now?: () => number;
  readonly limits?: StoreLimits;
  /** Sees every record with its destination (learned scoping, src/meshd/scoping.ts). */
  readonly onRecord?: (dst: Destination, r: LogRecord) => void;
  /** Whether an edge's destination is in its caller's learned scope, and how (`/debug/edges`' `scope`). */
  readonly edgeScope?: (row: EdgeRow) => EdgeScope | undefined;
}

/** One authenticated stream: who it speaks for, resolved against the snapshot of the moment. */
export interface AlsSession {
  readonly identity?: Identity;
  nodeId: string;
  dst?: Destination;
  generation: number;
}

const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' ? v as Rec : {});

/** Receives, aggregates and reports inbound access logs. */
export class TelemetryReceiver {
  readonly store: TelemetryStore;
  readonly metrics: TelemetryMetrics;
  private readonly now: () => number;

  constructor(private readonly deps: TelemetryDeps) {
    this.now = deps.now ?? Date.now;
    this.store = new TelemetryStore(this.now(), deps.limits);
    this.metrics = createTelemetryMetrics(deps.registry);
  }

  /** Authenticates a new stream from its credentials; a failure names the reason. */
  async openStream(ctx: AuthContext): Promise<{ ok: true; session: AlsSession } | { ok: false; reason: string; message: string }> {
    const r = await this.deps.authenticator.authenticate(ctx);
    if (r.ok) return { ok: true, session: { identity: r.identity, nodeId: '', generation: -1 } };
    if (r.reason === 'no-credentials' && this.deps.allowUnauthenticated) return { ok: true, session: { nodeId: '', generation: -1 } };
    return { ok: false, reason: r.reason, message: r.message };
  }

  /** Adds one decoded StreamAccessLogsMessage of `session` (the first one names the node). */
  ingest(session: AlsSession, msg: Rec): void {
    const nodeId = rec(rec(msg.identifier).node).id;
    if (typeof nodeId === 'string' && nodeId) { session.nodeId = nodeId; session.generation = -1; }
    const snap = this.deps.snapshot();
    if (session.generation !== snap.generation) {
      session.dst = resolveDestination(snap, session.identity, session.nodeId);
      session.generation = snap.generation;
    }
    const dst = session.dst;
    const records = messageRecords(msg);
    if (!dst) return;
    const now = this.now();
    for (const r of records) {
      this.metrics.entries.inc({ kind: r.kind });
      this.store.add(dst, r, now);
      this.deps.onRecord?.(dst, r);
      const srcNs = r.peerUri ? parseSpiffeId(r.peerUri)?.namespace ?? '' : '';
      this.metrics.edge(srcNs, dst.namespace, dst.workload, r.chainKind === 'mtls');
      if (r.chainKind === 'plaintext') this.metrics.plaintext(dst.namespace, dst.workload, r.kind);
      if (r.deniedBy !== undefined) this.metrics.denied(dst.namespace, dst.workload, denyingPolicy(snap, dst, r.deniedBy));
    }
  }

  private handle(call: grpc.ServerReadableStream<Decoded, Rec>, callback: grpc.sendUnaryData<Rec>): void {
    const pending: Decoded[] = [];
    let session: AlsSession | undefined;
    let done = false;
    const finish = (err: grpc.ServiceError | null): void => {
      if (done) return;
      done = true;
      this.metrics.streams.dec();
      callback(err, err ? undefined : {});
    };
    const take = (d: Decoded): void => {
      if (done) return;
      if (!d.ok) {
        this.metrics.rejectedStreams.inc({ reason: 'malformed' });
        finish(Object.assign(new Error(d.error), { code: grpc.status.INVALID_ARGUMENT, details: `bad StreamAccessLogsMessage: ${d.error}`, metadata: new grpc.Metadata() }));
        return;
      }
      if (session) this.ingest(session, d.msg);
      else pending.push(d);
    };
    this.metrics.streams.inc();
    call.on('data', take);
    call.on('end', () => finish(null));
    call.on('error', () => finish(null));
    call.on('cancelled', () => finish(null));
    this.openStream(authContextFromCall(call)).then((r) => {
      if (!r.ok) {
        this.metrics.rejectedStreams.inc({ reason: r.reason });
        this.deps.log.warn('als: stream refused', { peer: call.getPeer(), reason: r.reason, error: r.message });
        finish(Object.assign(new Error(r.message), { code: grpc.status.UNAUTHENTICATED, details: `meshd: ${r.message}`, metadata: new grpc.Metadata() }));
        return;
      }
      session = r.session;
      for (const d of pending.splice(0)) take(d);
    }, (e: unknown) => finish(Object.assign(new Error(String(e)), { code: grpc.status.INTERNAL, details: 'authentication failed', metadata: new grpc.Metadata() })));
  }

  /** Adds the AccessLogService to a grpc.Server (plaintext or TLS port alike). */
  addTo(server: grpc.Server): void {
    server.addService(definition, {
      StreamAccessLogs: (call: grpc.ServerReadableStream<Decoded, Rec>, cb: grpc.sendUnaryData<Rec>) => this.handle(call, cb),
    });
  }

  /** Admin routes: `/debug/edges`, `/debug/plaintext`, `/debug/denials` (each takes `?namespace=`). */
  routes(): ((app: FastifyInstance) => void)[] {
    type Q = { Querystring: { namespace?: string; window?: string } };
    const SHOWS = { kind: 'read', resource: 'debug' } as const;
    return [
      (app) => app.get<Q>('/debug/edges', route(SHOWS, 'who calls whom: identities, mTLS or plaintext, denials (?namespace=; what meshctl edges shows)'), async (req) => {
        const rows = edgeRows(this.store, this.deps.snapshot(), req.query.namespace || undefined);
        const scopeOf = this.deps.edgeScope;
        if (!scopeOf) return rows;
        return rows.map((r) => { const scope = scopeOf(r); return scope ? { ...r, scope } : r; });
      }),
      (app) => app.get<Q>('/debug/denials', route(SHOWS, '403s per destination and deciding policy (?namespace=)'), async (req) => denialRows(this.store, this.deps.snapshot(), req.query.namespace || undefined)),
      (app) => app.get<Q>('/debug/plaintext', route(SHOWS, 'the "ready for STRICT" report (?namespace=&window=10m; what meshctl plaintext shows)'), async (req, reply) => {
        let windowMs: number;
        try { windowMs = parseDurationMs(req.query.window ?? '10m'); } catch (e) {
          return reply.code(400).send({ error: `window: ${e instanceof Error ? e.message : String(e)}` });
        }
        return plaintextReport(this.store, this.deps.snapshot(), this.now(), windowMs, req.query.namespace || undefined);
      }),
    ];
  }
}

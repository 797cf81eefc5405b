/**
 * Per-connection limits for the sockets the ADS server accepts itself: connections per
 * source address (one over the limit is let through to HTTP/2 so that its ADS streams get
 * RESOURCE_EXHAUSTED naming the limit, then closed). HTTP/2 connections with no call for the
 * idle timeout are closed by grpc-js (`grpc.max_connection_idle_ms`); a raw TCP connection that
 * never speaks HTTP/2 is not closed yet (Node's http2 owns the socket once grpc-js has it).
 */
import type { Socket } from 'node:net';
import { sessionOf } from './http2-tuning.js';
import type { LimitName, XdsLimits } from './limits.js';
import type { Logger } from './types.js';

const OVER = Symbol('meshd.overLimit');
/** How long an over-limit connection stays open for its streams to read their status. */
const OVER_LIMIT_GRACE_MS = 2000;

type Marked = Socket & { [OVER]?: string };

export class ConnectionGuard {
  private readonly perAddress = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private lastLog = 0;

  constructor(private readonly limits: XdsLimits, private readonly log: Logger, private readonly hit: (l: LimitName) => void) {}

  /** Open connections from one address (for tests and debug). */
  count(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** Counts a new connection; closes it later when it stays silent or is over the per-address limit. */
  accept(socket: Socket): void {
    const addr = socket.remoteAddress ?? '';
    const n = (this.perAddress.get(addr) ?? 0) + 1;
    this.perAddress.set(addr, n);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.perAddress.get(addr) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(addr);
      else this.perAddress.set(addr, left);
    });
    const max = this.limits.maxConnectionsPerAddress;
    if (n > max) {
      (socket as Marked)[OVER] = `more than ${max} connections from ${addr}`;
      this.hit('connections_per_address');
      this.warn('xds: connection over the per-address limit', { peer: addr, connections: n, limit: max });
      setTimeout(() => socket.destroy(), OVER_LIMIT_GRACE_MS).unref();
      return;
    }
  }

  /** Why the connection under a call is over its limit, or undefined. */
  overLimit(call: unknown): string | undefined {
    const s = sessionOf(call)?.socket as Marked | undefined;
    return s?.[OVER];
  }

  /** Closes every socket accepted (server shutdown). */
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Warnings about many connections are logged at most once a second. */
  private warn(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.lastLog < 1000) return;
    this.lastLog = now;
    this.log.warn(msg, fields);
  }
}

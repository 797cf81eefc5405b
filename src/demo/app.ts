/**
 * The demo's small HTTP app: it serves JSON saying who it is and who called it (from the
 * sidecar's x-forwarded-client-cert), and it can call another service on a timer. Every call
 * is reported as one JSON line, which `npm run demo` reads to print what happens.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';

export interface CallEvent {
  readonly event: 'call';
  readonly from: string;
  readonly to: string;
  readonly path: string;
  /** HTTP status; absent when the connection failed. */
  readonly status?: number;
  /** Connection error code (ECONNRESET, ECONNREFUSED, timeout). */
  readonly error?: string;
  /** The callee's view of the caller's SPIFFE id (from XFCC), when it answered. */
  readonly callerId?: string;
}

export interface ServeOptions { readonly name: string; readonly host: string; readonly port: number }

/** Starts the JSON echo server; resolves once it listens. `?delay=MS` (at most 30 s) answers late. */
export async function serveApp(o: ServeOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const xfcc = String(req.headers['x-forwarded-client-cert'] ?? '');
    const uri = /URI=([^;,]+)/.exec(xfcc)?.[1];
    const delay = Math.min(30_000, Number(/[?&]delay=(\d+)/.exec(req.url ?? '')?.[1] ?? 0));
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ app: o.name, method: req.method, path: req.url, ...(uri ? { callerId: uri } : {}) }));
      }, delay);
    });
  });
  // Longer than any quiet spell in a test or the demo: an app that closes an idle keep-alive
  // connection while its sidecar reuses it gets a 503 "connection termination" (the classic
  // keep-alive race, Envoy's upstream idle timeout being 1 h), which would look like a mesh failure.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host, resolve); });
  return server;
}

export interface CallOptions {
  readonly from: string;
  readonly to: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly hostHeader?: string;
  /** Source address to bind (so meshd can tell who the caller is by its address). */
  readonly localAddress?: string;
  readonly timeoutMs?: number;
}

/** One GET; never rejects: a failed connection is an event with `error`. */
export function callOnce(o: CallOptions): Promise<CallEvent> {
  const base = { event: 'call' as const, from: o.from, to: o.to, path: o.path };
  return new Promise((resolve) => {
    const req = httpRequest({
      host: o.host, port: o.port, path: o.path, method: 'GET', agent: false, timeout: o.timeoutMs ?? 3000,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      headers: o.hostHeader ? { host: o.hostHeader } : {},
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        let callerId: string | undefined;
        try { callerId = (JSON.parse(body) as { callerId?: string }).callerId; } catch { /* not our app's JSON (an Envoy reply) */ }
        resolve({ ...base, status: res.statusCode ?? 0, ...(callerId ? { callerId } : {}) });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ...base, error: e.code ?? e.message }));
    req.end();
  });
}

/** Calls every `intervalMs` until the returned stop function runs; each result goes to `onEvent`. */
export function callEvery(o: CallOptions, intervalMs: number, onEvent: (e: CallEvent) => void): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async (): Promise<void> => {
    const e = await callOnce(o);
    if (stopped) return;
    onEvent(e);
    timer = setTimeout(() => void tick(), intervalMs);
  };
  void tick();
  return () => { stopped = true; if (timer) clearTimeout(timer); };
}

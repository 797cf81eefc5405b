/**
 * Small upstream apps for end-to-end tests: an HTTP echo server that says who it is and what
 * its sidecar told it about the caller (x-forwarded-client-cert), and a plain HTTP client.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';

export interface EchoReply {
  app: string;
  method: string;
  path: string;
  host: string;
  xfcc?: string;
  /** Trace context headers the sidecar passed on (x-b3-*, traceparent). */
  trace?: Record<string, string>;
  /** Headers an external authorizer added for the upstream (x-authz-*). */
  authz?: Record<string, string>;
}

export interface RunningApp { readonly server: Server; readonly requests: EchoReply[]; close(): Promise<void> }

/**
 * Starts an echo app on `host:port`. Test behaviours by path: `/sleep/<ms>…` answers after
 * `<ms>`; `/flaky…` answers 500 to every other such request (the first included).
 */
export async function startEchoApp(app: string, host: string, port: number): Promise<RunningApp> {
  const requests: EchoReply[] = [];
  let flaky = 0;
  const server = createServer((req, res) => {
    const reply: EchoReply = {
      app, method: req.method ?? '', path: req.url ?? '', host: req.headers.host ?? '',
      ...(req.headers['x-forwarded-client-cert'] ? { xfcc: String(req.headers['x-forwarded-client-cert']) } : {}),
    };
    const trace = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('x-b3-') || k === 'traceparent').map(([k, v]) => [k, String(v)]));
    if (Object.keys(trace).length) reply.trace = trace;
    const authz = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('x-authz-')).map(([k, v]) => [k, String(v)]));
    if (Object.keys(authz).length) reply.authz = authz;
    requests.push(reply);
    req.resume();
    const sleep = /^\/sleep\/(\d+)/.exec(reply.path);
    const fail = reply.path.startsWith('/flaky') && flaky++ % 2 === 0;
    req.on('end', () => {
      const answer = (): void => {
        if (res.destroyed) return;
        res.statusCode = fail ? 500 : 200;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(reply));
      };
      if (sleep) setTimeout(answer, Number(sleep[1])); else answer();
    });
  });
  // Longer than any quiet spell in a test or the demo: an app that closes an idle keep-alive
  // connection while its sidecar reuses it gets a 503 "connection termination" (the classic
  // keep-alive race, Envoy's upstream idle timeout being 1 h), which would look like a mesh failure.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  return {
    server, requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export interface HttpResult { status: number; body: string; headers: Record<string, string | string[] | undefined> }

/** One HTTP/1.1 request with an explicit Host header; rejects on connection errors. */
export function httpCall(opts: { host: string; port: number; path?: string; method?: string; hostHeader?: string; headers?: Record<string, string>; timeoutMs?: number; localAddress?: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: opts.host, port: opts.port, path: opts.path ?? '/', method: opts.method ?? 'GET',
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      headers: { ...(opts.hostHeader ? { host: opts.hostHeader } : {}), ...opts.headers },
      agent: false, timeout: opts.timeoutMs ?? 5000,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A small JSON client for the Kubernetes API. Credentials and TLS settings come from
 * `@kubernetes/client-node`'s KubeConfig (kubeconfig file, in-cluster token file, exec
 * plugins); requests are raw JSON so objects reach the parsers exactly as the API server
 * wrote them (the generated typed clients rename and re-type fields).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/** An API answer that is not 2xx, or a transport failure; `status` 0 means no HTTP answer. */
export class KubeError extends Error {
  constructor(readonly status: number, message: string, readonly reason?: string) {
    super(message);
    this.name = 'KubeError';
  }
  /** Wraps anything thrown by a request. */
  static from(e: unknown): KubeError {
    if (e instanceof KubeError) return e;
    return new KubeError(0, e instanceof Error ? e.message : String(e));
  }
}

export interface KubeResponse {
  readonly status: number;
  readonly body: unknown;
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly contentType?: string;
  /** Default 15 s; watches pass their own. */
  readonly timeoutMs?: number;
}

/** Loads a KubeConfig: the given file, else in-cluster service-account credentials. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  if (!kc.getCurrentCluster()) throw new KubeError(0, `kubeconfig ${file ?? '(in-cluster)'} has no current cluster`);
  return kc;
}

interface Auth {
  readonly headers: Record<string, string>;
  readonly agent: http.Agent;
  readonly at: number;
}

const AUTH_REFRESH_MS = 60_000;

/** JSON requests against one API server with a kept-alive connection pool. */
export class KubeClient {
  readonly server: URL;
  /** The kubeconfig context's namespace (in-cluster: the pod's own). */
  readonly namespace: string;
  private auth?: Auth;

  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeError(0, 'kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    const ctx = kc.getContextObject(kc.getCurrentContext());
    this.namespace = ctx?.namespace ?? 'default';
  }

  /** Re-reads credentials (token files rotate; exec plugins mint new tokens). */
  private async credentials(force = false): Promise<Auth> {
    if (this.auth && !force && Date.now() - this.auth.at < AUTH_REFRESH_MS) return this.auth;
    const o: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(o);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string' || typeof v === 'number') headers[k] = String(v);
    if (o.auth) headers.Authorization = 'Basic ' + Buffer.from(o.auth).toString('base64');
    const cluster = this.kc.getCurrentCluster();
    const agent = this.server.protocol === 'http:'
      ? new http.Agent({ keepAlive: true, maxSockets: 32 })
      : new https.Agent({
        keepAlive: true, maxSockets: 32,
        ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert } : {}), ...(o.key ? { key: o.key } : {}),
        ...(cluster?.skipTLSVerify ? { rejectUnauthorized: false } : {}),
        ...(cluster?.tlsServerName ? { servername: cluster.tlsServerName } : {}),
      });
    this.auth?.agent.destroy();
    this.auth = { headers, agent, at: Date.now() };
    return this.auth;
  }

  /** Sends one request; resolves with any HTTP status, rejects only on transport errors/timeouts. */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<KubeResponse> {
    const auth = await this.credentials().catch((e: unknown) => { throw new KubeError(0, `cannot load credentials: ${KubeError.from(e).message}`); });
    const r = await this.send(auth, method, path, o);
    if (r.status === 401) {
      // Credentials may have rotated under us: reload once.
      const fresh = await this.credentials(true);
      return this.send(fresh, method, path, o);
    }
    return r;
  }

  /** Like request, but non-2xx becomes a KubeError carrying the API server's message. */
  async json(method: string, path: string, o: RequestOptions = {}): Promise<unknown> {
    const r = await this.request(method, path, o);
    if (r.status >= 200 && r.status < 300) return r.body;
    throw statusError(r, `${method} ${path}`);
  }

  private send(auth: Auth, method: string, path: string, o: RequestOptions): Promise<KubeResponse> {
    const url = new URL(path, this.server);
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, {
        method, agent: auth.agent,
        headers: {
          ...auth.headers, Accept: 'application/json',
          ...(payload ? { 'Content-Type': o.contentType ?? 'application/json', 'Content-Length': String(payload.length) } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new KubeError(0, `${method} ${url.pathname}: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try { body = text ? JSON.parse(text) : undefined; } catch { /* not JSON: keep the text */ }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.setTimeout(o.timeoutMs ?? 15_000, () => req.destroy(new Error(`timed out after ${o.timeoutMs ?? 15_000} ms`)));
      req.on('error', (e) => reject(new KubeError(0, `${method} ${url.origin}${url.pathname}: ${e.message}`)));
      req.end(payload);
    });
  }

  /** Opens a streaming GET (watch); `onLine` gets each newline-terminated JSON line. */
  async stream(path: string, onLine: (line: string) => void, idleTimeoutMs: number): Promise<{ done: Promise<void>; abort: () => void; status: number; body?: unknown }> {
    const auth = await this.credentials();
    const url = new URL(path, this.server);
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise((resolveOpen, rejectOpen) => {
      const req = mod.request(url, { method: 'GET', agent: auth.agent, headers: { ...auth.headers, Accept: 'application/json' } }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let body: unknown;
            try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { body = Buffer.concat(chunks).toString('utf8'); }
            resolveOpen({ status, body, done: Promise.resolve(), abort: () => undefined });
          });
          res.on('error', () => resolveOpen({ status, done: Promise.resolve(), abort: () => undefined }));
          return;
        }
        let buf = '';
        const done = new Promise<void>((resolveDone, rejectDone) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            let i: number;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (line.trim()) onLine(line);
            }
          });
          res.on('end', () => resolveDone());
          res.on('error', (e) => rejectDone(e));
          res.on('close', () => resolveDone());
        });
        resolveOpen({ status, done, abort: () => req.destroy() });
      });
      // No bytes for this long (no events, no bookmarks) means a dead connection.
      req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`watch idle for ${idleTimeoutMs} ms`)));
      req.on('error', (e) => rejectOpen(new KubeError(0, `watch ${url.pathname}: ${e.message}`)));
      req.end();
    });
  }

  /** Releases pooled connections. */
  close(): void {
    this.auth?.agent.destroy();
  }
}

/** A KubeError from a non-2xx answer, with the API server's `Status.message` when present. */
export function statusError(r: KubeResponse, what: string): KubeError {
  const b = r.body;
  const msg = typeof b === 'object' && b !== null && 'message' in b && typeof b.message === 'string' ? b.message : typeof b === 'string' ? b.slice(0, 300) : '';
  const reason = typeof b === 'object' && b !== null && 'reason' in b && typeof b.reason === 'string' ? b.reason : undefined;
  const hint = r.status === 401 ? ' (credentials rejected: is the kubeconfig token or client certificate expired?)' : r.status === 403 ? ' (forbidden: check meshd\'s RBAC)' : '';
  return new KubeError(r.status, `${what}: HTTP ${r.status}${msg ? ': ' + msg : ''}${hint}`, reason);
}

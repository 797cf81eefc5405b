/**
 * The agent's status port (15020, excluded from the pod's interception), what the kubelet and
 * the injected lifecycle hooks call:
 * - `GET /app-health/<container>/<livez|readyz|startupz>`: the app's own probe, performed by
 *   the agent (src/sds/agent-probe.ts); 200, or 503 with what failed;
 * - `GET /healthz/agent`: 200 once the agent holds a certificate (the native agent's startup probe);
 * - `GET /healthz/ready`: Envoy is ready and not draining; `GET /healthz/wait-ready`: answers
 *   once Envoy is ready (a postStart hook holding the app, without native sidecars);
 * - `GET|POST /drain` (Envoy's preStop hook): inbound listeners stop accepting, in-flight inbound
 *   connections finish (up to the drain duration) and, without native sidecars, the app's
 *   ports close first (the proxy exits after the app); answers with what it waited for;
 * - `POST /quitquitquit`: Envoy and the agent exit (a Job's last step without native sidecars).
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { AppProber } from '../k8s/probes.js';
import { runProber } from './agent-probe.js';

export interface StatusOptions {
  readonly port: number;
  readonly host?: string;
  /** Envoy's admin `host:port`. */
  readonly envoyAdmin: string;
  readonly probers: Readonly<Record<string, AppProber>>;
  /** Where the app is probed (the pod IP); default 127.0.0.1. */
  readonly appHost?: string;
  /** The app's container ports: without native sidecars the drain waits until they close. */
  readonly appPorts: readonly number[];
  readonly native: boolean;
  readonly drainMs: number;
  readonly hasCertificate: () => boolean;
  readonly log: (line: string) => void;
  readonly onQuit: () => void;
}

export interface StatusServer {
  readonly port: number;
  /** True once a drain started (Envoy is going away). */
  draining(): boolean;
  close(): Promise<void>;
}

type Admin = { status: number; body: string };

function admin(address: string, method: 'GET' | 'POST', path: string, timeoutMs = 2000): Promise<Admin> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const req = httpRequest({ host: address.slice(0, i), port: Number(address.slice(i + 1)), path, method, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host, port, timeout: 500 });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('timeout', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Active downstream connections on Envoy's inbound listeners (port 15006, virtualInbound). */
export function inboundConnections(statsText: string): number {
  let n = 0;
  for (const line of statsText.split('\n')) {
    const m = /^listener\.[^:]*_15006\.downstream_cx_active: (\d+)$/.exec(line.trim());
    if (m) n += Number(m[1]);
  }
  return n;
}

/** Starts the status server; resolves once it listens. */
export async function startStatusServer(o: StatusOptions): Promise<StatusServer> {
  let draining = false;
  let drainDone: Promise<Record<string, unknown>> | undefined;
  const failing = new Map<string, string>();
  const appHost = o.appHost ?? '127.0.0.1';

  const drain = async (): Promise<Record<string, unknown>> => {
    draining = true;
    const t0 = Date.now();
    const r = await admin(o.envoyAdmin, 'POST', '/drain_listeners?inboundonly');
    o.log(`agent: drain: inbound listeners stopped accepting (Envoy answered ${r.status})`);
    let appExitedMs: number | undefined;
    if (!o.native && o.appPorts.length) {
      // The app got SIGTERM at the same time: wait until it stops listening, so the proxy
      // outlives it (the kubelet's grace period bounds this).
      while ((await Promise.all(o.appPorts.map((p) => accepts(appHost, p)))).some(Boolean)) await sleep(250);
      appExitedMs = Date.now() - t0;
    }
    let active = inboundConnections((await admin(o.envoyAdmin, 'GET', '/stats?filter=downstream_cx_active')).body);
    while (active > 0 && Date.now() - t0 < o.drainMs) {
      await sleep(200);
      active = inboundConnections((await admin(o.envoyAdmin, 'GET', '/stats?filter=downstream_cx_active')).body);
    }
    const report = { drainedMs: Date.now() - t0, inboundConnectionsLeft: active, ...(appExitedMs !== undefined ? { appExitedMs } : {}) };
    o.log(`agent: drain done: ${JSON.stringify(report)}`);
    return report;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (code: number, body: string): void => { res.writeHead(code, { 'content-type': 'text/plain' }).end(body + '\n'); };
    if (path.startsWith('/app-health/')) {
      const p = o.probers[path];
      if (!p) return send(404, `no app probe at ${path}`);
      const r = await runProber(p, appHost);
      // A failure is logged when it starts or changes, not on every probe.
      const prev = failing.get(path);
      if (!r.ok && prev !== r.detail) o.log(`agent: app probe ${path} failed: ${r.detail}`);
      if (r.ok && prev !== undefined) o.log(`agent: app probe ${path} passes again`);
      if (r.ok) failing.delete(path); else failing.set(path, r.detail);
      return send(r.ok ? 200 : 503, r.detail);
    }
    if (path === '/healthz/agent') return o.hasCertificate() ? send(200, 'ok') : send(503, 'no workload certificate yet: meshd not reached');
    if (path === '/healthz/ready') {
      if (draining) return send(503, 'draining');
      const r = await admin(o.envoyAdmin, 'GET', '/ready');
      return send(r.status === 200 ? 200 : 503, r.body.trim() || 'Envoy not reachable');
    }
    if (path === '/healthz/wait-ready') {
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline) {
        if ((await admin(o.envoyAdmin, 'GET', '/ready')).status === 200) return send(200, 'Envoy is ready');
        await sleep(250);
      }
      return send(503, 'Envoy did not become ready in 300 s');
    }
    if (path === '/drain' && (req.method === 'GET' || req.method === 'POST')) {
      drainDone ??= drain();
      return send(200, JSON.stringify(await drainDone));
    }
    if (path === '/quitquitquit' && req.method === 'POST') {
      const r = await admin(o.envoyAdmin, 'POST', '/quitquitquit');
      send(200, `Envoy: ${r.status || 'not running'}; the agent exits`);
      o.log('agent: /quitquitquit: exiting');
      setImmediate(o.onQuit);
      return;
    }
    send(404, 'GET /app-health/<container>/<livez|readyz|startupz>, /healthz/agent, /healthz/ready, /healthz/wait-ready, /drain; POST /quitquitquit');
  };

  const server = createServer((req, res) => { handle(req, res).catch((e: unknown) => { if (!res.headersSent) res.writeHead(500).end(String(e)); }); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`agent: cannot listen on the status port ${o.host ?? '0.0.0.0'}:${o.port}: ${e.message}`)));
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  const a = server.address();
  return {
    port: typeof a === 'object' && a ? a.port : o.port,
    draining: () => draining,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

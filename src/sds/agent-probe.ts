/**
 * The agent performs an app's own probe (rewritten by injection, src/k8s/probes.ts) as the
 * kubelet would: HTTP(S) GET with a 200-399 answer, a TCP connect, or a gRPC health check
 * (grpc.health.v1.Health/Check answering SERVING). It connects from the proxy's UID, which the
 * pod's iptables rules never redirect, so STRICT mTLS on the app's port does not apply.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import type { AppProber } from '../k8s/probes.js';

export type ProbeOutcome = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly detail: string };

function hint(code: string | undefined, port: number): string {
  return code === 'ECONNREFUSED' ? ` (nothing listens on port ${port}: fix the probe's port or the app)` : '';
}

/** Runs one prober against the app at `host` (the pod IP, or the probe's own host). */
export function runProber(p: AppProber, host: string): Promise<ProbeOutcome> {
  const timeoutMs = Math.max(1, p.timeoutSeconds) * 1000;
  if ('httpGet' in p) {
    const g = p.httpGet;
    const target = g.host ?? host;
    return new Promise((resolve) => {
      const req = (g.scheme === 'HTTPS' ? httpsRequest : httpRequest)({
        host: target, port: g.port, path: g.path, method: 'GET', timeout: timeoutMs, agent: false,
        headers: Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value])), ...(g.scheme === 'HTTPS' ? { rejectUnauthorized: false } : {}),
      }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true, detail: `HTTP ${code}` } : { ok: false, detail: `GET ${g.scheme.toLowerCase()}://${target}:${g.port}${g.path}: HTTP ${code}` });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, detail: `GET ${g.scheme.toLowerCase()}://${target}:${g.port}${g.path}: ${e.code ?? e.message}${hint(e.code, g.port)}` }));
      req.end();
    });
  }
  if ('tcpSocket' in p) {
    const target = p.tcpSocket.host ?? host;
    return new Promise((resolve) => {
      const s = netConnect({ host: target, port: p.tcpSocket.port, timeout: timeoutMs });
      s.once('connect', () => { s.destroy(); resolve({ ok: true, detail: 'connected' }); });
      s.once('timeout', () => { s.destroy(); resolve({ ok: false, detail: `TCP ${target}:${p.tcpSocket.port}: no answer in ${timeoutMs} ms` }); });
      s.once('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, detail: `TCP ${target}:${p.tcpSocket.port}: ${e.code ?? e.message}${hint(e.code, p.tcpSocket.port)}` }));
    });
  }
  return grpcHealth(host, p.grpc.port, p.grpc.service ?? '', timeoutMs);
}

/** grpc.health.v1.Health/Check over plaintext HTTP/2: SERVING (1) is healthy. */
function grpcHealth(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeOutcome> {
  const where = `gRPC health ${host}:${port}${service ? ` service ${service}` : ''}`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: ProbeOutcome): void => { if (done) return; done = true; clearTimeout(timer); session.destroy(); resolve(o); };
    const session = http2Connect(`http://${host}:${port}`);
    const timer = setTimeout(() => finish({ ok: false, detail: `${where}: no answer in ${timeoutMs} ms` }), timeoutMs);
    session.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, detail: `${where}: ${e.code ?? e.message}${hint(e.code, port)}` }));
    // HealthCheckRequest { string service = 1 }, in a gRPC length-prefixed frame.
    const name = Buffer.from(service);
    const msg = name.length ? Buffer.concat([Buffer.from([0x0a, name.length]), name]) : Buffer.alloc(0);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const req = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']); });
    req.on('trailers', (h) => { if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']); });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, detail: `${where}: ${e.code ?? e.message}` }));
    req.on('end', () => {
      const body = Buffer.concat(chunks).subarray(5);
      // HealthCheckResponse { ServingStatus status = 1 }: field 1 varint; absent means UNKNOWN (0).
      const status = body.length >= 2 && body[0] === 0x08 ? body[1] : 0;
      if (grpcStatus !== '0') finish({ ok: false, detail: `${where}: grpc-status ${grpcStatus ?? 'missing'}` });
      else finish(status === 1 ? { ok: true, detail: 'SERVING' } : { ok: false, detail: `${where}: status ${status} (not SERVING)` });
    });
    req.end(frame);
  });
}

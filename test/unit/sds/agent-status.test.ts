/**
 * The agent's status port against real app servers on loopback: rewritten HTTP, TCP and gRPC
 * probes pass and fail as the kubelet's would (a refused port is named with what to do),
 * /healthz/agent follows the certificate, unknown probe paths are 404, and the failure is
 * logged once, not per probe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as httpServer } from 'node:http';
import { createServer as h2Server } from 'node:http2';
import { createServer as tcpServer, type Server } from 'node:net';
import { startStatusServer } from '../../../src/sds/agent-status.js';
import { inboundConnections } from '../../../src/sds/agent-status.js';
import { freePort } from '../../helpers/ports.js';

function listen(s: { listen(port: number, host: string, cb: () => void): unknown; address(): unknown }): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

test('status port: app probes over HTTP, TCP and gRPC; refused ports named; /healthz/agent; 404s', async (t) => {
  const app = httpServer((req, res) => res.writeHead(req.url === '/ok' ? 204 : 500).end());
  const tcp: Server = tcpServer((s) => s.end());
  let serving = 1;
  const grpc = h2Server((req, res) => {
    // grpc.health.v1.Health/Check: HealthCheckResponse { status = serving } in a gRPC frame.
    assert.equal(req.headers[':path'], '/grpc.health.v1.Health/Check');
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0' });
      res.end(Buffer.from([0, 0, 0, 0, 2, 0x08, serving]));
    });
  });
  const [httpPort, tcpPort, grpcPort, closed] = [await listen(app), await listen(tcp), await listen(grpc), await freePort()];
  t.after(() => { app.close(); tcp.close(); grpc.close(); });
  let cert = false;
  const logs: string[] = [];
  const s = await startStatusServer({
    port: 0, host: '127.0.0.1', envoyAdmin: `127.0.0.1:${closed}`, appPorts: [], native: true, drainMs: 100,
    probers: {
      '/app-health/web/readyz': { httpGet: { path: '/ok', port: httpPort, scheme: 'HTTP' }, timeoutSeconds: 1 },
      '/app-health/web/livez': { httpGet: { path: '/bad', port: httpPort, scheme: 'HTTP' }, timeoutSeconds: 1 },
      '/app-health/web/startupz': { tcpSocket: { port: tcpPort }, timeoutSeconds: 1 },
      '/app-health/rpc/readyz': { grpc: { port: grpcPort }, timeoutSeconds: 1 },
      '/app-health/gone/readyz': { tcpSocket: { port: closed }, timeoutSeconds: 1 },
    },
    hasCertificate: () => cert, log: (l) => logs.push(l), onQuit: () => undefined,
  });
  t.after(() => s.close());
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://127.0.0.1:${s.port}${path}`);
    return { status: r.status, body: await r.text() };
  };
  assert.equal((await get('/app-health/web/readyz')).status, 200);
  const bad = await get('/app-health/web/livez');
  assert.equal(bad.status, 503);
  assert.match(bad.body, /HTTP 500/);
  assert.equal((await get('/app-health/web/startupz')).status, 200);
  assert.equal((await get('/app-health/rpc/readyz')).status, 200);
  serving = 2; // NOT_SERVING
  assert.match((await get('/app-health/rpc/readyz')).body, /not SERVING/);
  const gone = await get('/app-health/gone/readyz');
  assert.equal(gone.status, 503);
  assert.match(gone.body, new RegExp(`ECONNREFUSED \\(nothing listens on port ${closed}: fix the probe's port or the app\\)`));
  await get('/app-health/gone/readyz');
  assert.equal(logs.filter((l) => l.includes('/app-health/gone/readyz failed')).length, 1, 'logged once while it keeps failing');
  assert.equal((await get('/app-health/nope/readyz')).status, 404);
  assert.equal((await get('/healthz/agent')).status, 503);
  cert = true;
  assert.equal((await get('/healthz/agent')).status, 200);
  assert.equal((await get('/healthz/ready')).status, 503, 'Envoy not running: not ready');
});

test('inbound connection count reads only the virtualInbound listener', () => {
  const stats = ['listener.0.0.0.0_15006.downstream_cx_active: 3', 'listener.0.0.0.0_15001.downstream_cx_active: 9', 'listener.admin.downstream_cx_active: 1', 'listener.[__]_15006.downstream_cx_active: 2'].join('\n');
  assert.equal(inboundConnections(stats), 5);
});

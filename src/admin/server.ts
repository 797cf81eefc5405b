/**
 * meshd's admin HTTP server (fastify): readiness, Prometheus metrics and debug endpoints.
 * Other modules add routes through `routes` (edges, plaintext report, webhooks).
 * Debug output never contains key material: secrets are redacted before they get here.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Diagnostic } from '../model/types.js';

export interface AdminDeps {
  readonly registry: Registry;
  /** Ready once the first snapshot is built and the gRPC ports listen. */
  ready(): boolean;
  /** Per proxy and type: sent, acked, nacked with the error. */
  syncz(): unknown;
  /** The config meshd sends a proxy (secrets redacted); undefined for an unknown proxy. */
  configDump(proxyId: string): unknown;
  /** Current configuration diagnostics (file store or Kubernetes). */
  diagnostics(): readonly Diagnostic[];
  /** Extra routes from other modules. */
  readonly routes?: readonly ((app: FastifyInstance) => void)[];
}

/** Builds (without listening) the admin app. */
export function buildAdminServer(deps: AdminDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/ready', async (_req, reply) => {
    if (deps.ready()) return reply.code(200).type('text/plain').send('ready\n');
    return reply.code(503).type('text/plain').send('not ready\n');
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.registry.contentType);
    return deps.registry.metrics();
  });
  app.get('/debug/syncz', async () => deps.syncz());
  app.get('/debug/diagnostics', async () => deps.diagnostics());
  app.get<{ Querystring: { proxy?: string } }>('/debug/config_dump', async (req, reply) => {
    const id = req.query.proxy;
    if (!id) return reply.code(400).send({ error: 'query parameter proxy=<proxy id> is required; see /debug/syncz for ids' });
    const dump = deps.configDump(id);
    if (dump === undefined) return reply.code(404).send({ error: `no connected proxy ${JSON.stringify(id)}` });
    return dump;
  });
  for (const r of deps.routes ?? []) r(app);
  return app;
}

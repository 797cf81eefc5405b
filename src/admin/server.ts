/**
 * meshd's admin HTTP server (fastify): readiness, Prometheus metrics, debug endpoints and the
 * dashboard. Other modules add routes through `routes`; each route declares its access class
 * (see access.ts) in its route config, and one `onRequest` hook enforces it for every route.
 * Debug output never contains key material: secrets are redacted before they get here.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Diagnostic } from '../model/types.js';
import type { Logger } from '../util/log.js';
import { bearerToken } from '../ca/auth.js';
import { decideAccess, type AccessMode, type RefusalReason } from './access.js';
import type { AdminVerifier } from './credentials.js';
import { route, routeIndex, trackRoutes, type AdminRouteInfo } from './route-table.js';

/** What the admin server reads; every function is called per request and must not block. */
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
  /** How the port is exposed, and who holds a credential. Absent: everything open (unit tests of routes). */
  readonly access?: { readonly mode: AccessMode; readonly verifier: AdminVerifier };
  readonly log?: Logger;
  /** Extra routes from other modules. */
  readonly routes?: readonly ((app: FastifyInstance) => void)[];
}

/** The admin app and its route table (every route fastify registered, in path order). */
export interface AdminServer {
  readonly app: FastifyInstance;
  routes(): readonly AdminRouteInfo[];
}

/** Builds (without listening) the admin app. */
export function buildAdminServer(deps: AdminDeps): AdminServer {
  const app = Fastify({ logger: false });
  const table = trackRoutes(app);
  const refused = new Counter({
    name: 'meshd_admin_requests_refused_total',
    help: 'Admin requests refused before reaching their handler, by reason (no-credential, bad-credential, forbidden, cross-origin, content-type, host)',
    labelNames: ['reason'],
    registers: [deps.registry],
  });
  const access = deps.access;
  if (access) {
    const refuse = (req: FastifyRequest, reply: FastifyReply, status: number, reason: RefusalReason, message: string): FastifyReply => {
      refused.inc({ reason });
      deps.log?.warn('admin: request refused', { method: req.method, path: req.url.split('?')[0], reason, status, remote: req.ip });
      return reply.code(status).header('www-authenticate', 'Bearer realm="meshd"').send({ error: message });
    };
    app.addHook('onRequest', async (req, reply) => {
      // No route matched: fastify answers 404 and no handler runs.
      if (req.routeOptions.url === undefined) return;
      const header = (n: string): string | undefined => { const v = req.headers[n]; return Array.isArray(v) ? v[0] : v; };
      const token = bearerToken(header('authorization'));
      const d = decideAccess(req.routeOptions.config.access, {
        method: req.method, host: header('host'), origin: header('origin'), secFetchSite: header('sec-fetch-site'),
        contentType: header('content-type'), hasCredential: token !== undefined,
      }, access.mode);
      if (d.outcome === 'allow') return;
      if (d.outcome === 'refuse') return refuse(req, reply, d.status, d.reason, d.message);
      const r = await access.verifier.verify(token!, d.need);
      if (!r.ok) return refuse(req, reply, 403, r.reason, `meshd admin: credential refused for ${d.need.verb} ${d.need.resource}.meshd.dev: ${r.message}`);
      if (req.method !== 'GET' && req.method !== 'HEAD') deps.log?.info('admin: authorized', { method: req.method, path: req.url.split('?')[0], who: r.who });
    });
  }
  // A body of `{}` or nothing, with Content-Type application/json: fastify's parser rejects an empty body.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body).trim();
    if (text === '') { done(null, {}); return; }
    try { done(null, JSON.parse(text)); } catch (e) { done(Object.assign(new Error(`body is not JSON: ${e instanceof Error ? e.message : String(e)}`), { statusCode: 400 }), undefined); }
  });
  // A handler that throws: logged with its route, answered with the message (never a stack).
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) deps.log?.error('admin: handler failed', { method: req.method, path: req.url.split('?')[0], error: err.message });
    void reply.code(status).send({ error: err.message });
  });
  const PUBLIC = { kind: 'public' } as const;
  app.get('/ready', route(PUBLIC, '200 once the first snapshot is served and every port listens'), async (_req, reply) => {
    if (deps.ready()) return reply.code(200).type('text/plain').send('ready\n');
    return reply.code(503).type('text/plain').send('not ready\n');
  });
  app.get('/metrics', route(PUBLIC, 'Prometheus metrics (docs/metrics.md)'), async (_req, reply) => {
    reply.type(deps.registry.contentType);
    return deps.registry.metrics();
  });
  app.get('/debug', route(PUBLIC, 'this index: every admin route with its access class and a description'), async () => ({ routes: routeIndex(table()) }));
  app.get('/debug/syncz', route({ kind: 'read', resource: 'debug' }, 'per proxy and type: SYNCED / NOT SENT / STALE / NACKED, sent and acked versions, NACK messages'), async () => deps.syncz());
  app.get('/debug/diagnostics', route({ kind: 'read', resource: 'debug' }, 'configuration problems, with object and field'), async () => deps.diagnostics());
  app.get<{ Querystring: { proxy?: string } }>('/debug/config_dump', route({ kind: 'read', resource: 'debug' }, 'what meshd sends one proxy (?proxy=ID), secrets redacted'), async (req, reply) => {
    const id = req.query.proxy;
    if (!id) return reply.code(400).send({ error: 'query parameter proxy=<proxy id> is required; see /debug/syncz for ids' });
    const dump = deps.configDump(id);
    if (dump === undefined) return reply.code(404).send({ error: `no connected proxy ${JSON.stringify(id)}` });
    return dump;
  });
  for (const r of deps.routes ?? []) r(app);
  return { app, routes: table };
}

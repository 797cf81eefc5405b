/**
 * The dashboard: plain HTML, JS and CSS files in `src/admin/dashboard/`, served as they are
 * (no build step) at `/dashboard/`. The page reads the same debug endpoints meshctl reads, so
 * it shows nothing the read access class would not show anyway.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { route } from './route-table.js';

/** The folder of the dashboard's files (sources, also when running from dist/). */
export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src', 'admin', 'dashboard');

const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'graph.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

const HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
};

/** The routes: `/` and `/dashboard` redirect to `/dashboard/`; each file is read at request time. */
export function dashboardRoutes(dir: string = DASHBOARD_DIR): ((app: FastifyInstance) => void)[] {
  const PUBLIC = { kind: 'public' } as const;
  return [
    (app) => app.get('/', route(PUBLIC, 'redirects to the dashboard'), async (_req, reply) => reply.redirect('/dashboard/')),
    (app) => app.get('/dashboard', route(PUBLIC, 'redirects to the dashboard'), async (_req, reply) => reply.redirect('/dashboard/')),
    (app) => app.get<{ Params: { file?: string } }>('/dashboard/:file', route(PUBLIC, 'the dashboard\'s static files (index.html, app.js, graph.js, style.css); the data come from /debug/*'), async (req, reply) => {
      const name = req.params.file || 'index.html';
      const type = FILES[name];
      if (!type) return reply.code(404).send({ error: `no dashboard file ${JSON.stringify(name)}` });
      let body: string;
      try { body = readFileSync(join(dir, name), 'utf8'); } catch { return reply.code(404).send({ error: `dashboard file ${name} is missing from ${dir}` }); }
      return reply.headers(HEADERS).type(type).send(body);
    }),
  ];
}

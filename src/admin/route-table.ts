/**
 * The admin routes as fastify registered them: every route carries its access class and a
 * one-line description in its route `config`, and an `onRoute` hook records each one as it is
 * added (by meshd, the telemetry module, Kubernetes mode, ...). The `/debug` index and the
 * route-walk test both read this table, so neither is a hand-kept list.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteAccess } from './access.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; absent means undecided (treated as `write`). */
    access?: RouteAccess;
    /** One line for the `/debug` index. */
    description?: string;
  }
}

/** One registered route. */
export interface AdminRouteInfo {
  readonly method: string;
  readonly url: string;
  readonly access?: RouteAccess;
  readonly description?: string;
}

/** Route config for a route: `app.get(url, route(access, 'what it shows'), handler)`. */
export function route(access: RouteAccess, description: string): { config: { access: RouteAccess; description: string } } {
  return { config: { access, description } };
}

/** Starts recording routes on `app` (call before any route is added); returns the live table. */
export function trackRoutes(app: FastifyInstance): () => readonly AdminRouteInfo[] {
  const table: AdminRouteInfo[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const cfg = (r.config ?? {}) as { access?: RouteAccess; description?: string };
    for (const method of methods) {
      table.push({ method: String(method).toUpperCase(), url: r.url, ...(cfg.access ? { access: cfg.access } : {}), ...(cfg.description ? { description: cfg.description } : {}) });
    }
  });
  return () => [...table].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : a.method < b.method ? -1 : a.method > b.method ? 1 : 0));
}

/** The `/debug` index: every route but HEAD twins, with its method, access class and description. */
export function routeIndex(routes: readonly AdminRouteInfo[]): { method: string; path: string; access: string; description: string }[] {
  return routes.filter((r) => r.method !== 'HEAD').map((r) => ({
    method: r.method, path: r.url,
    access: r.access ? (r.access.kind === 'write' ? `write (${r.access.verb} ${r.access.resource}.meshd.dev)` : r.access.kind === 'read' ? `read (get ${r.access.resource}.meshd.dev)` : 'public') : 'undecided (closed)',
    description: r.description ?? '',
  }));
}

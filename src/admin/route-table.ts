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

/** One entry of the `/debug` index. */
export interface RouteIndexEntry {
  readonly method: string;
  readonly path: string;
  /** `undecided` means the route was registered without an access class (it is treated as closed). */
  readonly access: RouteAccess['kind'] | 'undecided';
  /** For `read` and `write`: the RBAC verb and resource a Kubernetes credential must be allowed. */
  readonly needs?: string;
  readonly description: string;
}

/** The `/debug` index: every route but HEAD twins, with its method, access class and description. */
export function routeIndex(routes: readonly AdminRouteInfo[]): RouteIndexEntry[] {
  return routes.filter((r) => r.method !== 'HEAD').map((r) => {
    const a = r.access;
    const needs = a?.kind === 'write' ? `${a.verb} ${a.resource}.meshd.dev` : a?.kind === 'read' ? `get ${a.resource}.meshd.dev` : undefined;
    return { method: r.method, path: r.url, access: a ? a.kind : 'undecided', ...(needs ? { needs } : {}), description: r.description ?? '' };
  });
}

/**
 * Who may call which admin route. Every route declares one access class when it is
 * registered; the decision below is pure (request facts in, outcome out), so it is tested as a
 * table and the server only wires it:
 * - `public`: anyone (readiness, metrics, the route index, the dashboard's static files);
 * - `read`: shows identities or config (config dumps, sync status, edges, certificates): open
 *   on loopback, and behind a credential when meshd listens on anything else, unless
 *   `--admin-open`;
 * - `write`: changes state (root rotation, anything the dashboard can do): always behind a
 *   credential, and refused before authentication when it looks like a cross-site request.
 * A route registered without a class is treated as `write` (closed), and the route-walk test
 * fails on it.
 */
import { isIP } from 'node:net';

/** The access class of one admin route. `resource` and `verb` name it for Kubernetes RBAC. */
export type RouteAccess =
  | { readonly kind: 'public' }
  | { readonly kind: 'read'; readonly resource: string }
  | { readonly kind: 'write'; readonly resource: string; readonly verb: string };

/** The RBAC attributes a credential must be allowed (`<verb> <resource>.meshd.dev`). */
export interface AccessNeed {
  readonly resource: string;
  readonly verb: string;
}

/** How the admin port is exposed: `exposed` when it listens on a non-loopback address. */
export interface AccessMode {
  readonly exposed: boolean;
  /** `--admin-open`: `read` routes stay open even when exposed. */
  readonly open: boolean;
}

/** The facts of one request the decision needs (header values as received). */
export interface RequestFacts {
  readonly method: string;
  readonly host?: string;
  readonly origin?: string;
  readonly secFetchSite?: string;
  readonly contentType?: string;
  readonly hasCredential: boolean;
}

/** Why a request was refused, as counted in `meshd_admin_requests_refused_total{reason}`. */
export type RefusalReason = 'no-credential' | 'bad-credential' | 'forbidden' | 'cross-origin' | 'content-type' | 'host';

/** The decision before any credential is checked: allow, check a credential for `need`, or refuse. */
export type AccessDecision =
  | { readonly outcome: 'allow' }
  | { readonly outcome: 'authenticate'; readonly need: AccessNeed }
  | { readonly outcome: 'refuse'; readonly status: 401 | 403 | 415; readonly reason: RefusalReason; readonly message: string };

/** Where the admin token is, for messages that say what to present. */
export const CREDENTIAL_HINT = 'present "Authorization: Bearer <token>" with the admin token meshd writes to <--state-dir>/admin-token (meshctl reads it by itself; --state-dir or --token), or in Kubernetes a service-account token allowed';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether an address (IPv4, IPv6 or a name) is loopback: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (a === 'localhost' || a.endsWith('.localhost')) return true;
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) === 6) return a === '::1' || /^::ffff:127\./.test(a);
  return false;
}

/** The host part of a Host header (`127.0.0.1:15014` → `127.0.0.1`, `[::1]:1` → `::1`). */
export function hostOf(hostHeader: string): string {
  const h = hostHeader.trim();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const i = h.lastIndexOf(':');
  return i > 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
}

function originHost(origin: string): string | undefined {
  try { return new URL(origin).host; } catch { return undefined; }
}

/** What a route's class becomes for RBAC; an undeclared route needs the strongest verb. */
export function needOf(access: RouteAccess | undefined): AccessNeed {
  if (!access) return { resource: 'admin', verb: 'update' };
  if (access.kind === 'write') return { resource: access.resource, verb: access.verb };
  return { resource: access.kind === 'read' ? access.resource : 'admin', verb: 'get' };
}

/**
 * Decides a request before any credential is checked. State-changing methods (anything but
 * GET, HEAD, OPTIONS) and undeclared routes: a foreign `Origin` or `Sec-Fetch-Site:
 * cross-site` is refused (403), a body that is not JSON is refused (415, so an HTML form or a
 * `text/plain` fetch can never reach a handler), then a credential is required (401 without
 * one). Reads: open on loopback (with a loopback Host header, against DNS rebinding) or with
 * `--admin-open`, whatever credential comes along; otherwise a credential is required.
 */
export function decideAccess(access: RouteAccess | undefined, req: RequestFacts, mode: AccessMode): AccessDecision {
  const method = req.method.toUpperCase();
  const writes = access === undefined || access.kind === 'write' || !SAFE_METHODS.has(method);
  if (access?.kind === 'public' && SAFE_METHODS.has(method)) return { outcome: 'allow' };
  const need = needOf(access);
  if (writes) {
    const oh = req.origin !== undefined && req.origin !== 'null' ? originHost(req.origin) : undefined;
    if (req.origin === 'null' || (req.origin !== undefined && (oh === undefined || oh !== req.host))) {
      return { outcome: 'refuse', status: 403, reason: 'cross-origin', message: `meshd admin: cross-origin request refused (Origin ${req.origin} is not this server)` };
    }
    if (req.secFetchSite === 'cross-site') {
      return { outcome: 'refuse', status: 403, reason: 'cross-origin', message: 'meshd admin: cross-site request refused' };
    }
    const ct = (req.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    if (ct !== 'application/json') {
      return { outcome: 'refuse', status: 415, reason: 'content-type', message: `meshd admin: a request that changes state must have Content-Type: application/json (got ${req.contentType ? JSON.stringify(req.contentType) : 'none'})` };
    }
    if (!req.hasCredential) {
      return { outcome: 'refuse', status: 401, reason: 'no-credential', message: `meshd admin: this request changes state and needs a credential: ${CREDENTIAL_HINT} to ${need.verb} ${need.resource}.meshd.dev` };
    }
    return { outcome: 'authenticate', need };
  }
  if (mode.exposed && !mode.open) {
    if (!req.hasCredential) {
      return { outcome: 'refuse', status: 401, reason: 'no-credential', message: `meshd admin: meshd listens on a non-loopback address, so this endpoint needs a credential (or start meshd with --admin-open): ${CREDENTIAL_HINT} to ${need.verb} ${need.resource}.meshd.dev` };
    }
    return { outcome: 'authenticate', need };
  }
  // Open reads ignore any credential (a stale token never breaks them), but on loopback the
  // Host must be a loopback name: a page that rebinds its DNS name to 127.0.0.1 gets nothing.
  if (!mode.exposed && req.host !== undefined && !isLoopback(hostOf(req.host))) {
    if (req.hasCredential) return { outcome: 'authenticate', need };
    return { outcome: 'refuse', status: 403, reason: 'host', message: `meshd admin: Host ${JSON.stringify(req.host)} is not a loopback name; use http://127.0.0.1:<admin port>` };
  }
  return { outcome: 'allow' };
}

/**
 * meshctl's client for meshd's admin port: `--meshd URL`, and the admin token found by itself
 * (`--token`, `$MESHD_ADMIN_TOKEN`, or `<--state-dir>/admin-token`). Every failure is a
 * CliError with one line saying what to do; no stack trace reaches the user.
 */
import { readAdminToken, adminTokenPath } from '../admin/admin-token.js';
import type { FlagSpec, FlagValues } from '../util/flags.js';

/** A failure meant for the user: printed as one line, exit status 1. */
export class CliError extends Error {
  readonly code = 'CLI_ERROR';
}

/** `--meshd`, `--state-dir`, `--token`: shared by every command that talks to meshd. */
export const ADMIN_FLAGS: readonly FlagSpec[] = [
  { name: 'meshd', env: 'MESHD_ADDR', type: 'string', default: 'http://127.0.0.1:15014', help: 'meshd\'s admin URL' },
  { name: 'state-dir', env: 'MESHD_STATE_DIR', type: 'string', default: 'state', help: 'meshd\'s state dir, where meshctl reads the admin token (admin-token)' },
  { name: 'token', env: 'MESHD_ADMIN_TOKEN', type: 'string', help: 'admin bearer token (default: read from --state-dir)' },
];

/** The admin URL without a trailing slash; `host:port` gets `http://`. */
export function adminBase(v: unknown): string {
  const s = String(v ?? 'http://127.0.0.1:15014');
  return (/^https?:\/\//.test(s) ? s : `http://${s}`).replace(/\/+$/, '');
}

function causeOf(e: unknown): string {
  if (e instanceof Error && e.cause instanceof Error) return e.cause.message;
  return e instanceof Error ? e.message : String(e);
}

/** Talks to one meshd. */
export class AdminClient {
  readonly base: string;
  private readonly token: string | undefined;
  private readonly tokenSource: string;

  constructor(v: FlagValues) {
    this.base = adminBase(v.meshd);
    const explicit = v.token ? String(v.token) : undefined;
    const dir = String(v['state-dir'] ?? 'state');
    this.token = explicit ?? readAdminToken(dir);
    this.tokenSource = explicit ? '--token' : this.token ? adminTokenPath(dir) : `no token in ${adminTokenPath(dir)}`;
  }

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(init.headers as Record<string, string> | undefined) };
    let r: Response;
    try {
      r = await fetch(this.base + path, { ...init, headers, signal: AbortSignal.timeout(15_000) });
    } catch (e) {
      throw new CliError(`cannot reach meshd at ${this.base} (${causeOf(e)}): is it running? Point at it with --meshd URL or $MESHD_ADDR`);
    }
    if (r.status === 401 || r.status === 403) {
      const msg = await errorText(r);
      throw new CliError(`meshd refused ${path.split('?')[0]} (${r.status}): ${msg} [meshctl presented: ${this.tokenSource}]`);
    }
    return r;
  }

  /** GETs JSON; a 404 or other error becomes a CliError with meshd's message. */
  async get<T>(path: string): Promise<T> {
    const r = await this.call(path);
    if (!r.ok) throw new CliError(`meshd at ${this.base} answered ${r.status} for ${path.split('?')[0]}: ${await errorText(r)}`);
    try { return await r.json() as T; } catch { throw new CliError(`meshd at ${this.base} sent something that is not JSON for ${path}: is this meshd's admin port (default 15014)?`); }
  }

  /** GETs text (metrics). */
  async text(path: string): Promise<string> {
    const r = await this.call(path, { headers: { accept: 'text/plain' } });
    if (!r.ok) throw new CliError(`meshd at ${this.base} answered ${r.status} for ${path}: ${await errorText(r)}`);
    return r.text();
  }

  /** Raw status for readiness checks (no error on 503). */
  async status(path: string): Promise<number> {
    return (await this.call(path, { headers: { accept: 'text/plain' } })).status;
  }

  /** POSTs a JSON body; returns status and parsed body (errors stay data for the caller). */
  async post(path: string, body: unknown = {}): Promise<{ ok: boolean; status: number; body: unknown }> {
    const r = await this.call(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await r.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* plain text */ }
    return { ok: r.ok, status: r.status, body: parsed };
  }
}

/** meshd's `{error}` message, or the body's first 300 characters. */
export async function errorText(r: Response): Promise<string> {
  const text = await r.text();
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    return String(j.error ?? j.message ?? text).slice(0, 500);
  } catch { return text.slice(0, 300); }
}

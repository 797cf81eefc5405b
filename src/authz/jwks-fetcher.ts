/**
 * JWKS for `jwksUri` rules, fetched by meshd (so sidecars need no egress) and served inline
 * through the snapshot. Each URI is fetched when it first appears, then refreshed; a failed
 * fetch keeps the last good keys and is a diagnostic, a log line and a metric. A URI no
 * RequestAuthentication uses any more is dropped.
 */
import { Counter, type Registry } from 'prom-client';
import type { Diagnostic, MeshSnapshot } from '../model/types.js';
import type { Logger } from '../util/log.js';
import { jwksProblem } from './parse-request-authn.js';

export interface JwksFetcherOptions {
  /** Called when the keys of some URI changed (meshd rebuilds its snapshot). */
  readonly onChange: () => void;
  readonly registry?: Registry;
  readonly log?: Logger;
  /** Refresh of good keys; default 20 minutes (Istio's default JWKS refresh). */
  readonly refreshMs?: number;
  /** Retry after a failure; default 30 s. */
  readonly retryMs?: number;
  /** Per fetch; default 10 s. */
  readonly timeoutMs?: number;
  /** Bodies larger than this are refused; default 1 MiB. */
  readonly maxBytes?: number;
  readonly fetch?: typeof fetch;
}

export interface JwksFetcher {
  /** Sets the URIs in use: new ones are fetched now, unused ones forgotten. */
  want(uris: readonly string[]): void;
  /** The last good JWKS per URI (JSON text). */
  current(): Readonly<Record<string, string>>;
  /** A warning per URI whose last fetch failed. */
  diagnostics(): readonly Diagnostic[];
  /** Resolves when no fetch is under way (tests). */
  idle(): Promise<void>;
  close(): void;
}

interface Entry { keys?: string; fetchedAt?: number; error?: string; timer?: ReturnType<typeof setTimeout>; running?: Promise<void> }

/** The `jwksUri`s of every RequestAuthentication in a snapshot, sorted. */
export function jwksUrisOf(snapshot: MeshSnapshot): string[] {
  const s = new Set<string>();
  for (const p of snapshot.requestAuthentications ?? []) for (const r of p.jwtRules) if (r.jwksUri) s.add(r.jwksUri);
  return [...s].sort();
}

/** Creates the fetcher; nothing is fetched until `want`. */
export function createJwksFetcher(o: JwksFetcherOptions): JwksFetcher {
  const entries = new Map<string, Entry>();
  const failures = o.registry ? new Counter({ name: 'meshd_jwks_fetch_failures_total', help: 'JWKS fetches (jwksUri of a RequestAuthentication) that failed; the last good keys stay in force.', labelNames: ['uri'], registers: [o.registry] }) : undefined;
  const fetches = o.registry ? new Counter({ name: 'meshd_jwks_fetches_total', help: 'JWKS fetches attempted.', registers: [o.registry] }) : undefined;
  const doFetch = o.fetch ?? fetch;
  let closed = false;
  let snapshot: Readonly<Record<string, string>> = Object.freeze({});
  const rebuild = (): void => {
    const next: Record<string, string> = {};
    for (const [uri, e] of [...entries].sort(([a], [b]) => (a < b ? -1 : 1))) if (e.keys !== undefined) next[uri] = e.keys;
    snapshot = Object.freeze(next);
  };

  async function load(uri: string): Promise<string> {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), o.timeoutMs ?? 10_000);
    try {
      const r = await doFetch(uri, { signal: ctl.signal, redirect: 'follow' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const text = await r.text();
      if (text.length > (o.maxBytes ?? 1 << 20)) throw new Error(`the response is larger than ${o.maxBytes ?? 1 << 20} bytes`);
      const problem = jwksProblem(text);
      if (problem) throw new Error(`the response ${problem}`);
      return JSON.stringify(JSON.parse(text));
    } finally {
      clearTimeout(t);
    }
  }

  function schedule(uri: string, e: Entry, ms: number): void {
    if (closed) return;
    e.timer = setTimeout(() => run(uri, e), ms);
    e.timer.unref();
  }

  function run(uri: string, e: Entry): void {
    fetches?.inc();
    e.running = load(uri).then((keys) => {
      if (entries.get(uri) !== e) return;
      const changed = keys !== e.keys || e.error !== undefined;
      e.keys = keys; e.fetchedAt = Date.now(); delete e.error;
      if (changed) { rebuild(); o.onChange(); }
      schedule(uri, e, o.refreshMs ?? 20 * 60_000);
    }, (err: unknown) => {
      if (entries.get(uri) !== e) return;
      const msg = err instanceof Error ? (err.name === 'AbortError' ? 'timed out' : err.message) : String(err);
      const changed = e.error !== msg;
      e.error = msg;
      failures?.inc({ uri });
      o.log?.warn('jwks: fetch failed', { uri, error: msg, keptKeys: e.keys !== undefined });
      if (changed) o.onChange();
      schedule(uri, e, o.retryMs ?? 30_000);
    }).finally(() => { delete e.running; });
  }

  return {
    want(uris) {
      const set = new Set(uris);
      let dropped = false;
      for (const [uri, e] of entries) if (!set.has(uri)) { if (e.timer) clearTimeout(e.timer); entries.delete(uri); dropped = true; }
      if (dropped) rebuild();
      for (const uri of set) {
        if (entries.has(uri)) continue;
        const e: Entry = {};
        entries.set(uri, e);
        run(uri, e);
      }
    },
    current: () => snapshot,
    diagnostics() {
      const out: Diagnostic[] = [];
      for (const [uri, e] of [...entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (e.error === undefined) continue;
        const kept = e.keys !== undefined ? `the keys fetched at ${new Date(e.fetchedAt!).toISOString()} stay in force` : 'no keys yet: tokens of this issuer are rejected (401)';
        out.push({ severity: 'warning', source: uri, kind: 'JWKS', field: 'jwksUri', message: `fetch failed: ${e.error}; ${kept}` });
      }
      return out;
    },
    async idle() { await Promise.all([...entries.values()].map((e) => e.running)); },
    close() {
      closed = true;
      for (const e of entries.values()) if (e.timer) clearTimeout(e.timer);
      entries.clear();
    },
  };
}

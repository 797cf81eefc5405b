/**
 * Walks every route of a running meshd's admin port, as fastify registered them (the `/debug`
 * index is built from fastify's onRoute registrations, so a route added later shows up here
 * by itself), as an anonymous client and as a client with a wrong credential, and checks each
 * outcome against the rules: nothing undecided; every debug view closed to the public; writes
 * always 401/403 without the right credential; reads 401/403 only when exposed.
 */
import assert from 'node:assert/strict';

export interface IndexEntry { method: string; path: string; access: 'public' | 'read' | 'write' | 'undecided'; needs?: string; description: string }

export interface WalkOptions {
  readonly base: string;
  /** meshd listens on a non-loopback address without --admin-open: reads need a credential. */
  readonly readsClosed: boolean;
  /** Credentials that must be refused (a workload's join token, a random string, a token RBAC does not allow). */
  readonly wrongTokens: readonly string[];
  /** Everything a refused write could have changed, as text (compared before and after). */
  readonly state: () => Promise<string>;
}

/** A request URL for a route path (`:file` → `index.html`). */
export function concretePath(path: string): string {
  return path.replace(/:file\b/, 'index.html').replace(/:[a-z]+/gi, 'x');
}

/** The `/debug` index (public). */
export async function routeIndex(base: string): Promise<IndexEntry[]> {
  const r = await fetch(`${base}/debug`);
  assert.equal(r.status, 200, '/debug index is public');
  return (await r.json() as { routes: IndexEntry[] }).routes;
}

/** Walks every route; returns how many requests were made per outcome class. */
export async function walkAdminRoutes(o: WalkOptions): Promise<{ routes: number; requests: number }> {
  const routes = await routeIndex(o.base);
  assert.ok(routes.length >= 15, `the index lists meshd's routes (${routes.length})`);
  const before = await o.state();
  let requests = 0;
  const ask = async (e: IndexEntry, token?: string): Promise<{ status: number; body: string }> => {
    requests++;
    const write = !['GET', 'HEAD', 'OPTIONS'].includes(e.method);
    const r = await fetch(`${o.base}${concretePath(e.path)}`, {
      method: e.method, redirect: 'manual',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(write ? { 'content-type': 'application/json' } : {}) },
      ...(write ? { body: '{}' } : {}),
    });
    return { status: r.status, body: await r.text() };
  };
  for (const e of routes) {
    const what = `${e.method} ${e.path}`;
    assert.notEqual(e.access, 'undecided', `${what} was registered without an access decision: give it route(access, description)`);
    assert.ok(e.description.length > 0, `${what} has a description for the index`);
    if (e.path.startsWith('/debug/') || e.path.startsWith('/ca/')) assert.notEqual(e.access, 'public', `${what} shows identities or config and must not be public`);
    if (!['GET', 'HEAD'].includes(e.method)) assert.equal(e.access, 'write', `${what} changes state and must be a write route`);
    const anon = await ask(e);
    const closed = e.access === 'write' || (e.access === 'read' && o.readsClosed);
    if (closed) {
      assert.equal(anon.status, 401, `${what} anonymous: ${anon.status} ${anon.body}`);
      assert.match(anon.body, /admin-token/, `${what}: the 401 says what to present`);
    } else {
      assert.ok(anon.status !== 401 && anon.status !== 403, `${what} anonymous should pass: ${anon.status} ${anon.body}`);
    }
    for (const t of o.wrongTokens) {
      const wrong = await ask(e, t);
      if (closed) assert.equal(wrong.status, 403, `${what} with a wrong credential: ${wrong.status} ${wrong.body}`);
      else assert.ok(wrong.status !== 401 && wrong.status !== 403, `${what} with an ignored credential should pass: ${wrong.status} ${wrong.body}`);
    }
  }
  assert.equal(await o.state(), before, 'no refused request changed anything');
  return { routes: routes.length, requests };
}

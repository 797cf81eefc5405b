/**
 * The reviews canary, shown with real traffic: requests go through frontend's Envoy to the
 * `reviews` Service and are counted by the version that answered (each app says its name);
 * the shift is an edit of the VirtualService's weights in the demo's config folder, which
 * meshd watches, and is confirmed in frontend's Envoy (its config_dump) before counting again.
 * `npm run demo:canary` (canary-main.ts) and test/e2e/demo-canary.test.ts both use this.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import YAML from 'yaml';
import { DemoError } from './checks.js';
import { CANARY_FILE, DEMO_NAMESPACE } from './topology.js';

/** The share of each subset, in the VirtualService's own units (the demo's sum to 100). */
export interface CanaryWeights {
  readonly v1: number;
  readonly v2: number;
}

/** Where requests to reviews go: frontend's sidecar outbound listener, with reviews' Host. */
export interface CanaryTarget {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
}

/** Requests counted by who answered. */
export interface CanaryCount {
  /** Answers per app name (reviews-v1, reviews-v2). */
  readonly byApp: Readonly<Record<string, number>>;
  /** Requests that did not end in a 200 from a reviews app. */
  readonly failed: number;
  /** Up to five of the failures, for the report. */
  readonly failures: readonly string[];
  readonly total: number;
}

type Route = { destination?: { host?: string; subset?: string }; weight?: number };
type VirtualServiceJs = { kind?: string; metadata?: { name?: string }; spec?: { http?: { route?: Route[] }[] } };

function isReviewsVs(o: unknown): boolean {
  const v = o as VirtualServiceJs | null;
  return v?.kind === 'VirtualService' && v.metadata?.name === 'reviews';
}

/** The weights of the last HTTP rule of VirtualService `reviews` in `<configDir>/50-reviews-canary.yaml`; throws when the file has none. */
export function readCanaryWeights(configDir: string): CanaryWeights {
  const file = join(configDir, CANARY_FILE);
  const vs = YAML.parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as unknown).find(isReviewsVs) as VirtualServiceJs | undefined;
  const routes = vs?.spec?.http?.at(-1)?.route ?? [];
  const weight = (subset: string): number | undefined => {
    const r = routes.find((x) => x.destination?.subset === subset);
    return r ? r.weight ?? (routes.length === 1 ? 100 : 0) : undefined;
  };
  const v1 = weight('v1');
  const v2 = weight('v2');
  if (v1 === undefined && v2 === undefined) throw new DemoError('config-invalid', `${file}: no VirtualService reviews routing to subsets v1/v2 (npm run demo -- --reset rewrites it)`);
  return { v1: v1 ?? 0, v2: v2 ?? 0 };
}

/**
 * Sets the weights of the reviews VirtualService's last HTTP rule (both destinations, v1 then
 * v2) in the canary file, keeping its comments; returns the file written.
 */
export function writeCanaryWeights(configDir: string, w: CanaryWeights): string {
  const file = join(configDir, CANARY_FILE);
  const docs = YAML.parseAllDocuments(readFileSync(file, 'utf8'));
  const doc = docs.find((d) => isReviewsVs(d.toJS()));
  const http = doc?.getIn(['spec', 'http']) as YAML.YAMLSeq | undefined;
  if (!doc || !http || http.items.length === 0) throw new DemoError('config-invalid', `${file}: no VirtualService reviews with an http rule (npm run demo -- --reset rewrites it)`);
  const i = http.items.length - 1;
  doc.setIn(['spec', 'http', i, 'route'], doc.createNode([
    { destination: { host: 'reviews', subset: 'v1' }, weight: w.v1 },
    { destination: { host: 'reviews', subset: 'v2' }, weight: w.v2 },
  ]));
  writeFileSync(file, docs.map((d) => d.toString({ indentSeq: false })).join(''));
  return file;
}

/** One GET through the target; resolves with the answering app's name, or a failure text. */
export function reviewsOnce(t: CanaryTarget, timeoutMs = 5000): Promise<{ app?: string; failure?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: t.host, port: t.port, path: '/reviews/1', method: 'GET', agent: false, timeout: timeoutMs, headers: { host: t.hostHeader } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        let app: string | undefined;
        try { app = (JSON.parse(body) as { app?: string }).app; } catch { /* an Envoy reply, not our app's JSON */ }
        if (res.statusCode === 200 && app) resolve({ app });
        else resolve({ failure: `${res.statusCode} ${body.slice(0, 80)}` });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ failure: e.code ?? e.message }));
    req.end();
  });
}

function tally(results: readonly { app?: string; failure?: string }[]): CanaryCount {
  const byApp: Record<string, number> = {};
  const failures: string[] = [];
  for (const r of results) {
    if (r.app) byApp[r.app] = (byApp[r.app] ?? 0) + 1;
    else failures.push(r.failure ?? 'unknown');
  }
  return { byApp, failed: failures.length, failures: failures.slice(0, 5), total: results.length };
}

/** `n` requests, `concurrency` in flight, counted by version. */
export async function countReviews(t: CanaryTarget, n: number, concurrency = 4): Promise<CanaryCount> {
  const results: { app?: string; failure?: string }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) { next++; results.push(await reviewsOnce(t)); }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return tally(results);
}

/** Requests in a loop until stopped (the traffic a shift happens under); `stop` resolves with the count. */
export function backgroundReviews(t: CanaryTarget, concurrency = 2): { stop(): Promise<CanaryCount> } {
  const results: { app?: string; failure?: string }[] = [];
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) results.push(await reviewsOnce(t));
  };
  const workers = Array.from({ length: concurrency }, worker);
  return { async stop() { running = false; await Promise.all(workers); return tally(results); } };
}

/**
 * The reviews split frontend's Envoy has now (from its admin config_dump), in percent, or
 * undefined when it has no route to reviews yet. A single-cluster route counts as 100 %.
 */
export async function envoyReviewsSplit(envoyAdmin: string): Promise<CanaryWeights | undefined> {
  const r = await fetch(`${envoyAdmin}/config_dump?resource=dynamic_route_configs`);
  if (!r.ok) return undefined;
  const host = `reviews.${DEMO_NAMESPACE}.svc.cluster.local`;
  const shares: Record<string, number> = {};
  // Walk the dump for the route actions that target reviews' subset clusters (outbound|port|subset|host).
  const visit = (o: unknown): boolean => {
    if (Array.isArray(o)) return o.some(visit);
    if (!o || typeof o !== 'object') return false;
    const rec = o as Record<string, unknown>;
    const subsetOf = (name: unknown): string | undefined => {
      const p = typeof name === 'string' ? name.split('|') : [];
      return p.length === 4 && p[3] === host ? p[2] : undefined;
    };
    const wc = (rec.weighted_clusters as { clusters?: { name?: string; weight?: number }[] } | undefined)?.clusters;
    if (wc && wc.some((c) => subsetOf(c.name))) {
      for (const c of wc) { const s = subsetOf(c.name); if (s) shares[s] = (shares[s] ?? 0) + Number(c.weight ?? 0); }
      return true;
    }
    const single = subsetOf(rec.cluster);
    if (single && typeof rec.cluster === 'string') { shares[single] = 1; return true; }
    return Object.values(rec).some(visit);
  };
  if (!visit(await r.json())) return undefined;
  const total = Object.values(shares).reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  return { v1: ((shares.v1 ?? 0) * 100) / total, v2: ((shares.v2 ?? 0) * 100) / total };
}

/** The weights as percentages (the VirtualService's units need not sum to 100). */
export function percent(w: CanaryWeights): CanaryWeights {
  const total = w.v1 + w.v2;
  return total > 0 ? { v1: (w.v1 * 100) / total, v2: (w.v2 * 100) / total } : { v1: 0, v2: 0 };
}

/** What runCanary needs: the demo's config folder, frontend's Envoy and sidecar, and the new weights. */
export interface CanaryRunOptions {
  readonly configDir: string;
  /** frontend's Envoy admin URL (the shift is confirmed there). */
  readonly frontendAdmin: string;
  readonly target: CanaryTarget;
  /** Requests counted before and after the shift. */
  readonly requests: number;
  readonly to: CanaryWeights;
  /** How long to wait for frontend's Envoy to have the new route. */
  readonly timeoutMs?: number;
  readonly print: (line: string) => void;
}

/** What runCanary saw: the weights before and after, and the counts before, during and after the shift. */
export interface CanaryRun {
  readonly from: CanaryWeights;
  readonly to: CanaryWeights;
  readonly before: CanaryCount;
  /** The requests sent while the file was edited and the route pushed. */
  readonly during: CanaryCount;
  readonly after: CanaryCount;
  /** From the save to frontend's Envoy having the new split. */
  readonly appliedMs: number;
}

function fmtWeights(w: CanaryWeights): string {
  return `v1 ${w.v1}, v2 ${w.v2}`;
}

function printCount(print: (line: string) => void, title: string, c: CanaryCount): void {
  print(title);
  for (const app of ['reviews-v1', 'reviews-v2', ...Object.keys(c.byApp).filter((a) => !a.startsWith('reviews-v')).sort()]) {
    const n = c.byApp[app] ?? 0;
    print(`  ${app.padEnd(11)} ${String(n).padStart(5)}  ${((n * 100) / Math.max(1, c.total)).toFixed(1).padStart(5)} %`);
  }
  print(`  ${'failed'.padEnd(11)} ${String(c.failed).padStart(5)}${c.failures.length ? `  (${c.failures.join('; ')})` : ''}`);
}

/**
 * Counts, shifts, counts again: `requests` through frontend's sidecar, then the VirtualService
 * rewritten to `to` under background traffic until frontend's Envoy has the new split, then
 * `requests` more. Prints as it goes; resolves with every count.
 */
export async function runCanary(o: CanaryRunOptions): Promise<CanaryRun> {
  const from = readCanaryWeights(o.configDir);
  const { print, target } = o;
  print(`VirtualService reviews (${CANARY_FILE}): ${fmtWeights(from)}`);
  const before = await countReviews(target, o.requests);
  let duringCount: CanaryCount = { byApp: {}, failed: 0, failures: [], total: 0 };
  printCount(print, `${o.requests} requests through frontend's sidecar (${target.host}:${target.port}, Host ${target.hostHeader}):`, before);
  print('');
  const load = backgroundReviews(target);
  const t0 = performance.now();
  let appliedMs: number | undefined;
  try {
    writeCanaryWeights(o.configDir, o.to);
    print(`saved ${fmtWeights(o.to)} in ${CANARY_FILE}, with requests still flowing...`);
    appliedMs = await waitForSplit(o.frontendAdmin, percent(o.to), o.timeoutMs ?? 30_000).then((ok) => (ok ? performance.now() - t0 : undefined));
    // A little more traffic on the new route before the count during the shift closes.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    const during = await load.stop();
    if (appliedMs !== undefined) print(`frontend's Envoy had the new split ${(appliedMs / 1000).toFixed(2)} s after the save (its config_dump)`);
    printCount(print, `${during.total} requests sent during the shift:`, during);
    print('');
    duringCount = during;
  }
  if (appliedMs === undefined) throw new DemoError('canary-not-applied', `frontend's Envoy did not get the new reviews split within ${(o.timeoutMs ?? 30_000) / 1000} s (see the demo's logs/meshd.log)`);
  const after = await countReviews(target, o.requests);
  printCount(print, `${o.requests} requests after the shift:`, after);
  return { from, to: o.to, before, during: duringCount, after, appliedMs };
}

/** Polls frontend's Envoy until its reviews split is `want` (percent); false on timeout. */
async function waitForSplit(envoyAdmin: string, want: CanaryWeights, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const have = await envoyReviewsSplit(envoyAdmin).catch(() => undefined);
    if (have && Math.abs(have.v1 - want.v1) < 0.01 && Math.abs(have.v2 - want.v2) < 0.01) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

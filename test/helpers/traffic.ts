/**
 * Pieces shared by the real-Envoy tests of Istio's traffic API (file store and Kubernetes):
 * the reviews canary config, a load generator, plain status apps without sidecars, an
 * "external" HTTPS app on loopback, and the outbound clusters of an Envoy's config dump.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { HttpResult } from './apps.js';
import type { RunningEnvoy } from './envoy.js';
import { freePort } from './ports.js';

/**
 * The reviews canary of Istio's docs in namespace `ns`: a DestinationRule with subsets v1/v2
 * (label `version`), and a VirtualService: header `x-tester: yes` → v2; `/sleep` with a 0.5 s
 * timeout, `/flaky` with 3 retries on 5xx, `/abort` 503 at 50 %, `/delay` 1 s, `/mirror` copied
 * to `shadow` (all to v1); everything else split `v1`/`v2` by weight.
 */
export function reviewsRouting(ns: string, v1: number, v2: number): unknown[] {
  return [
    {
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: ns },
      spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
    },
    {
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: ns },
      spec: {
        hosts: ['reviews'],
        http: [
          { match: [{ headers: { 'x-tester': { exact: 'yes' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
          { match: [{ uri: { prefix: '/sleep' } }], timeout: '0.5s', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
          { match: [{ uri: { prefix: '/flaky' } }], retries: { attempts: 3, retryOn: '5xx' }, route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
          { match: [{ uri: { prefix: '/abort' } }], fault: { abort: { httpStatus: 503, percentage: { value: 50 } } }, route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
          { match: [{ uri: { prefix: '/delay' } }], fault: { delay: { fixedDelay: '1s', percentage: { value: 100 } } }, route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
          { match: [{ uri: { prefix: '/mirror' } }], mirror: { host: 'shadow' }, route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
          { route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: v1 }, { destination: { host: 'reviews', subset: 'v2' }, weight: v2 }] },
        ],
      },
    },
  ];
}

/** Runs `n` calls with `concurrency` in flight; returns every result (connection errors as status 0). */
export async function many(n: number, concurrency: number, call: (i: number) => Promise<HttpResult>): Promise<HttpResult[]> {
  const out: HttpResult[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      try { out.push(await call(i)); } catch (e) { out.push({ status: 0, body: String(e), headers: {} }); }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** The `app` an echo or status app named in its JSON body, else `status <code>`. */
export const appOf = (r: HttpResult): string => { try { return (JSON.parse(r.body) as { app: string }).app; } catch { return `status ${r.status}`; } };

/** A few results as text for an assertion message: status, Envoy's response flags, body start. */
export const summarize = (rs: readonly HttpResult[], most = 3): string =>
  rs.slice(0, most).map((r) => `${r.status} ${String(r.headers['x-envoy-response-flags'] ?? '')} ${r.body.slice(0, 120)}`).join('; ');

export interface StatusApp { readonly server: Server; hits: number; close(): Promise<void> }

/** A plain HTTP app answering `status` after `delayMs`, with a JSON body naming it. */
export async function statusApp(name: string, host: string, port: number, status: number, delayMs = 0): Promise<StatusApp> {
  const app: { hits: number } = { hits: 0 };
  const server = createServer((req, res) => {
    app.hits++;
    req.resume();
    setTimeout(() => { res.statusCode = status; res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ app: name })); }, delayMs);
  });
  // Longer than any quiet spell in a test or the demo: an app that closes an idle keep-alive
  // connection while its sidecar reuses it gets a 503 "connection termination" (the classic
  // keep-alive race, Envoy's upstream idle timeout being 1 h), which would look like a mesh failure.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  return Object.assign(app, { server, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) });
}

export interface ExternalHttpsApp {
  readonly port: number;
  /** The app's self-signed certificate (PEM file): the CA a DestinationRule's tls names. */
  readonly cert: string;
  /** SNI and encryption of each request seen. */
  readonly seen: { servername: string | false; encrypted: boolean }[];
  close(): Promise<void>;
}

/**
 * An HTTPS app on 127.0.0.1 standing in for the external `host`: a self-signed P-256
 * certificate for it (written to `dir`), answering `{tls, sni}`.
 */
export async function externalHttpsApp(dir: string, host: string): Promise<ExternalHttpsApp> {
  const key = join(dir, 'ext-key.pem');
  const cert = join(dir, 'ext-cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`], { stdio: 'ignore' });
  const seen: ExternalHttpsApp['seen'] = [];
  const https = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const s = req.socket as TLSSocket & { servername?: string | false };
    seen.push({ servername: s.servername ?? false, encrypted: s.encrypted === true });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ tls: s.encrypted === true, sni: s.servername }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => https.listen(port, '127.0.0.1', resolve));
  return { port, cert, seen, close: async () => { https.closeAllConnections(); await new Promise((r) => https.close(r)); } };
}

/** An Envoy's dynamic (active) clusters as its config dump shows them. */
export async function dynamicClusters(envoy: RunningEnvoy): Promise<({ name: string } & Record<string, unknown>)[]> {
  const dump = await envoy.configDump();
  const cds = dump.configs.find((c) => String(c['@type']).endsWith('ClustersConfigDump')) as { dynamic_active_clusters?: { cluster: { name: string } & Record<string, unknown> }[] } | undefined;
  return (cds?.dynamic_active_clusters ?? []).map((c) => c.cluster);
}

/** The names of an Envoy's dynamic `outbound|…` clusters, sorted. */
export async function outboundClusters(envoy: RunningEnvoy): Promise<string[]> {
  return (await dynamicClusters(envoy)).map((c) => c.name).filter((n) => n.startsWith('outbound|')).sort();
}

/** The names of an Envoy's dynamic listeners. */
export async function listenerNames(envoy: RunningEnvoy): Promise<string[]> {
  return (await envoy.configDump('dynamic_listeners')).configs.map((c) => String(c.name));
}

/**
 * The admission webhooks (AdmissionReview v1) on their own HTTPS port (env
 * `MESHD_WEBHOOK_PORT`, default 15017) with a certificate from meshd's CA:
 * - `POST /inject`: mutating; adds the sidecar (src/k8s/inject.ts) as a JSON patch;
 * - `POST /validate`: validating; every kind meshd reads from a custom resource (the Istio
 *   security, networking and telemetry kinds, GAMMA routes) checked by the same parsers as the file store,
 *   refused with the same `formatDiagnostic` text (a Gateway API route attached only to
 *   Gateways is a gateway controller's: the parser does not judge its rules).
 * A malformed request gets HTTP 400 with a message and never affects meshd's state.
 */
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRecord } from '../config/fields.js';
import { isCustomResourceKind, parseObject } from '../config/parse.js';
import { formatDiagnostic } from '../model/types.js';
import type { Logger } from '../util/log.js';
import { injectionPatch, injectPod, type InjectOptions } from './inject.js';

export const DEFAULT_WEBHOOK_PORT = 15017;
const MAX_BODY = 3 * 1024 * 1024;

type Review = Record<string, unknown>;
export type AdmissionResponse = Record<string, unknown> & { readonly uid: string; readonly allowed: boolean };

/** A request that is not an AdmissionReview v1 with a `request.uid`. */
export class BadReviewError extends Error {}

function requestOf(review: unknown): Record<string, unknown> & { uid: string } {
  if (!isRecord(review)) throw new BadReviewError('body must be a JSON object (an AdmissionReview)');
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    throw new BadReviewError(`expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got ${String(review.apiVersion)} ${String(review.kind)}`);
  }
  const req = review.request;
  if (!isRecord(req) || typeof req.uid !== 'string' || req.uid === '') throw new BadReviewError('request.uid is required');
  return req as Record<string, unknown> & { uid: string };
}

/** Wraps a response in an AdmissionReview v1. */
export function reviewResponse(response: AdmissionResponse): Review {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** Mutating admission: pods get the sidecar unless they opt out; anything else is allowed unchanged. */
export function admitInjection(review: unknown, o: InjectOptions): AdmissionResponse {
  const req = requestOf(review);
  const obj = req.object;
  const kind = isRecord(req.kind) ? req.kind.kind : undefined;
  if (kind !== 'Pod' || !isRecord(obj) || req.operation !== 'CREATE') return { uid: req.uid, allowed: true };
  const r = injectPod(obj.metadata, obj.spec, o);
  // A bad lifecycle annotation or probe refuses the pod with a message naming them: nothing
  // starts half-meshed, and the owner sees why (a Deployment's ReplicaSet events).
  if (!r.injected && r.errors) return { uid: req.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `meshd sidecar injection: ${r.errors.join('; ')}` } };
  if (!r.injected) return { uid: req.uid, allowed: true, auditAnnotations: { 'meshd.dev/injection': `skipped: ${r.reason}` } };
  const patch = injectionPatch(obj, r);
  return { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') };
}

/** Validating admission for the kinds meshd reads from custom resources: errors deny, warnings ride along. */
export function admitValidation(review: unknown): AdmissionResponse {
  const req = requestOf(review);
  if (req.operation === 'DELETE' || !isRecord(req.object)) return { uid: req.uid, allowed: true };
  const obj = { ...req.object };
  if (typeof req.namespace === 'string' && isRecord(obj.metadata) && obj.metadata.namespace === undefined) {
    obj.metadata = { ...obj.metadata, namespace: req.namespace };
  }
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  if (!isCustomResourceKind(kind)) return { uid: req.uid, allowed: true };
  const r = parseObject(obj, { source: 'k8s', defaultNamespace: typeof req.namespace === 'string' ? req.namespace : 'default' });
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  const warnings = r.diagnostics.filter((d) => d.severity === 'warning').map(formatDiagnostic);
  if (r.status === 'invalid' || errors.length > 0) {
    return {
      uid: req.uid, allowed: false,
      status: { code: 422, reason: 'Invalid', message: errors.map(formatDiagnostic).join('\n') || 'invalid object' },
      ...(warnings.length ? { warnings } : {}),
    };
  }
  return { uid: req.uid, allowed: true, ...(warnings.length ? { warnings } : {}) };
}

export interface WebhookServer {
  readonly port: number;
  /** Swaps in a renewed certificate. */
  setCertificate(certChainPem: string, privateKeyPem: string): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new BadReviewError(`body larger than ${MAX_BODY} bytes`)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the HTTPS webhook server on `host:port` (0 picks a free port). */
export async function startWebhookServer(o: {
  host: string; port: number; certChainPem: string; privateKeyPem: string; inject: InjectOptions; log: Logger;
  onRequest?: (path: string, allowed: boolean) => void;
}): Promise<WebhookServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (code: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method === 'GET' && path === '/ready') return send(200, { ok: true });
    if (req.method !== 'POST' || (path !== '/inject' && path !== '/validate')) return send(404, { error: 'POST /inject or /validate' });
    try {
      const text = await readBody(req);
      let review: unknown;
      try { review = JSON.parse(text); } catch (e) { throw new BadReviewError(`body is not JSON: ${e instanceof Error ? e.message : String(e)}`); }
      const response = path === '/inject' ? admitInjection(review, o.inject) : admitValidation(review);
      o.onRequest?.(path, response.allowed);
      if (!response.allowed) o.log.info('webhook: denied', { path, uid: response.uid, status: response.status });
      send(200, reviewResponse(response));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof BadReviewError) {
        o.log.warn('webhook: malformed request', { path, error: msg });
        return send(400, { error: `meshd webhook: malformed AdmissionReview: ${msg}` });
      }
      o.log.error('webhook: internal error', { path, error: msg });
      send(500, { error: `meshd webhook: ${msg}` });
    }
  };
  const server = https.createServer({ cert: o.certChainPem, key: o.privateKeyPem }, (req, res) => { void handle(req, res); });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen on ${o.host}:${o.port} for the webhooks (MESHD_WEBHOOK_PORT): ${e.message}`)));
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : o.port,
    setCertificate: (cert, key) => server.setSecureContext({ cert, key }),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

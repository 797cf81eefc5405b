/**
 * Probe rewriting for injected pods. Under STRICT the kubelet's plaintext probes to the app's
 * port would reach Envoy's inbound listener, which wants mTLS. So each HTTP, TCP and gRPC
 * liveness/readiness/startup probe of an app container becomes an HTTP GET on the agent's
 * status port (excluded from interception) at `/app-health/<container>/<livez|readyz|startupz>`;
 * the original probe travels to the agent in the env var ISTIO_KUBE_APP_PROBERS (JSON, keyed by
 * that path), and the agent performs it against the app. Exec probes are left alone (they run
 * inside the container). Timing fields are kept. Named ports are resolved here.
 */
import { isRecord } from '../config/fields.js';

export const APP_PROBERS_ENV = 'ISTIO_KUBE_APP_PROBERS';
export const STATUS_PORT = 15020;
const KINDS = { livenessProbe: 'livez', readinessProbe: 'readyz', startupProbe: 'startupz' } as const;

/** What the agent does for one rewritten probe (the app's own probe, ports resolved). */
export type AppProber =
  | { readonly httpGet: { readonly path: string; readonly port: number; readonly scheme: 'HTTP' | 'HTTPS'; readonly host?: string; readonly httpHeaders?: readonly { name: string; value: string }[] }; readonly timeoutSeconds: number }
  | { readonly tcpSocket: { readonly port: number; readonly host?: string }; readonly timeoutSeconds: number }
  | { readonly grpc: { readonly port: number; readonly service?: string }; readonly timeoutSeconds: number };

/** The probe path the agent serves for a container's probe. */
export function appHealthPath(container: string, kind: keyof typeof KINDS): string {
  return `/app-health/${container}/${KINDS[kind]}`;
}

function resolvePort(port: unknown, ct: Record<string, unknown>): number | string {
  if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) return resolvePort(Number(port), ct);
  if (typeof port === 'string') {
    const found = (Array.isArray(ct.ports) ? ct.ports : []).find((p) => isRecord(p) && p.name === port);
    if (isRecord(found) && typeof found.containerPort === 'number') return found.containerPort;
    return `no port named ${JSON.stringify(port)} among the container's ports`;
  }
  return `must be a port number or a port name, got ${JSON.stringify(port)}`;
}

export interface RewrittenProbes {
  readonly containers: Record<string, unknown>[];
  readonly probers: Record<string, AppProber>;
  readonly errors: string[];
}

/** Rewrites the probes of `containers` (new objects; inputs untouched). */
export function rewriteProbes(containers: readonly unknown[], statusPort = STATUS_PORT): RewrittenProbes {
  const probers: Record<string, AppProber> = {};
  const errors: string[] = [];
  const out = containers.map((raw, i) => {
    if (!isRecord(raw)) return raw as Record<string, unknown>;
    const name = String(raw.name ?? `#${i}`);
    const ct: Record<string, unknown> = { ...raw };
    for (const kind of Object.keys(KINDS) as (keyof typeof KINDS)[]) {
      const probe = raw[kind];
      if (!isRecord(probe)) continue;
      const where = `container ${name}: ${kind}`;
      const timeoutSeconds = typeof probe.timeoutSeconds === 'number' ? probe.timeoutSeconds : 1;
      let prober: AppProber | undefined;
      if (isRecord(probe.httpGet)) {
        const port = resolvePort(probe.httpGet.port, raw);
        if (typeof port === 'string') { errors.push(`${where}.httpGet.port: ${port}`); continue; }
        const scheme = probe.httpGet.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP';
        const headers = Array.isArray(probe.httpGet.httpHeaders) ? probe.httpGet.httpHeaders.filter(isRecord).map((h) => ({ name: String(h.name), value: String(h.value ?? '') })) : undefined;
        prober = { httpGet: { path: typeof probe.httpGet.path === 'string' ? probe.httpGet.path : '/', port, scheme, ...(typeof probe.httpGet.host === 'string' ? { host: probe.httpGet.host } : {}), ...(headers?.length ? { httpHeaders: headers } : {}) }, timeoutSeconds };
      } else if (isRecord(probe.tcpSocket)) {
        const port = resolvePort(probe.tcpSocket.port, raw);
        if (typeof port === 'string') { errors.push(`${where}.tcpSocket.port: ${port}`); continue; }
        prober = { tcpSocket: { port, ...(typeof probe.tcpSocket.host === 'string' ? { host: probe.tcpSocket.host } : {}) }, timeoutSeconds };
      } else if (isRecord(probe.grpc)) {
        const port = resolvePort(probe.grpc.port, raw);
        if (typeof port !== 'number') { errors.push(`${where}.grpc.port: ${port}`); continue; }
        prober = { grpc: { port, ...(typeof probe.grpc.service === 'string' ? { service: probe.grpc.service } : {}) }, timeoutSeconds };
      }
      if (!prober) continue; // exec: runs inside the container, untouched
      const path = appHealthPath(name, kind);
      probers[path] = prober;
      const { httpGet: _h, tcpSocket: _t, grpc: _g, ...timing } = probe;
      ct[kind] = { ...timing, httpGet: { path, port: statusPort, scheme: 'HTTP' } };
    }
    return ct;
  });
  return { containers: out, probers, errors };
}

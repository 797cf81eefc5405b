/**
 * `meshd_*` telemetry metrics. Labels are namespaces, workloads and policies (bounded by the
 * mesh's own objects); past `maxSeries` label sets per metric, new ones are folded into
 * `workload="_other"` so an unknown caller flood cannot grow the registry.
 */
import { Counter, Gauge, Registry } from 'prom-client';

export interface TelemetryMetrics {
  plaintext(namespace: string, workload: string, kind: 'http' | 'tcp'): void;
  denied(namespace: string, workload: string, policy: string): void;
  edge(srcNamespace: string, namespace: string, workload: string, secured: boolean): void;
  readonly streams: Gauge<string>;
  readonly entries: Counter<'kind'>;
  readonly rejectedStreams: Counter<'reason'>;
}

/** Creates and registers the telemetry metrics on `registry`. */
export function createTelemetryMetrics(registry: Registry, maxSeries = 2000): TelemetryMetrics {
  const registers = [registry];
  const plaintextRequests = new Counter({ name: 'meshd_plaintext_requests_total', help: 'Plaintext HTTP requests reaching a sidecar inbound (PERMISSIVE/DISABLE), per destination workload', labelNames: ['namespace', 'workload'], registers });
  const plaintextConnections = new Counter({ name: 'meshd_plaintext_connections_total', help: 'Plaintext TCP connections reaching a sidecar inbound, per destination workload', labelNames: ['namespace', 'workload'], registers });
  const denied = new Counter({ name: 'meshd_authz_denied_total', help: 'Requests or connections denied by RBAC, per destination workload and policy (ns/name)', labelNames: ['namespace', 'workload', 'policy'], registers });
  const edges = new Counter({ name: 'meshd_edge_requests_total', help: 'Inbound requests and connections, per source namespace and destination workload', labelNames: ['src_namespace', 'namespace', 'workload', 'secured'], registers });
  const seen = new Map<string, Set<string>>();
  const bounded = (metric: string, key: string): boolean => {
    let s = seen.get(metric);
    if (!s) { s = new Set(); seen.set(metric, s); }
    if (s.has(key)) return true;
    if (s.size >= maxSeries) return false;
    s.add(key);
    return true;
  };
  return {
    plaintext(namespace, workload, kind) {
      const c = kind === 'http' ? plaintextRequests : plaintextConnections;
      const ok = bounded(`p${kind}`, `${namespace}/${workload}`);
      c.inc({ namespace: ok ? namespace : '_other', workload: ok ? workload : '_other' });
    },
    denied(namespace, workload, policy) {
      const ok = bounded('d', `${namespace}/${workload}/${policy}`);
      denied.inc(ok ? { namespace, workload, policy } : { namespace: '_other', workload: '_other', policy: '_other' });
    },
    edge(srcNamespace, namespace, workload, secured) {
      const ok = bounded('e', `${srcNamespace}/${namespace}/${workload}`);
      edges.inc(ok ? { src_namespace: srcNamespace, namespace, workload, secured: String(secured) } : { src_namespace: '_other', namespace: '_other', workload: '_other', secured: String(secured) });
    },
    streams: new Gauge({ name: 'meshd_als_streams', help: 'Open access-log streams from sidecars', registers }),
    entries: new Counter({ name: 'meshd_als_entries_total', help: 'Access-log entries received, by kind', labelNames: ['kind'], registers }),
    rejectedStreams: new Counter({ name: 'meshd_als_rejected_streams_total', help: 'Access-log streams refused, by reason', labelNames: ['reason'], registers }),
  };
}

/**
 * `npm run demo -- --tracing`: a Zipkin collector of our own on loopback, a mesh config naming it
 * as the tracing provider, and a mesh-wide Telemetry resource at 100 % sampling; each trace
 * (frontend's client span, backend's server span) is printed once it is complete.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatTrace, startTraceCollector, type TraceCollector, type ZipkinSpan } from '../telemetry/trace-collector.js';

/** The config file the demo adds to its folder while tracing (removed otherwise). */
export const TRACING_CONFIG_FILE = '05-tracing.yaml';

/** The Service, WorkloadEntry (no sidecar) and Telemetry that point the mesh at the collector. */
export function tracingConfig(collectorPort: number): string {
  return `# Written by npm run demo -- --tracing (removed when the demo runs without it).
apiVersion: v1
kind: Service
metadata: {name: zipkin, namespace: istio-system}
spec:
  selector: {app: zipkin}
  ports: [{name: http-zipkin, port: ${collectorPort}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: zipkin, namespace: istio-system, labels: {sidecar.istio.io/inject: "false"}}
spec: {address: 127.0.0.1, labels: {app: zipkin}, serviceAccount: zipkin, ports: {http-zipkin: ${collectorPort}}}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: 100}]
`;
}

/** Istio's mesh config with the collector as the `zipkin` provider. */
export function tracingMeshConfig(collectorPort: number): string {
  return `extensionProviders:\n- name: zipkin\n  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: ${collectorPort}}\n`;
}

/** Writes (or, with no port, removes) the demo's tracing config; returns meshd's extra args. */
export function prepareTracing(dir: string, configDir: string, collectorPort: number | undefined): string[] {
  const file = join(configDir, TRACING_CONFIG_FILE);
  if (collectorPort === undefined) { rmSync(file, { force: true }); return []; }
  writeFileSync(file, tracingConfig(collectorPort));
  const mesh = join(dir, 'mesh-config.yaml');
  writeFileSync(mesh, tracingMeshConfig(collectorPort));
  return ['--mesh-config', mesh];
}

/** Starts the collector; `print` gets each trace once no span came for it for 6 s (sidecars flush spans every 5 s). */
export async function startDemoCollector(print: (text: string) => void): Promise<TraceCollector> {
  const pending = new Map<string, { spans: ZipkinSpan[]; timer: NodeJS.Timeout }>();
  let shown = 0;
  return startTraceCollector('127.0.0.1', 0, 5000, (spans) => {
    for (const s of spans) {
      const p = pending.get(s.traceId) ?? { spans: [], timer: setTimeout(() => undefined, 0) };
      clearTimeout(p.timer);
      p.spans.push(s);
      p.timer = setTimeout(() => {
        pending.delete(s.traceId);
        // Every trace for the first ten, then every tenth (one request a second).
        if (shown++ < 10 || shown % 10 === 0) print(`trace ${s.traceId} (${p.spans.length} spans):\n${formatTrace(p.spans).replace(/^/gm, '    ')}`);
      }, 6000);
      p.timer.unref();
      pending.set(s.traceId, p);
    }
  });
}

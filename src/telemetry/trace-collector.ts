/**
 * A small trace collector: Zipkin's v2 HTTP API (`POST /api/v2/spans`, a JSON array of spans),
 * kept in memory with a bound, and grouped by trace id. The test suite and `npm run demo --
 * --tracing` run it; a sidecar's Zipkin tracer sends to it like to a real Zipkin.
 */
import { createServer, type Server } from 'node:http';

/** One span as Zipkin v2 JSON has it (the fields we read). */
export interface ZipkinSpan {
  readonly traceId: string;
  readonly id: string;
  readonly parentId?: string;
  readonly name?: string;
  readonly kind?: 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
  readonly timestamp?: number;
  readonly duration?: number;
  readonly localEndpoint?: { readonly serviceName?: string; readonly ipv4?: string; readonly port?: number };
  readonly tags?: Readonly<Record<string, string>>;
}

export interface TraceCollector {
  readonly port: number;
  readonly spans: readonly ZipkinSpan[];
  /** Spans of one trace, oldest first. */
  trace(traceId: string): ZipkinSpan[];
  close(): Promise<void>;
}

function isSpan(v: unknown): v is ZipkinSpan {
  return typeof v === 'object' && v !== null && typeof (v as ZipkinSpan).traceId === 'string' && typeof (v as ZipkinSpan).id === 'string';
}

/** Starts the collector on `host:port` (0 picks a port); keeps at most `maxSpans` spans. */
export async function startTraceCollector(host: string, port = 0, maxSpans = 10_000, onSpans?: (s: readonly ZipkinSpan[]) => void): Promise<TraceCollector> {
  const spans: ZipkinSpan[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/api/v2/spans') { res.statusCode = 404; res.end(); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => { size += c.length; if (size <= 8 << 20) chunks.push(c); });
    req.on('end', () => {
      let got: unknown;
      try { got = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { res.statusCode = 400; res.end('not JSON'); return; }
      if (!Array.isArray(got) || !got.every(isSpan)) { res.statusCode = 400; res.end('expected a JSON array of Zipkin v2 spans'); return; }
      spans.push(...got);
      if (spans.length > maxSpans) spans.splice(0, spans.length - maxSpans);
      onSpans?.(got);
      res.statusCode = 202;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    spans,
    trace: (id) => spans.filter((s) => s.traceId === id).sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0)),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** A trace as indented lines: `service  kind  name  duration`, children under their parent. */
export function formatTrace(spans: readonly ZipkinSpan[]): string {
  const byParent = new Map<string, ZipkinSpan[]>();
  const ids = new Set(spans.map((s) => s.id));
  for (const s of spans) {
    const p = s.parentId && ids.has(s.parentId) ? s.parentId : '';
    byParent.set(p, [...(byParent.get(p) ?? []), s]);
  }
  const lines: string[] = [];
  const walk = (parent: string, depth: number): void => {
    for (const s of (byParent.get(parent) ?? []).sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0))) {
      if (depth > 20) return;
      lines.push(`${'  '.repeat(depth)}${s.localEndpoint?.serviceName ?? '?'}  ${s.kind ?? ''}  ${s.name ?? ''}  ${((s.duration ?? 0) / 1000).toFixed(1)} ms  span ${s.id}`);
      walk(s.id, depth + 1);
    }
  };
  walk('', 0);
  return lines.join('\n');
}

/**
 * What `npm run demo` prints: what is running, what to try, each change in how a call ends,
 * a heartbeat, and meshd's configuration diagnostics as they appear and clear.
 */
import { join, relative } from 'node:path';
import type { CallEvent } from './app.js';
import { CANARY_FILE, CANARY_START, DEMO_NAMESPACE, DEMO_WORKLOADS, REPO_ROOT, callTarget, demoWorkload } from './topology.js';
import type { RunningDemo } from './run.js';

/** A path as the user should type it: relative to the working directory when inside it. */
export function shown(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}

/** How a call ended, in words (the same outcome always gives the same words). */
export function outcome(e: CallEvent): string {
  if (e.error) {
    const how = e.error === 'ECONNRESET' ? 'connection reset' : e.error === 'ECONNREFUSED' ? 'connection refused' : e.error;
    return demoWorkload(e.from).sidecar ? `failed (${how})` : `refused (${how}: the sidecar wants mTLS)`;
  }
  if (e.status === 200) return e.callerId ? `200 OK, ${e.to} saw ${e.callerId} (mTLS)` : '200 OK in plaintext (no identity)';
  if (e.status === 403) return '403 denied by an AuthorizationPolicy';
  return `${e.status}`;
}

/** The startup banner. */
export function banner(d: RunningDemo): string {
  const p = d.plan;
  const lines: string[] = [];
  lines.push('meshd demo is running (explicit mode: each app calls its own sidecar on a loopback address)', '');
  lines.push(`  meshd           pid ${d.meshd.pid}  xDS 127.0.0.1:${d.ports.xds}  admin ${d.meshdUrl}  log ${shown(`${d.dir}/logs/meshd.log`)}`);
  for (const r of d.workloads) {
    const w = demoWorkload(r.name);
    const a = p.workloads[w.name]!;
    const t = callTarget(p, w);
    const parts = [`  ${w.name.padEnd(15)} app pid ${r.app.pid}`];
    if (w.port) parts.push(`serves ${a.appAddress}:${w.port}`);
    if (r.envoy) parts.push(`sidecar pid ${r.envoy.pid} on ${a.address}:${w.port} (Envoy admin ${r.envoyAdmin})`);
    else parts.push('no sidecar');
    if (t && w.calls) parts.push(`calls ${w.calls.to} ${t.path} every ${w.calls.intervalMs / 1000}s via ${t.host}:${t.port}`);
    lines.push(parts.join(', '));
  }
  const cfg = shown(d.configDir);
  const sec = `${cfg}/30-security.yaml`;
  const meshd = d.ports.admin === 15014 ? '' : ` --meshd ${d.meshdUrl}`;
  lines.push('', `Configuration: ${cfg}/ (meshd watches it; a saved edit applies within a second, no restart)`, '', 'Try, in another terminal:');
  lines.push(`  node bin/meshctl edges -n ${DEMO_NAMESPACE}${meshd}                       who calls whom, and is it mTLS?`);
  lines.push(`  sed -i 's/mode: STRICT/mode: PERMISSIVE/' ${sec}   the legacy client gets in, in plaintext`);
  lines.push(`  sed -i 's/mode: PERMISSIVE/mode: STRICT/' ${sec}   ...and is refused again`);
  lines.push(`  sed -i 's/methods: \\["GET", "POST"\\]/methods: ["POST"]/' ${sec}   frontend's GETs get 403 (undo: swap the two)`);
  const canary = `${cfg}/${CANARY_FILE}`;
  const octet = d.plan.workloads.frontend!.outboundAddress.split('.')[1];
  const flags = [...(d.dir === join(REPO_ROOT, 'demo') ? [] : [`--dir ${shown(d.dir)}`]), ...(octet === '0' ? [] : [`--loopback-octet ${octet}`])];
  const canaryFlags = flags.length ? ` -- ${flags.join(' ')}` : '';
  lines.push(`  npm run demo:canary${canaryFlags}   reviews v1/v2 counted through frontend's sidecar, then shifted to v2 under traffic`);
  lines.push(`  sed -i 's/weight: ${CANARY_START.v1}$/weight: 0/; s/weight: ${CANARY_START.v2}$/weight: 100/' ${canary}   the same shift by hand`);
  lines.push(`  curl -s ${d.meshdUrl}/debug/syncz                  what meshd sent each sidecar, and their ACKs`);
  const backend = d.workloads.find((w) => w.name === 'backend');
  if (backend?.envoyAdmin) lines.push(`  curl -s ${backend.envoyAdmin}/stats | grep ssl.handshake     backend's Envoy counts TLS handshakes`);
  lines.push(`  logs: ${shown(`${d.dir}/logs`)}/   (meshd.log, <workload>.log, <workload>-envoy.log)`, '', 'Ctrl-C stops everything.', '');
  return lines.join('\n');
}

/** Prints a call's outcome when it changes, and every `heartbeatMs` a count per edge. Returns a stop function. */
export function followCalls(d: RunningDemo, print: (line: string) => void, heartbeatMs = 10000): () => void {
  const last = new Map<string, string>();
  const counts = new Map<string, Map<string, number>>();
  const stamp = (): string => new Date().toISOString().slice(11, 19);
  d.onCall((e) => {
    const edge = `${e.from} → ${e.to}`;
    const o = outcome(e);
    const short = e.error ? 'refused' : String(e.status);
    const c = counts.get(edge) ?? new Map<string, number>();
    c.set(short, (c.get(short) ?? 0) + 1);
    counts.set(edge, c);
    if (last.get(edge) !== o) { last.set(edge, o); print(`[${stamp()}] ${edge.padEnd(26)} ${e.path.padEnd(12)} ${o}`); }
  });
  const timer = setInterval(() => {
    if (counts.size === 0) return;
    const parts = DEMO_WORKLOADS.filter((w) => w.calls).map((w) => `${w.name} → ${w.calls!.to}`).filter((k) => counts.has(k))
      .map((k) => `${k}: ${[...counts.get(k)!].map(([s, n]) => `${n}×${s}`).join(' ')}`);
    print(`[${stamp()}] last ${heartbeatMs / 1000}s  ${parts.join('  |  ')}`);
    counts.clear();
  }, heartbeatMs);
  return () => clearInterval(timer);
}

interface DiagnosticJson { severity: string; source: string; kind: string; name?: string; field: string; message: string }

/** Polls meshd's /debug/diagnostics and prints problems in the config folder as they appear and clear. */
export function followDiagnostics(d: RunningDemo, print: (line: string) => void, everyMs = 1000): () => void {
  let shownKeys = new Set<string>();
  const timer = setInterval(() => {
    void fetch(`${d.meshdUrl}/debug/diagnostics`).then(async (r) => {
      const list = (await r.json()) as DiagnosticJson[];
      const now = new Set(list.map((x) => `${x.severity}: ${shown(x.source)}: ${x.kind}${x.name ? ` ${x.name}` : ''}${x.field ? ` ${x.field}` : ''}: ${x.message}`));
      for (const k of now) if (!shownKeys.has(k)) print(`meshd reports a config problem (the last good config stays in force):\n  ${k}`);
      if (shownKeys.size > 0 && now.size === 0) print('meshd: the config folder is clean again');
      shownKeys = now;
    }).catch(() => undefined);
  }, everyMs);
  return () => clearInterval(timer);
}

/**
 * `meshctl route check`: where would this request go? Evaluated over the HTTP route
 * configurations meshd sends (or would send) the caller's proxy (`/debug/routez`), or, with
 * `--config-dir`, over the real translation of a YAML folder. Prints the matched
 * VirtualService and route, the destination clusters with subset and weight, timeout,
 * retries, fault and mirrors. Exit code: 0 routed (or redirected / answered directly),
 * 1 no route (404), 2 usage error.
 */
import type { Command } from './command.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { routezView, type RoutezView } from '../admin/routez.js';
import { translate } from '../xds/translate/index.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';
import { snapshotFromDir } from './authz-command.js';
import { OUTPUT_FLAG, emit, expandShortFlags, formatTable, outputFormat } from './output.js';
import { checkRoute, type RouteCheckResult, type RouteRequest } from './route-check.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'from', type: 'string', help: 'the calling workload, <namespace>/<workload> (its proxy\'s routes are used)' },
  { name: 'host', type: 'string', help: 'the host the request is sent to (a service name, FQDN, ServiceEntry host or IP)' },
  { name: 'port', type: 'int', help: 'the port it is sent to' },
  { name: 'path', type: 'string', default: '/', help: 'the request path, with a query string if any' },
  { name: 'method', type: 'string', default: 'GET', help: 'the HTTP method' },
  { name: 'header', type: 'string', help: 'a request header k=v (repeatable; also -H)' },
  { name: 'interception', type: 'string', help: 'NONE or REDIRECT: translate as a proxy in this mode (default: the connected proxy\'s, else NONE)' },
  { name: 'config-dir', type: 'string', help: 'evaluate over the translation of this YAML folder instead of asking meshd' },
  OUTPUT_FLAG, ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' },
];

const USAGE = `usage: meshctl route check --from NS/WORKLOAD --host H --port P [--path /x] [--method M] [--header k=v]...
    [-o table|json|yaml] [--config-dir DIR | --meshd URL [--state-dir DIR] [--token T]]

Where would this request go? Prints the VirtualService and route that take it, the destination
clusters (subset, weight), timeout, retries, fault and mirrors, evaluated over the route
configuration meshd sends the --from workload's proxy. Exit code: 0 routed, 1 no route (404),
2 usage error.`;

/** Pulls the repeatable `--header k=v` / `-H k=v` out of argv (the flag parser keeps one value per flag). */
export function splitHeaders(args: readonly string[]): { headers: [string, string][]; rest: string[] } {
  const headers: [string, string][] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^(?:--header|-H)(?:=(.*))?$/.exec(a);
    if (!m) { rest.push(a); continue; }
    const v = m[1] ?? args[++i];
    if (v === undefined) throw new FlagError('--header needs a value k=v');
    const eq = v.indexOf('=');
    const colon = v.indexOf(':');
    const at = eq > 0 ? eq : colon > 0 ? colon : -1;
    if (at <= 0) throw new FlagError(`--header must be k=v, got ${JSON.stringify(v)}`);
    headers.push([v.slice(0, at).trim().toLowerCase(), v.slice(at + 1).trim()]);
  }
  return { headers, rest };
}

const pct = (n: number): string => `${n}%`;

/** The table: a block of `Key: value` lines, then one row per destination cluster. */
export function formatRouteCheck(r: RouteCheckResult, proxy?: string): string {
  const q = r.request;
  const head = [`Request:        ${q.method} ${q.path}  (Host: ${q.authority}, from ${q.from}${proxy ? `, proxy ${proxy}` : ''})`];
  for (const [k, v] of q.headers) head.push(`  header        ${k}: ${v}`);
  if (r.outcome === 'no-route-config' || r.outcome === 'no-virtual-host' || r.outcome === 'no-route') {
    return [...head, ...(r.virtualHost ? [`Virtual host:   ${r.virtualHost}`] : []), r.summary].join('\n') + '\n';
  }
  const o = r.origin;
  const lines = [
    ...head,
    `Route config:   ${r.routeConfig}`,
    `Virtual host:   ${r.virtualHost}`,
    `Route:          #${r.route!.index}${r.route!.name ? ` ${JSON.stringify(r.route!.name)}` : ''} (match: ${r.route!.match})`,
    `${(o ? `${o.kind}:` : 'VirtualService:').padEnd(16)}${o ? `${o.namespace}/${o.name}${o.rule !== undefined ? ` ${o.kind === 'VirtualService' ? 'spec.http' : 'spec.rules'}[${o.rule}]${o.match !== undefined ? `.match[${o.match}]` : ''}` : ''}` : 'none (meshd\'s default route for the service)'}`,
  ];
  if (r.outcome === 'direct-response') lines.push(`Response:       ${r.status} (direct response)`);
  if (r.outcome === 'redirect') lines.push(`Redirect:       ${r.status} ${JSON.stringify(r.redirect)}`);
  if (r.outcome === 'route') {
    lines.push(`Timeout:        ${r.timeout === undefined ? 'Envoy default (15s)' : r.timeout === '0s' ? 'none (0s)' : r.timeout}`);
    lines.push(`Retries:        ${r.retries === undefined ? 'none' : r.retries === null ? 'disabled' : `${r.retries.attempts} on ${r.retries.retryOn || '(default conditions)'}${r.retries.perTryTimeout ? `, per try ${r.retries.perTryTimeout}` : ''}`}`);
    const f = r.fault;
    lines.push(`Fault:          ${f ? [f.delay ? `delay ${f.delay.fixedDelay} for ${pct(f.delay.percent)}` : '', f.abort ? `abort ${f.abort.httpStatus ?? `grpc ${f.abort.grpcStatus}`} for ${pct(f.abort.percent)}` : ''].filter(Boolean).join('; ') : 'none'}`);
    lines.push(`Mirrors:        ${r.mirrors.length ? r.mirrors.map((m) => `${m.cluster} (${pct(m.percent)})`).join(', ') : 'none'}`);
    if (r.rewrite) lines.push(`Rewrite:        ${Object.entries(r.rewrite).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    lines.push('');
    lines.push(formatTable(['CLUSTER', 'HOST', 'PORT', 'SUBSET', 'WEIGHT', 'PERCENT', 'IN CDS'],
      r.destinations.map((d) => [d.cluster, d.host ?? '', d.port !== undefined ? String(d.port) : '', d.subset ?? '', String(d.weight), pct(d.percent), d.sent === undefined ? '' : d.sent ? 'yes' : 'NO (503)'])).trimEnd());
  }
  lines.push(r.summary);
  return lines.join('\n') + '\n';
}

/** `meshctl route check`. */
export const routeCheckCommand: Command = {
  path: ['route', 'check'],
  summary: 'where would a request go? the VirtualService and route, clusters with subset and weight, timeout, retries, fault, mirrors',
  async run(args) {
    const { headers, rest } = splitHeaders(expandShortFlags(args));
    const { values: v, positional } = parseFlags(FLAGS, rest);
    if (v.help) { process.stdout.write(flagHelp(USAGE, FLAGS)); return 0; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    for (const k of ['from', 'host', 'port'] as const) if (v[k] === undefined) throw new FlagError(`--${k} is required (see --help)`);
    const format = outputFormat(v.output);
    const port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new FlagError(`--port must be 1-65535, got ${String(v.port)}`);
    const from = String(v.from);
    if (!/^[^/]+\/[^/]+$/.test(from)) throw new FlagError(`--from must be <namespace>/<workload>, got ${JSON.stringify(from)}`);
    const path = String(v.path);
    if (!path.startsWith('/')) throw new FlagError(`--path must start with "/", got ${JSON.stringify(path)}`);
    const interception = v.interception !== undefined ? String(v.interception) : undefined;
    let view: RoutezView;
    if (v['config-dir']) {
      const snapshot = await snapshotFromDir(String(v['config-dir']), (l) => process.stderr.write(l + '\n'));
      if (typeof snapshot === 'string') { process.stderr.write(`meshctl route check: ${snapshot}\n`); return 2; }
      const r = routezView({ snapshot: () => snapshot, connected: () => [], translate }, from, interception);
      if ('error' in r) { process.stderr.write(`meshctl route check: ${r.error}\n`); return r.status === 400 ? 2 : 1; }
      view = r;
    } else {
      const q = `workload=${encodeURIComponent(from)}${interception ? `&interception=${encodeURIComponent(interception)}` : ''}`;
      view = await new AdminClient(v).get<RoutezView>(`/debug/routez?${q}`);
    }
    const req: RouteRequest = { from, host: String(v.host), port, path, method: String(v.method).toUpperCase(), headers };
    const result = checkRoute(view.routes, req, new Set(view.clusters));
    // Translation's notes about the objects behind the matched route (why a destination gets 503, a losing VirtualService).
    const o = result.origin;
    const notes = (view.diagnostics ?? []).filter((d) => o && d.kind === o.kind && d.namespace === o.namespace && d.name === o.name);
    emit(format, { ...result, proxy: view.proxy, notes }, () => formatRouteCheck(result, view.proxy.id) + notes.map((d) => `note: ${d.field}: ${d.message}\n`).join(''));
    return result.outcome === 'route' || result.outcome === 'redirect' || result.outcome === 'direct-response' ? 0 : 1;
  },
};

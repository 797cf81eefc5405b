/**
 * `meshctl check` (as `linkerd check`): is the control plane healthy enough to keep
 * short-lived certificates flowing? One line per check, √ or ×, and a hint under each
 * failure; exit status 1 when any check fails.
 */
import type { Command } from './command.js';
import type { CaStatus } from '../ca/ca.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { ADMIN_FLAGS, AdminClient, CliError } from './admin-client.js';
import { expandShortFlags, formatData, outputFormat, until } from './output.js';
import { fetchConnections, fetchSync, shortName, type Connection, type ProxySync } from './proxies.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'output', type: 'string', default: 'table', help: 'table (√/× lines), json or yaml (also -o)' },
  { name: 'min-ca-validity', type: 'duration', default: '60d', help: 'roots and intermediates must stay valid at least this long' },
  { name: 'stale-after', type: 'duration', default: '10s', help: 'a response unanswered this long counts as stale' },
  ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' },
];

/** One check's outcome. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
  readonly hint?: string;
}

/** The Prometheus sample sum of a metric (all label sets), 0 when absent. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isNaN(v)) sum += v;
  }
  return sum;
}

/** The checks over what meshd reports (pure, so tests feed it data). */
export function evaluateChecks(d: { ready: boolean; ca: CaStatus; sync: readonly ProxySync[]; conns: readonly Connection[]; metrics: string; diagnostics: readonly { severity: string }[] }, o: { now: number; minCaValidityMs: number; staleAfterMs: number }): CheckResult[] {
  const out: CheckResult[] = [];
  out.push({ name: 'meshd is ready (first snapshot served, every port listening)', ok: d.ready, ...(d.ready ? {} : { hint: 'meshd answers /ready with 503: see its log' }) });
  const days = (iso: string): string => `${Math.floor((Date.parse(iso) - o.now) / 86_400_000)} days`;
  for (const r of d.ca.roots) {
    const ok = Date.parse(r.notAfter) - o.now >= o.minCaValidityMs;
    out.push({ name: `root ${r.id} (${r.subject}) is valid for at least ${Math.round(o.minCaValidityMs / 86_400_000)} days`, ok, detail: `expires ${r.notAfter} (${days(r.notAfter)})`, ...(ok ? {} : { hint: 'rotate it: meshctl ca rotate-root --step introduce, then activate, then retire' }) });
  }
  if (d.ca.kind === 'plugged') {
    const ok = Date.parse(d.ca.signer.notAfter) - o.now >= o.minCaValidityMs;
    out.push({ name: `intermediate (${d.ca.signer.subject}) is valid for at least ${Math.round(o.minCaValidityMs / 86_400_000)} days`, ok, detail: `expires ${d.ca.signer.notAfter} (${days(d.ca.signer.notAfter)})`, ...(ok ? {} : { hint: 'replace the plugged-in cacerts with a fresh intermediate' }) });
  }
  // A certificate is renewed at about half its life: with under a quarter left, renewal is failing.
  const late = d.conns.filter((c) => {
    const leaf = c.certificate?.[0];
    if (!leaf) return false;
    const start = Date.parse(leaf.notBefore);
    const end = Date.parse(leaf.notAfter);
    return end - o.now < (end - start) / 4;
  });
  out.push({ name: 'workload certificates are renewed on time (none in the last quarter of its life)', ok: late.length === 0, detail: `${d.conns.filter((c) => c.certificate).length} held`, ...(late.length ? { hint: late.map((c) => `${shortName(c.proxyId)}: expires ${until(c.certificate![0]!.notAfter, o.now)}`).join('; ') } : {}) });
  const nacks = d.sync.flatMap((p) => Object.values(p.types).filter((t) => t.state === 'NACKED').map((t) => `${shortName(p.proxyId)} ${t.type}: ${t.lastNack?.message ?? ''}`));
  out.push({ name: 'no proxy rejects its configuration (NACK)', ok: nacks.length === 0, detail: `${d.sync.length} proxies`, ...(nacks.length ? { hint: nacks.join('; ') } : {}) });
  const stale = d.sync.flatMap((p) => Object.values(p.types).filter((t) => t.state === 'STALE' && t.sentAt && o.now - Date.parse(t.sentAt) > o.staleAfterMs).map((t) => `${shortName(p.proxyId)} ${t.type} (sent ${until(t.sentAt!, o.now)})`));
  out.push({ name: `no proxy is stale (every response answered within ${Math.round(o.staleAfterMs / 1000)}s)`, ok: stale.length === 0, ...(stale.length ? { hint: stale.join('; ') } : {}) });
  const signing = metricSum(d.metrics, 'meshd_ca_signing_errors_total');
  const sds = metricSum(d.metrics, 'meshd_sds_push_errors_total');
  out.push({ name: 'the CA issues without errors', ok: signing === 0 && sds === 0, detail: `${metricSum(d.metrics, 'meshd_ca_issuance_seconds_count')} issued, ${signing} signing errors, ${sds} SDS errors`, ...(signing + sds ? { hint: 'see meshd\'s log for "sds:" and "ca:" lines' } : {}) });
  const errors = d.diagnostics.filter((x) => x.severity === 'error').length;
  out.push({ name: 'the configuration has no errors', ok: errors === 0, detail: `${d.diagnostics.length} diagnostics`, ...(errors ? { hint: `${errors} objects rejected: /debug/diagnostics or meshctl analyze` } : {}) });
  return out;
}

/** √/× lines with details and hints, then a summary line. */
export function formatChecks(results: readonly CheckResult[]): string {
  const lines = results.flatMap((r) => [`${r.ok ? '√' : '×'} ${r.name}${r.detail ? ` (${r.detail})` : ''}`, ...(r.ok || !r.hint ? [] : [`    see: ${r.hint}`])]);
  const failed = results.filter((r) => !r.ok).length;
  return `${lines.join('\n')}\n\nStatus check results are ${failed ? `× (${failed} failed)` : '√'}\n`;
}

/** `meshctl check`: exit 1 when any check fails. */
export const checkCommand: Command = {
  path: ['check'],
  summary: 'control-plane health: ready, CA validity, certificate renewal, NACKs, stale proxies, issuance errors (√/×)',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp('usage: meshctl check [--min-ca-validity 60d] [-o table|json|yaml] [--meshd URL]', FLAGS)); return 0; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    const format = outputFormat(v.output);
    const client = new AdminClient(v);
    let readyStatus: number;
    try { readyStatus = await client.status('/ready'); } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      process.stdout.write(format === 'table' ? `× meshd is reachable: ${msg}\n` : formatData([{ name: 'meshd is reachable', ok: false, hint: msg }], format));
      return 1;
    }
    const [ca, sync, conns, metrics, diagnostics] = await Promise.all([
      client.get<CaStatus>('/ca/status'), fetchSync(client), fetchConnections(client), client.text('/metrics'), client.get<{ severity: string }[]>('/debug/diagnostics'),
    ]).catch((e: unknown) => { throw e instanceof CliError ? e : new CliError(String(e)); });
    const results = [{ name: `meshd is reachable at ${client.base}`, ok: true }, ...evaluateChecks({ ready: readyStatus === 200, ca, sync, conns, metrics, diagnostics }, { now: Date.now(), minCaValidityMs: v['min-ca-validity'] as number, staleAfterMs: v['stale-after'] as number })];
    process.stdout.write(format === 'table' ? formatChecks(results) : formatData(results, format));
    return results.every((r) => r.ok) ? 0 : 1;
  },
};

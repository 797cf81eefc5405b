/**
 * `meshctl describe pod <name> -n NS` and `meshctl describe <namespace>/<workload>` (as
 * `istioctl x describe pod`): the workload's identity, the certificate chain meshd holds for
 * each of its proxies, its mTLS mode per port and the PeerAuthentication that set it, the
 * AuthorizationPolicies selecting it, the services it serves, and its sync status.
 */
import type { Command } from './command.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { ADMIN_FLAGS, AdminClient } from './admin-client.js';
import { OUTPUT_FLAG, emit, expandShortFlags, outputFormat, until } from './output.js';
import { chainLines, parseWorkloadRef, workloadInfo, type WorkloadInfo } from './workload-info.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'namespace', type: 'string', help: 'the pod\'s namespace (also -n; default "default")' },
  OUTPUT_FLAG, ...ADMIN_FLAGS, { name: 'help', type: 'bool', help: 'show this help' },
];
const USAGE = 'usage: meshctl describe pod <name> [-n NAMESPACE] | meshctl describe <namespace>/<workload>   [-o table|json|yaml] [--meshd URL]';

/** The text form, section by section. */
export function formatDescribe(i: WorkloadInfo, now: number = Date.now()): string {
  const w = i.workload;
  const at = (iso: string): string => until(iso, now);
  const src = (s: { policy: string | null; level: string }): string => (s.policy ? `PeerAuthentication ${s.policy} (${s.level})` : 'no PeerAuthentication: PERMISSIVE by default');
  const lines = [
    `Workload:   ${w.namespace}/${w.name}${w.meshed ? '' : ' (no sidecar)'}${w.ready ? '' : ' (not ready)'}`,
    `Identity:   ${w.spiffeId} (service account ${w.serviceAccount})`,
    `Address:    ${w.address}`,
    `Labels:     ${Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}`,
    `Services:   ${i.services.length ? '' : '(none)'}`,
    ...i.services.map((s) => `  ${s.hostname}  ${s.ports}`),
    `mTLS:       ${i.mtls.mode}, set by ${src(i.mtls.setBy)}`,
    ...i.mtls.ports.map((p) => `  port ${p.port}: ${p.mode}${p.mode === 'STRICT' ? ' (plaintext refused)' : p.mode === 'PERMISSIVE' ? ' (mTLS and plaintext accepted)' : ' (plaintext only)'}, set by ${src(p.setBy)}`),
    `AuthorizationPolicies: ${i.policies.length ? '' : '(none: every request is allowed)'}`,
    ...i.policies.map((p) => `  ${p.namespace}/${p.name}  ${p.action}${p.dryRun ? ' (dry-run)' : ''}  ${p.rules} rule${p.rules === 1 ? '' : 's'}`),
    `Proxies:    ${i.proxies.length ? '' : '(none connected)'}`,
  ];
  for (const { connection: c, sync } of i.proxies) {
    lines.push(`  ${c.proxyId}`);
    lines.push(`    stream ${c.connectionId} (${c.protocol}) from ${c.peer}, connected ${c.connectedAt}${c.envoyVersion ? `, Envoy ${c.envoyVersion}` : ''}`);
    lines.push(`    authenticated as ${c.identity ?? '(no credential)'}`);
    if (sync) lines.push(`    sync: ${Object.values(sync.types).map((t) => `${t.type} ${t.state}`).join(', ')}${sync.lastError ? `; error: ${sync.lastError}` : ''}`);
    if (c.certificate) {
      lines.push('    certificate chain held:');
      lines.push(...chainLines(c.certificate, '      ', at));
    } else lines.push(c.secretSource === 'agent' ? '    certificates: from its node agent (meshd holds none)' : '    certificates: none held');
  }
  return lines.join('\n') + '\n';
}

/** `meshctl describe pod <name> -n NS` | `meshctl describe <ns>/<workload>`. */
export const describeCommand: Command = {
  path: ['describe'],
  summary: 'a workload: identity, certificate chain, mTLS per port and why, policies, services, sync status',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, expandShortFlags(args));
    if (v.help) { process.stdout.write(flagHelp(USAGE, FLAGS)); return 0; }
    let ref: { namespace: string; name: string };
    if (positional[0] === 'pod') {
      if (!positional[1]) throw new FlagError('describe pod needs a pod name');
      if (positional.length > 2) throw new FlagError(`unexpected argument ${JSON.stringify(positional[2])}`);
      ref = parseWorkloadRef(positional[1], v.namespace ? String(v.namespace) : undefined);
    } else {
      if (!positional[0]) throw new FlagError('give pod <name> -n NAMESPACE or <namespace>/<workload>');
      if (positional.length > 1) throw new FlagError(`unexpected argument ${JSON.stringify(positional[1])}`);
      ref = parseWorkloadRef(positional[0], v.namespace ? String(v.namespace) : undefined);
    }
    const format = outputFormat(v.output);
    const info = await workloadInfo(new AdminClient(v), ref.namespace, ref.name);
    emit(format, info, () => formatDescribe(info));
    return 0;
  },
};

/**
 * Everything meshd knows about one workload, gathered from its debug views: the registry
 * entry (identity, address, services), its mTLS per port and policies (`authorizationz`),
 * its connected proxies with the certificates meshd holds for them, and their sync state.
 */
import type { CertSummary } from '../ca/cert-summary.js';
import { CliError, type AdminClient } from './admin-client.js';
import { fetchConnections, fetchSync, type Connection, type ProxySync } from './proxies.js';

interface RegistryWorkload { namespace: string; name: string; address: string; serviceAccount: string; spiffeId: string; labels: Record<string, string>; ports: Record<string, number>; meshed: boolean; ready: boolean; services: string[] }
interface RegistryService { hostname: string; ports: { name: string; port: number; protocol: string }[] }
interface Registry { workloads: RegistryWorkload[]; services: RegistryService[] }
interface ModeSource { policy: string | null; level: string }
interface AuthzWorkload { mtls: { mode: string; setBy: ModeSource; ports: { port: number; mode: string; setBy: ModeSource }[] }; policies: { namespace: string; name: string; action: string; dryRun: boolean; rules: number }[] }

/** The workload and what meshd holds for it. */
export interface WorkloadInfo {
  readonly workload: RegistryWorkload;
  readonly services: readonly { hostname: string; ports: string }[];
  readonly mtls: AuthzWorkload['mtls'];
  readonly policies: AuthzWorkload['policies'];
  readonly proxies: readonly { connection: Connection; sync?: ProxySync }[];
}

/** Parses `namespace/name`; a FlagError-like CliError otherwise. */
export function parseWorkloadRef(ref: string, namespace?: string): { namespace: string; name: string } {
  const m = /^([^/]+)\/([^/]+)$/.exec(ref);
  if (m) return { namespace: m[1]!, name: m[2]! };
  if (!ref.includes('/') && ref) return { namespace: namespace ?? 'default', name: ref };
  throw new CliError(`expected <namespace>/<workload>, got ${JSON.stringify(ref)}`);
}

/** Gathers a workload's info; a CliError naming it when meshd does not know it. */
export async function workloadInfo(client: AdminClient, ns: string, name: string, pem = false): Promise<WorkloadInfo> {
  const reg = await client.get<Registry>('/debug/registryz');
  const workload = reg.workloads.find((w) => w.namespace === ns && w.name === name);
  if (!workload) throw new CliError(`meshd at ${client.base} knows no workload ${ns}/${name} (workloads: ${reg.workloads.map((w) => `${w.namespace}/${w.name}`).join(', ') || 'none'})`);
  const az = await client.get<{ workloads: AuthzWorkload[] }>(`/debug/authorizationz?workload=${encodeURIComponent(`${ns}/${name}`)}`);
  const [conns, sync] = await Promise.all([fetchConnections(client, pem), fetchSync(client)]);
  const services = workload.services.map((h) => {
    const s = reg.services.find((x) => x.hostname === h);
    return { hostname: h, ports: (s?.ports ?? []).map((p) => `${p.port}/${p.protocol}`).join(', ') };
  });
  const mine = conns.filter((c) => c.workload === `${ns}/${name}`);
  return {
    workload, services, mtls: az.workloads[0]!.mtls, policies: az.workloads[0]!.policies,
    proxies: mine.map((connection) => ({ connection, ...(sync.find((s) => s.connectionId === connection.connectionId) ? { sync: sync.find((s) => s.connectionId === connection.connectionId)! } : {}) })),
  };
}

/** One line per certificate: index, serial, SPIFFE id or subject, validity and issuer. */
export function chainLines(chain: readonly CertSummary[], indent: string, until: (iso: string) => string): string[] {
  return chain.map((c, i) => `${indent}[${i}] ${c.isCa ? 'CA  ' : 'leaf'} serial ${c.serial}  ${c.spiffeId ?? c.subject}\n${indent}     valid ${c.notBefore} → ${c.notAfter} (expires ${until(c.notAfter)}), issuer ${c.issuer}`);
}

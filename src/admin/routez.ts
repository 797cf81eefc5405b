/**
 * `/debug/routez?workload=NS/NAME`: the HTTP route configurations (and the cluster names)
 * meshd sends, or would send, one workload's proxy, for `meshctl route check`. A connected
 * proxy of the workload is translated as it is; a workload with no proxy connected is
 * translated as its proxy would be when it connects (translation is pure, so this is what
 * it would get), in explicit interception unless `?interception=REDIRECT`.
 */
import type { Diagnostic, MeshSnapshot, ProxyInfo } from '../model/types.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import type { ProxyResources } from '../xds/translate/types.js';

/** What the view needs from meshd. */
export interface RoutezDeps {
  readonly snapshot: () => MeshSnapshot;
  /** The connected proxies (their node info). */
  readonly connected: () => readonly { readonly info: ProxyInfo }[];
  /** meshd's translation. */
  readonly translate: (snapshot: MeshSnapshot, proxy: ProxyInfo) => ProxyResources;
}

/** The response body. */
export interface RoutezView {
  readonly workload: string;
  readonly generation: number;
  readonly proxy: { readonly id: string; readonly connected: boolean; readonly interceptionMode: string };
  /** RouteConfigurations, sorted by name. */
  readonly routes: readonly EnvoyObject[];
  /** Names of the clusters the proxy gets, sorted. */
  readonly clusters: readonly string[];
  /** Problems translation met for this proxy (a destination host not in the registry, a losing route set, ...). */
  readonly diagnostics: readonly Diagnostic[];
}

/** The view, or an error with its HTTP status (400 bad query, 404 unknown workload). */
export function routezView(d: RoutezDeps, workload: string | undefined, interception?: string): RoutezView | { status: 400 | 404; error: string } {
  const [ns, name, extra] = (workload ?? '').split('/');
  if (!ns || !name || extra !== undefined) return { status: 400, error: `workload must be <namespace>/<name>, got ${JSON.stringify(workload ?? '')}` };
  if (interception !== undefined && interception !== 'NONE' && interception !== 'REDIRECT') return { status: 400, error: `interception must be NONE or REDIRECT, got ${JSON.stringify(interception)}` };
  const snapshot = d.snapshot();
  const conn = d.connected().filter((p) => p.info.namespace === ns && p.info.workloadName === name && !p.info.proxyless)
    .sort((a, b) => (a.info.id < b.info.id ? -1 : a.info.id > b.info.id ? 1 : 0))[0];
  const w = snapshot.workloads.find((x) => x.namespace === ns && x.name === name);
  if (!conn && !w) return { status: 404, error: `no workload ${ns}/${name} in the registry and no proxy of it connected; see /debug/registryz` };
  const info: ProxyInfo = conn && interception === undefined ? conn.info : {
    id: conn?.info.id ?? `sidecar~${w!.address}~${name}.${ns}~${ns}.svc.${snapshot.config.domainSuffix}`,
    ip: conn?.info.ip ?? w!.address, workloadName: name, namespace: ns, labels: conn?.info.labels ?? w!.labels,
    interceptionMode: (interception ?? 'NONE') as ProxyInfo['interceptionMode'], proxyless: false,
  };
  const res = d.translate(snapshot, info);
  const byName = (a: EnvoyObject, b: EnvoyObject): number => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0);
  return {
    workload: `${ns}/${name}`, generation: snapshot.generation,
    proxy: { id: info.id, connected: conn !== undefined, interceptionMode: info.interceptionMode },
    routes: res.routes.flat().slice().sort(byName),
    clusters: res.clusters.flat().map((c) => String(c.name)).sort(),
    diagnostics: res.diagnostics,
  };
}

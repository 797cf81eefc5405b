/**
 * `meshctl authz check`: would this call be allowed? Evaluated over Envoy configuration, the
 * same way Envoy does (filter-chain match, then the RBAC filters in order):
 *   --config-dir DIR   the YAML folder, loaded with the file store's parsers, then the real `translate`;
 *   --meshd URL        the listeners a running meshd sends the destination's proxy (/debug/config_dump).
 */
import type { Command } from './command.js';
import { readFileSync } from 'node:fs';
import { createFileStore } from '../config/file-store.js';
import { applyMeshConfig, parseMeshConfigYaml } from '../config/mesh-config.js';
import { buildSnapshot } from '../config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type MeshSnapshot, type Workload } from '../model/types.js';
import { runAuthzCheck } from '../authz/index.js';
import { translate } from '../xds/translate/index.js';
import { ResourceType, type EnvoyObject } from '../xds/resource-types.js';
import { parseNodeId } from '../xds/names.js';
import type { ProxyResources } from '../xds/translate/types.js';
import { AdminClient, CliError } from './admin-client.js';

const USAGE = `usage: meshctl authz check --to <namespace>/<workload> --from <spiffe://...|namespace/serviceaccount|plaintext> --port N
    [--method M] [--path P] [--host H] [--header k=v]... [--source-ip IP] [-o json]
    (--config-dir DIR [--mesh-config FILE] | --meshd URL [--state-dir DIR] [--token T])      [$MESHD_CONFIG_DIR, $MESHD_ADDR]

Prints ALLOW, DENY or REJECT (no filter chain takes the connection) and the deciding policy and
rule. Exit code: 0 ALLOW, 1 DENY or REJECT, 2 usage error.
`;

interface SplitArgs {
  readonly configDir?: string; readonly meshd?: string; readonly to?: string;
  /** Where meshctl finds meshd's admin token (a meshd not on loopback closes its debug views without it). */
  readonly stateDir?: string; readonly token?: string;
  /** Istio MeshConfig YAML applied with --config-dir (extension providers for CUSTOM policies). */
  readonly meshConfig?: string;
  readonly rest: string[]; readonly help: boolean;
}

function split(args: readonly string[]): SplitArgs | string {
  let configDir: string | undefined;
  let meshd: string | undefined;
  let to: string | undefined;
  let stateDir: string | undefined;
  let token: string | undefined;
  let meshConfig: string | undefined;
  let help = false;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--(config-dir|meshd|to|state-dir|token|mesh-config)(?:=(.*))?$/.exec(a);
    if (a === '--help' || a === '-h') { help = true; continue; }
    if (!m) { rest.push(a); continue; }
    const v = m[2] ?? args[++i];
    if (v === undefined) return `--${m[1]} needs a value`;
    if (m[1] === 'config-dir') configDir = v;
    else if (m[1] === 'meshd') meshd = v;
    else if (m[1] === 'state-dir') stateDir = v;
    else if (m[1] === 'token') token = v;
    else if (m[1] === 'mesh-config') meshConfig = v;
    else to = v;
  }
  return { configDir, meshd, to, rest, help, ...(stateDir !== undefined ? { stateDir } : {}), ...(token !== undefined ? { token } : {}), ...(meshConfig !== undefined ? { meshConfig } : {}) };
}

/** Loads a config folder once with the file store's parsers; diagnostics go to `err`. */
export async function snapshotFromDir(dir: string, err: (line: string) => void, meshConfigFile?: string): Promise<MeshSnapshot | string> {
  let config = DEFAULT_MESH_CONFIG;
  if (meshConfigFile !== undefined) {
    let text: string;
    try { text = readFileSync(meshConfigFile, 'utf8'); } catch (e) { return `--mesh-config ${meshConfigFile}: ${e instanceof Error ? e.message : String(e)}`; }
    const r = parseMeshConfigYaml(text, meshConfigFile);
    if (!r.ok) return r.diagnostics.map((d) => `${d.source}: ${d.field}: ${d.message}`).join('\n');
    for (const d of r.warnings) err(`${d.severity}: ${d.source} ${d.field}: ${d.message}`);
    config = applyMeshConfig(config, r.value);
  }
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0, domainSuffix: DEFAULT_MESH_CONFIG.domainSuffix });
  await store.start();
  store.close();
  for (const d of store.diagnostics()) err(`${d.severity}: ${d.source} ${d.kind} ${d.namespace ?? ''}/${d.name ?? ''} ${d.field}: ${d.message}`);
  return buildSnapshot(store.objects(), config, 1);
}

interface Syncz { proxies: { proxyId: string }[] }
interface Dump { proxy?: { id: string; ip?: string; labels?: Record<string, string> }; identity?: { trustDomain: string; serviceAccount: string }; resources: Record<string, EnvoyObject[]> }

/**
 * The destination's listeners as a running meshd sends them, and a one-workload snapshot
 * naming it (ports are numeric then: named ports need --config-dir).
 */
export async function fromMeshd(base: string, to: string, auth: { stateDir?: string; token?: string } = {}): Promise<{ snapshot: MeshSnapshot; listeners: EnvoyObject[] } | string> {
  const [ns, name] = to.split('/', 2);
  if (!ns || !name) return `--to must be <namespace>/<workload>, got ${JSON.stringify(to)}`;
  const client = new AdminClient({
    meshd: base,
    'state-dir': auth.stateDir ?? process.env.MESHD_STATE_DIR ?? 'state',
    ...(auth.token ?? process.env.MESHD_ADMIN_TOKEN ? { token: auth.token ?? process.env.MESHD_ADMIN_TOKEN } : {}),
  });
  const get = <T>(path: string): Promise<T> => client.get<T>(path);
  const syncz = await get<Syncz>('/debug/syncz');
  const ids = syncz.proxies.map((p) => p.proxyId).filter((id) => { const n = parseNodeId(id); return n?.name === name && n.namespace === ns; });
  if (ids.length === 0) return `no proxy of ${ns}/${name} is connected to ${base}`;
  const dump = await get<Dump>(`/debug/config_dump?proxy=${encodeURIComponent(ids.sort()[0]!)}`);
  const listeners = dump.resources[ResourceType.Listener] ?? [];
  const base0 = buildSnapshot([], { ...DEFAULT_MESH_CONFIG, ...(dump.identity ? { trustDomain: dump.identity.trustDomain } : {}) }, 0);
  const w: Workload = {
    meta: { name, namespace: ns, labels: {}, annotations: {}, source: 'meshd' }, name, namespace: ns, address: parseNodeId(ids[0]!)?.ip ?? '',
    labels: dump.proxy?.labels ?? {}, serviceAccount: dump.identity?.serviceAccount ?? '', ports: {}, meshed: true, ready: true,
  };
  return { snapshot: { ...base0, workloads: [w] }, listeners };
}

export const authzCheckCommand: Command = {
  path: ['authz', 'check'],
  summary: 'would a call be allowed? ALLOW / DENY / REJECT and the deciding policy',
  async run(args) {
    const s = split(args);
    const err = (l: string): void => { process.stderr.write(l + '\n'); };
    const out = (l: string): void => { process.stdout.write(l + '\n'); };
    if (typeof s === 'string') { err(`meshctl authz check: ${s}`); err(USAGE); return 2; }
    if (s.help) { out(USAGE); return 0; }
    if (!s.to) { err('meshctl authz check: --to <namespace>/<workload> is required'); err(USAGE); return 2; }
    const configDir = s.configDir ?? (s.meshd ? undefined : process.env.MESHD_CONFIG_DIR);
    const meshd = s.meshd ?? (configDir ? undefined : process.env.MESHD_ADDR);
    if (configDir) {
      const snapshot = await snapshotFromDir(configDir, err, s.meshConfig);
      if (typeof snapshot === 'string') { err(`meshctl authz check: ${snapshot}`); return 2; }
      return runAuthzCheck([s.to, ...s.rest], { snapshot, translate, out, err });
    }
    if (meshd) {
      let r: Awaited<ReturnType<typeof fromMeshd>>;
      try {
        r = await fromMeshd(meshd, s.to, { ...(s.stateDir !== undefined ? { stateDir: s.stateDir } : {}), ...(s.token !== undefined ? { token: s.token } : {}) });
      } catch (e) {
        if (e instanceof CliError) { err(`meshctl authz check: ${e.message}`); return 2; }
        throw e;
      }
      if (typeof r === 'string') { err(`meshctl authz check: ${r}`); return 2; }
      const fixed = (): ProxyResources => ({ listeners: [r.listeners], clusters: [], endpoints: [], routes: [], diagnostics: [] });
      return runAuthzCheck([s.to, ...s.rest], { snapshot: r.snapshot, translate: fixed, out, err });
    }
    err('meshctl authz check: give --config-dir DIR or --meshd URL');
    err(USAGE);
    return 2;
  },
};

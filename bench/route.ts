/**
 * `npm run bench -- route [--json] [--services N]`: translating N (default 1,000)
 * VirtualServices + N DestinationRules (one pair per Service, canary subsets, header match,
 * timeout, retries) for one proxy, cold: a fresh snapshot each run and everything carried
 * across snapshots forgotten, the parsed objects the same (as on meshd's pushes: Kubernetes
 * events and file reloads parse only the objects that changed, and pieces memoized per model
 * object, such as a DestinationRule's merged port policy or a match's RouteMatch, stay).
 * route.translate_first_load_ms: the same with freshly parsed objects each run (the first
 * translation after meshd loads the config).
 * Keys: route.translate_1k_vs_1k_dr_ms (the proxy's whole translate(), median of 9 runs; the
 * target is ≤ 50 ms), `_cpu_ms` (this thread's CPU time, steadier on a busy machine),
 * route.routes_only_ms / _cpu_ms (the outbound route configurations alone),
 * route.routes_and_clusters_ms / _cpu_ms (route configurations plus the base and subset
 * clusters: what the VirtualServices and DestinationRules become), route.after_endpoint_change_ms
 * (the proxy's translate() after one workload moved, with what the earlier snapshot built
 * carried over, as on meshd's pushes), route.virtual_hosts.
 * Runs with bin/meshd's node flags (meshd-runtime.ts): translation as meshd runs it.
 */
import { parseObject, type MeshObject } from '../src/config/parse.js';
import { buildSnapshot } from '../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type MeshSnapshot, type ProxyInfo } from '../src/model/types.js';
import { forgetCarriedChunks, translate } from '../src/xds/translate/index.js';
import { outboundHttpRoutes } from '../src/xds/translate/http-routes.js';
import { destClusters, destScope } from '../src/xds/translate/dest-clusters.js';
import { underMeshdRuntime } from './meshd-runtime.js';

/** The mesh: N services in 20 namespaces, each with two versions, a VirtualService and a DestinationRule. */
export function benchObjects(n: number): MeshObject[] {
  const raw: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `ns-${i % 20}`;
    const name = `svc-${i}`;
    raw.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 8000 + (i % 50) }] } });
    for (const v of ['v1', 'v2']) {
      raw.push({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: `${name}-${v}`, namespace: ns }, spec: { address: `10.${i >> 8}.${i & 255}.${v === 'v1' ? 1 : 2}`, labels: { app: name, version: v }, serviceAccount: name } });
    }
    raw.push({
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns },
      spec: {
        hosts: [name],
        http: [
          { match: [{ headers: { 'end-user': { exact: 'tester' } } }, { uri: { prefix: '/beta' } }], route: [{ destination: { host: name, subset: 'v2' } }] },
          { match: [{ uri: { regex: '/items/[0-9]+' }, method: { exact: 'GET' } }], timeout: '2s', retries: { attempts: 3, perTryTimeout: '0.5s', retryOn: '5xx,503' }, route: [{ destination: { host: name, subset: 'v1' } }] },
          { route: [{ destination: { host: name, subset: 'v1' }, weight: 90 }, { destination: { host: name, subset: 'v2' }, weight: 10 }], timeout: '5s' },
        ],
      },
    });
    raw.push({
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns },
      spec: { host: name, trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 100 } } }, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
    });
  }
  const out: MeshObject[] = [];
  for (const r of raw) {
    const p = parseObject(r, { source: 'bench', defaultNamespace: 'default' }, { domainSuffix: 'cluster.local' });
    if (p.status !== 'ok') throw new Error(`bench object does not parse: ${JSON.stringify(p.diagnostics[0])}`);
    out.push(p.object);
  }
  return out;
}

/** The proxy translated: svc-0's v1 workload. */
export const BENCH_PROXY: ProxyInfo = { id: 'sidecar~10.0.0.1~svc-0-v1.ns-0~ns-0.svc.cluster.local', ip: '10.0.0.1', workloadName: 'svc-0-v1', namespace: 'ns-0', labels: {}, interceptionMode: 'NONE', proxyless: false };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall and CPU time of `f` over `runs` cold snapshots of `objects` (a function: freshly parsed objects per run). */
function time(objects: readonly MeshObject[] | (() => readonly MeshObject[]), runs: number, f: (s: MeshSnapshot) => void): { wall: number; cpu: number } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    // Cold: nothing carried over from an earlier snapshot (the same objects would hit those memos).
    forgetCarriedChunks();
    const snap = buildSnapshot(typeof objects === 'function' ? objects() : objects, DEFAULT_MESH_CONFIG, r + 1);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    f(snap);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/** Runs the route bench and prints `key value` lines (and a JSON line with `--json`). */
export async function main(args: readonly string[]): Promise<void> {
  const code = await underMeshdRuntime('MESHD_ROUTE_BENCH_RUNTIME');
  if (code !== undefined) { process.exitCode = code; return; }
  const i = args.indexOf('--services');
  const n = i >= 0 ? Number(args[i + 1]) : 1000;
  const objects = benchObjects(n);
  const full = (s: MeshSnapshot): void => { translate(s, BENCH_PROXY); };
  const routesOnly = (s: MeshSnapshot): void => {
    outboundHttpRoutes(s, { proxy: BENCH_PROXY, mode: 'NONE', labels: { app: 'svc-0', version: 'v1' }, dest: destScope(s, BENCH_PROXY) });
  };
  // What the VirtualServices and DestinationRules themselves become: the route configurations
  // and the (subset) clusters, without the listeners, endpoints and inbound side of a proxy.
  const vsAndDr = (s: MeshSnapshot): void => {
    const dest = destScope(s, BENCH_PROXY);
    outboundHttpRoutes(s, { proxy: BENCH_PROXY, mode: 'NONE', labels: { app: 'svc-0', version: 'v1' }, dest });
    destClusters(s, dest, 'ads', '10s');
  };
  time(objects, 3, full); // warm up the JIT
  const t = time(objects, 9, full);
  const first = time(() => benchObjects(n), 5, full);
  const r = time(objects, 9, routesOnly);
  const vd = time(objects, 9, vsAndDr);
  // Warm: the push after an endpoint change (one workload's address moves), as meshd runs it:
  // what the previous snapshot built and the change did not touch is carried over.
  const warm = (() => {
    const wall: number[] = [];
    const i = objects.findIndex((o) => o.kind === 'WorkloadEntry');
    forgetCarriedChunks();
    translate(buildSnapshot(objects, DEFAULT_MESH_CONFIG, 1000), BENCH_PROXY);
    for (let r = 0; r < 9; r++) {
      const moved = objects.map((o, j) => (j === i && o.kind === 'WorkloadEntry' ? { ...o, value: { ...o.value, address: `10.255.0.${r + 1}` } } : o));
      const snap = buildSnapshot(moved, DEFAULT_MESH_CONFIG, 1001 + r);
      const t0 = process.hrtime.bigint();
      translate(snap, BENCH_PROXY);
      wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return median(wall);
  })();
  const snap = buildSnapshot(objects, DEFAULT_MESH_CONFIG, 99);
  const res = translate(snap, BENCH_PROXY);
  const vhosts = res.routes.flat().reduce((s, rc) => s + ((rc.virtual_hosts as unknown[] | undefined)?.length ?? 0), 0);
  const suffix = n === 1000 ? '1k' : String(n);
  const result: Record<string, number> = {
    [`route.translate_${suffix}_vs_${suffix}_dr_ms`]: Number(t.wall.toFixed(2)),
    [`route.translate_${suffix}_vs_${suffix}_dr_cpu_ms`]: Number(t.cpu.toFixed(2)),
    'route.translate_first_load_ms': Number(first.wall.toFixed(2)),
    'route.routes_only_ms': Number(r.wall.toFixed(2)),
    'route.routes_only_cpu_ms': Number(r.cpu.toFixed(2)),
    'route.routes_and_clusters_ms': Number(vd.wall.toFixed(2)),
    'route.routes_and_clusters_cpu_ms': Number(vd.cpu.toFixed(2)),
    'route.after_endpoint_change_ms': Number(warm.toFixed(2)),
    'route.virtual_hosts': vhosts,
    'route.clusters': res.clusters.flat().length,
    'route.diagnostics': res.diagnostics.length,
  };
  for (const [k, v] of Object.entries(result)) console.log(`${k} ${v}`);
  if (args.includes('--json')) console.log(JSON.stringify(result));
}

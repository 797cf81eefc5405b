/**
 * `npm run bench -- telemetry-cost [--json] [--proxies N] [--pushes N]`: telemetry's cost on the
 * server, without sidecars (so a shared, loaded machine does not drown it): the mesh-1k model
 * (bench/xds-model.ts) with telemetry off and on (metrics + Zipkin tracing), alternated twice;
 * for each, N proxies through the incremental memo and the resource cache, then `--pushes`
 * changes every proxy receives (a service gains a port), timing translate and encode CPU per
 * push (median), and one proxy's config bytes by type. Keys: telemetry_cost.<figure>.<off|on>
 * and telemetry_cost.<figure>.ratio (on ÷ off, the better of the two rounds).
 */
import { ModelMesh, type ModelTelemetry } from './xds-model.js';
import { TranslationMemo } from '../src/xds/incremental/translation-memo.js';
import { ResourceCache } from '../src/xds/cache/resource-cache.js';
import { ResourceType, type ResourceTypeUrl } from '../src/xds/resource-types.js';
import type { ProxyInfo } from '../src/model/types.js';

const LISTS: readonly [('clusters' | 'endpoints' | 'listeners' | 'routes'), ResourceTypeUrl][] = [
  ['clusters', ResourceType.Cluster], ['endpoints', ResourceType.Endpoint], ['listeners', ResourceType.Listener], ['routes', ResourceType.Route],
];
const cpuMs = (): number => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function measure(tel: ModelTelemetry, proxies: number, pushes: number): Record<string, number> {
  const mesh = new ModelMesh({ namespaces: 20, servicesPerNamespace: 50, endpointsPerService: 2 }, { telemetry: tel });
  const memo = new TranslationMemo();
  const cache = new ResourceCache();
  const owners = Array.from({ length: proxies }, (_, i) => ({ i }));
  const infos: ProxyInfo[] = owners.map((_, i) => {
    const s = mesh.sidecar(i);
    return { id: `p${i}`, ip: s.ip, workloadName: s.workload, namespace: s.namespace, labels: {}, interceptionMode: 'REDIRECT', proxyless: false };
  });
  const bytes: Record<string, number> = {};
  let first = true;
  const push = (): { translate: number; encode: number } => {
    let translate = 0;
    let encode = 0;
    for (let i = 0; i < proxies; i++) {
      const a = cpuMs();
      const r = memo.translate(owners[i]!, mesh.snapshot, infos[i]!);
      const b = cpuMs();
      for (const [list, url] of LISTS) {
        for (const c of r[list]) {
          const n = cache.chunk(url, c).sotwBytes().length;
          if (first && i === 0) bytes[list] = (bytes[list] ?? 0) + n;
        }
      }
      translate += b - a;
      encode += cpuMs() - b;
    }
    first = false;
    return { translate, encode };
  };
  push();
  const t: number[] = [];
  const e: number[] = [];
  for (let g = 1; g <= pushes; g++) {
    mesh.addPort(g);
    const r = push();
    t.push(r.translate);
    e.push(r.encode);
  }
  return {
    push_translate_cpu_ms: Math.round(median(t)),
    push_encode_cpu_ms: Math.round(median(e)),
    push_cpu_ms: Math.round(median(t.map((x, i) => x + e[i]!))),
    lds_kb_per_proxy: Math.round((bytes.listeners ?? 0) / 102.4) / 10,
    config_kb_per_proxy: Math.round(Object.values(bytes).reduce((x, y) => x + y, 0) / 102.4) / 10,
  };
}

/** Runs the bench. */
export async function main(args: readonly string[]): Promise<void> {
  const flag = (n: string, d: number): number => { const i = args.indexOf(n); return i >= 0 ? Number(args[i + 1]) : d; };
  const proxies = flag('--proxies', 200);
  const pushes = flag('--pushes', 5);
  const rounds: Record<string, number>[][] = [];
  for (let round = 0; round < 2; round++) rounds.push([measure('off', proxies, pushes), measure('full', proxies, pushes)]);
  const out: Record<string, number> = { 'telemetry_cost.proxies': proxies };
  for (const k of Object.keys(rounds[0]![0]!)) {
    const off = Math.min(...rounds.map((r) => r[0]![k]!));
    const on = Math.min(...rounds.map((r) => r[1]![k]!));
    out[`telemetry_cost.${k}.off`] = off;
    out[`telemetry_cost.${k}.on`] = on;
    out[`telemetry_cost.${k}.ratio`] = off > 0 ? Math.round((on / off) * 1000) / 1000 : 0;
  }
  for (const [k, v] of Object.entries(out)) console.log(`${k} ${v}`);
  if (args.includes('--json')) console.log(JSON.stringify(out));
}

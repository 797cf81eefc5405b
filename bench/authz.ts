/**
 * `npm run bench -- authz [--json] [--policies N]`: translating N (default 1,000)
 * AuthorizationPolicies that all apply to one proxy into its RBAC filters, cold (a fresh
 * snapshot each run, so no memo helps). Keys: authz.translate_1k_policies_ms (median of 15
 * runs, HTTP port; `_cpu_ms` is this thread's CPU time, steadier on a busy machine), authz.translate_1k_policies_tcp_ms, authz.encode_1k_policies_ms (protobuf
 * encoding of the resulting HTTP filter chain, which the resource cache does once), and
 * authz.memo_hit_us (the same call again on the same snapshot).
 */
import { DEFAULT_MESH_CONFIG } from '../src/model/types.js';
import type { AuthorizationPolicy, AuthzAction, MeshSnapshot, Workload } from '../src/model/types.js';
import { inboundAuthz } from '../src/authz/index.js';
import { encodeResource, Filter, ResourceType, TypeName, typed } from '../src/xds/resource-types.js';

/** The benchmark's workload: `production/backend`, HTTP 8080 and TCP 9000. */
export const BENCH_WORKLOAD: Workload = {
  meta: { name: 'backend', namespace: 'production', labels: {}, annotations: {}, source: 'bench' },
  name: 'backend', namespace: 'production', address: '10.0.0.2', labels: { app: 'backend', tier: 'api' },
  serviceAccount: 'backend', ports: { http: 8080, 'tcp-db': 9000 }, meshed: true, ready: true,
};

/** N policies that all apply to BENCH_WORKLOAD: a mix of actions, selectors and rule shapes. */
export function benchPolicies(n: number): AuthorizationPolicy[] {
  const out: AuthorizationPolicy[] = [];
  for (let i = 0; i < n; i++) {
    const action: AuthzAction = i % 10 === 0 ? 'DENY' : i % 50 === 7 ? 'AUDIT' : 'ALLOW';
    const name = `policy-${String(i).padStart(4, '0')}`;
    out.push({
      meta: { name, namespace: 'production', labels: {}, annotations: {}, source: 'bench' },
      apiVersion: 'security.istio.io/v1', action, dryRun: i % 25 === 3,
      ...(i % 3 === 0 ? {} : { selector: { app: 'backend' } }),
      rules: [
        {
          from: [{ source: { principals: [`cluster.local/ns/ns-${i % 20}/sa/client-${i}`, `cluster.local/ns/ns-${i % 20}/sa/batch-*`], notNamespaces: ['untrusted'] } }],
          to: [{ operation: { methods: ['GET', 'POST'], paths: [`/api/v${i % 3}/*`, `/items/${i}`], ports: ['8080'] } }],
          when: [{ key: 'request.headers[x-tenant]', values: [`tenant-${i % 7}`] }, { key: 'source.ip', notValues: ['10.99.0.0/16'] }],
        },
        { from: [{ source: { namespaces: [`ns-${i % 20}`] } }], to: [{ operation: { notPaths: ['/admin*'] } }] },
      ],
    });
  }
  return out.sort((a, b) => a.meta.name.localeCompare(b.meta.name));
}

/** A snapshot holding only the bench workload and the policies. */
export function benchSnapshot(policies: readonly AuthorizationPolicy[], generation = 0): MeshSnapshot {
  return {
    generation, config: DEFAULT_MESH_CONFIG, namespaces: [], services: [], workloads: [BENCH_WORKLOAD],
    peerAuthentications: [], authorizationPolicies: policies.map((p) => ({ ...p })),
    routeSets: [], destinationRules: [], serviceEntries: [], sidecars: [],
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall and CPU time (ms) of one cold translation of `n` policies for a port; fresh policy objects each run, so no cache hits. */
export function timeTranslate(n: number, protocol: 'http' | 'tcp', runs = 15): { wall: number; cpu: number } {
  const base = benchPolicies(n);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const snap = benchSnapshot(base, r);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    inboundAuthz(snap, BENCH_WORKLOAD, protocol === 'http' ? 8080 : 9000, protocol);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/** Runs the authz bench and prints `key value` lines (and a JSON line with `--json`). */
export async function main(args: readonly string[]): Promise<void> {
  const i = args.indexOf('--policies');
  const n = i >= 0 ? Number(args[i + 1]) : 1000;
  timeTranslate(n, 'http', 3); // warm up the JIT
  const http = timeTranslate(n, 'http');
  const tcp = timeTranslate(n, 'tcp');
  const snap = benchSnapshot(benchPolicies(n));
  const a = inboundAuthz(snap, BENCH_WORKLOAD, 8080, 'http');
  const listener = { name: 'bench', filter_chains: [{ filters: [{ name: Filter.HttpConnectionManager, typed_config: typed(TypeName.HttpConnectionManager, { stat_prefix: 'b', http_filters: [...a.httpFilters, { name: Filter.Router, typed_config: typed(TypeName.Router, {}) }] }) }] }] };
  const t0 = process.hrtime.bigint();
  const bytes = encodeResource(ResourceType.Listener, listener);
  const encodeMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const t1 = process.hrtime.bigint();
  inboundAuthz(snap, BENCH_WORKLOAD, 8080, 'http');
  const memoUs = Number(process.hrtime.bigint() - t1) / 1e3;
  const suffix = n === 1000 ? '1k' : String(n);
  const result: Record<string, number> = {
    [`authz.translate_${suffix}_policies_ms`]: Number(http.wall.toFixed(2)),
    [`authz.translate_${suffix}_policies_cpu_ms`]: Number(http.cpu.toFixed(2)),
    [`authz.translate_${suffix}_policies_tcp_ms`]: Number(tcp.wall.toFixed(2)),
    [`authz.encode_${suffix}_policies_ms`]: Number(encodeMs.toFixed(2)),
    'authz.encoded_bytes': bytes.length,
    'authz.memo_hit_us': Number(memoUs.toFixed(1)),
  };
  for (const [k, v] of Object.entries(result)) console.log(`${k} ${v}`);
  if (args.includes('--json')) console.log(JSON.stringify(result));
}

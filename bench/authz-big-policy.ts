// A 10,000-rule AuthorizationPolicy (issue 14): how long translating it for one proxy, and
// for a second proxy on the same snapshot, blocks the event loop. Prints figures; run with
// `node dist/bench/authz-big-policy.js [rules] [--profile]`.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { buildSnapshot } from '../src/config/snapshot.js';
import { parseObject, type MeshObject } from '../src/config/parse.js';
import { DEFAULT_MESH_CONFIG } from '../src/model/types.js';
import { translate } from '../src/xds/translate/index.js';

/** The objects of the case: one workload, its service, one policy of `rules` rules. */
export function bigPolicyObjects(rules: number): MeshObject[] {
  const raws: unknown[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'backend', namespace: 'prod' }, spec: { selector: { app: 'backend' }, ports: [{ name: 'http', port: 8080 }] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'backend-1', namespace: 'prod' }, spec: { address: '10.1.0.1', labels: { app: 'backend' }, serviceAccount: 'backend' } },
    {
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'big', namespace: 'prod' },
      spec: {
        selector: { matchLabels: { app: 'backend' } },
        rules: Array.from({ length: rules }, (_, i) => ({
          from: [{ source: { principals: [`cluster.local/ns/ns${i % 100}/sa/sa${i}`], namespaces: [`ns${i % 100}`] } }],
          to: [{ operation: { methods: ['GET', 'POST'], paths: [`/api/v${i % 10}/item${i}/*`] } }],
          when: [{ key: 'request.headers[x-tenant]', values: [`t${i}`] }],
        })),
      },
    },
  ];
  const out: MeshObject[] = [];
  for (const r of raws) {
    const p = parseObject(r, { source: 'bench', defaultNamespace: 'default' });
    if (p.status !== 'ok') throw new Error(JSON.stringify(p.diagnostics));
    out.push(p.object);
  }
  return out;
}

const PROXY = (id: string) => ({ id, workloadName: 'backend-1', namespace: 'prod', ip: '10.1.0.1', labels: { app: 'backend' }, interceptionMode: 'NONE' as const, proxyless: false });

if (process.argv[1]?.endsWith('authz-big-policy.js')) {
  const rules = Number(process.argv[2] ?? 10_000);
  const profile = process.argv.includes('--profile');
  const session = profile ? new Session() : undefined;
  if (session) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.start'); }
  const t0 = performance.now();
  const snap = buildSnapshot(bigPolicyObjects(rules), DEFAULT_MESH_CONFIG, 1);
  const t1 = performance.now();
  translate(snap, PROXY('a'));
  const t2 = performance.now();
  translate(snap, PROXY('b'));
  const t3 = performance.now();
  console.log(`${rules} rules: snapshot ${(t1 - t0).toFixed(0)} ms, first translate ${(t2 - t1).toFixed(0)} ms, second proxy ${(t3 - t2).toFixed(0)} ms`);
  if (session) {
    const { profile: p } = await session.post('Profiler.stop');
    writeFileSync('authz-big.cpuprofile', JSON.stringify(p));
    console.log('profile written to authz-big.cpuprofile');
  }
}

/**
 * The demo mesh, described once: five workloads in `production` (frontend, backend and the
 * reviews v1/v2 pair behind one Service, with sidecars; a legacy client without one) and the address plans, one for processes on
 * loopback (`npm run demo`) and one for docker-compose. Both the process mesh and the compose
 * files are generated from this module, so they cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { renderBootstrap } from '../bootstrap/render.js';

/** The repository root (this file compiles to dist/src/demo/). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const DEMO_NAMESPACE = 'production';

export interface DemoCall {
  /** The callee: a Service (a caller without a sidecar dials the workload of that name directly). */
  readonly to: string;
  readonly path: string;
  readonly intervalMs: number;
}

export interface DemoWorkload {
  readonly name: string;
  /** The `app` label and the Service it serves; defaults to `name` (reviews-v1 and reviews-v2 share `reviews`). */
  readonly app?: string;
  /** The `version` label (DestinationRule subsets select on it). */
  readonly version?: string;
  readonly serviceAccount: string;
  /** Service port the workload serves; none for a pure client. */
  readonly port?: number;
  readonly sidecar: boolean;
  readonly calls?: DemoCall;
}

/** The demo's workloads, in start order (servers before their callers). */
export const DEMO_WORKLOADS: readonly DemoWorkload[] = [
  { name: 'backend', serviceAccount: 'backend', port: 8080, sidecar: true },
  { name: 'reviews-v1', app: 'reviews', version: 'v1', serviceAccount: 'reviews', port: 9080, sidecar: true },
  { name: 'reviews-v2', app: 'reviews', version: 'v2', serviceAccount: 'reviews', port: 9080, sidecar: true },
  { name: 'frontend', serviceAccount: 'frontend', port: 8081, sidecar: true, calls: { to: 'backend', path: '/api/orders', intervalMs: 1000 } },
  { name: 'legacy-client', serviceAccount: 'legacy-client', sidecar: false, calls: { to: 'backend', path: '/health', intervalMs: 2000 } },
];

/** The app (Service) name of a workload. */
export function appOf(w: DemoWorkload): string {
  return w.app ?? w.name;
}

/** A workload's labels: `app`, and `version` when it has one. */
export function workloadLabels(w: DemoWorkload): Record<string, string> {
  return { app: appOf(w), ...(w.version ? { version: w.version } : {}) };
}

/** A Service of the demo: its name (the app label its workloads share) and port. */
export interface DemoService {
  readonly name: string;
  readonly port: number;
}

/** The demo's Services (one per app that serves a port), in first-workload order. */
export function demoServices(): DemoService[] {
  const out: DemoService[] = [];
  for (const w of DEMO_WORKLOADS) {
    if (w.port !== undefined && !out.some((s) => s.name === appOf(w))) out.push({ name: appOf(w), port: w.port });
  }
  return out;
}

/** The Service named `name`; throws for a name that is not in the demo (a programmer error). */
export function demoService(name: string): DemoService {
  const s = demoServices().find((x) => x.name === name);
  if (!s) throw new Error(`no demo service ${name}`);
  return s;
}

/** Per-workload host index (the last octet of loopback and netns addresses): the first three follow examples/mesh. */
export const WORKLOAD_INDEX: Readonly<Record<string, number>> = { frontend: 1, backend: 2, 'legacy-client': 3, 'reviews-v1': 4, 'reviews-v2': 5 };

export interface WorkloadAddresses {
  /** The WorkloadEntry address: where other sidecars (and the legacy client) reach it. */
  readonly address: string;
  /** Where the sidecar hands inbound traffic to the app (the app listens here). */
  readonly appAddress: string;
  /** Where the app reaches its own sidecar's outbound listeners (explicit mode). */
  readonly outboundAddress: string;
}

export interface AddressPlan {
  /** `netns`: each workload in a network namespace of its own (transparent-plan.ts). */
  readonly kind: 'loopback' | 'compose' | 'netns';
  /** Host of meshd's xDS port as the sidecars see it. */
  readonly meshdHost: string;
  readonly workloads: Readonly<Record<string, WorkloadAddresses>>;
  /** Service name → ClusterIP (transparent mode: apps call these, iptables sends them to the sidecar). */
  readonly clusterIPs?: Readonly<Record<string, string>>;
}

/** Loopback addresses 127.N.10.i (sidecar), 127.N.20.i (app), 127.N.30.i (outbound), i from WORKLOAD_INDEX; N=0 matches examples/mesh. */
export function loopbackPlan(octet = 0): AddressPlan {
  const workloads: Record<string, WorkloadAddresses> = {};
  // Indexes follow examples/mesh: frontend .1, backend .2; the legacy client is .3, reviews v1/v2 .4/.5.
  for (const w of DEMO_WORKLOADS) {
    const i = WORKLOAD_INDEX[w.name]!;
    const app = `127.${octet}.20.${i}`;
    workloads[w.name] = { address: w.sidecar ? `127.${octet}.10.${i}` : app, appAddress: app, outboundAddress: `127.${octet}.30.${i}` };
  }
  return { kind: 'loopback', meshdHost: '127.0.0.1', workloads };
}

/** The compose network (only ever created by a Docker engine, never on this machine). */
export const COMPOSE_SUBNET = '172.30.77.0/24';

/** Compose: each workload is a container with its own IP; app and sidecar share its network namespace. */
export function composePlan(): AddressPlan {
  const workloads: Record<string, WorkloadAddresses> = {};
  for (const w of DEMO_WORKLOADS) {
    workloads[w.name] = { address: `172.30.77.${10 + WORKLOAD_INDEX[w.name]!}`, appAddress: '127.0.0.1', outboundAddress: '127.0.0.2' };
  }
  return { kind: 'compose', meshdHost: 'meshd', workloads };
}

/** The workload named `name`; throws for a name that is not in the demo (a programmer error). */
export function demoWorkload(name: string): DemoWorkload {
  const w = DEMO_WORKLOADS.find((x) => x.name === name);
  if (!w) throw new Error(`no demo workload ${name}`);
  return w;
}

/** Where a workload with a sidecar reaches Service `to`: its sidecar's outbound listener (explicit) or the ClusterIP (transparent). */
export function serviceTarget(plan: AddressPlan, from: DemoWorkload, to: string): { host: string; port: number; hostHeader: string } {
  const s = demoService(to);
  return { host: plan.clusterIPs?.[s.name] ?? plan.workloads[from.name]!.outboundAddress, port: s.port, hostHeader: `${s.name}.${DEMO_NAMESPACE}.svc.cluster.local` };
}

/**
 * Where `from` sends its calls: its sidecar's outbound listener (explicit), the callee's
 * ClusterIP (transparent), or (no sidecar) the callee's workload address directly.
 */
export function callTarget(plan: AddressPlan, from: DemoWorkload): { host: string; port: number; hostHeader: string; path: string } | undefined {
  if (!from.calls) return undefined;
  if (from.sidecar) return { ...serviceTarget(plan, from, from.calls.to), path: from.calls.path };
  // Without a sidecar the caller dials the one workload directly (no load balancing).
  const to = demoWorkload(from.calls.to);
  return { host: plan.workloads[to.name]!.address, port: to.port!, hostHeader: `${to.name}.${DEMO_NAMESPACE}.svc.cluster.local`, path: from.calls.path };
}

function readExample(file: string): string {
  return readFileSync(join(REPO_ROOT, 'examples', 'mesh', file), 'utf8');
}

/** The legacy client may read /health without mTLS identity: the only thing it can do once PERMISSIVE lets it in. */
const HEALTH_POLICY = `# Anyone may GET /health on backend, even without a sidecar. Under STRICT the legacy client
# still cannot connect (no mTLS); switch 30-security.yaml to PERMISSIVE and it gets in, in
# plaintext, which \`meshctl edges\` shows.
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: backend-health
  namespace: ${DEMO_NAMESPACE}
spec:
  selector:
    matchLabels:
      app: backend
  rules:
  - to:
    - operation:
        methods: ["GET"]
        paths: ["/health"]
`;

/** Only frontend may call reviews (the seed's rule for backend, applied to the new service). */
const REVIEWS_ACCESS_POLICY = `# Only frontend may call reviews (both versions select on app: reviews), as backend-access
# does for backend. STRICT mTLS from 30-security.yaml applies here too.
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: reviews-access
  namespace: ${DEMO_NAMESPACE}
spec:
  selector:
    matchLabels:
      app: reviews
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/${DEMO_NAMESPACE}/sa/frontend"]
    to:
    - operation:
        methods: ["GET"]
`;

/** The file that holds the reviews canary (DestinationRule subsets and the VirtualService's weights). */
export const CANARY_FILE = '50-reviews-canary.yaml';

/** The reviews canary as the demo starts it: 90 % to v1, 10 % to v2. */
export const CANARY_START = { v1: 90, v2: 10 } as const;

const REVIEWS_CANARY = `# Traffic management: reviews has two versions (WorkloadEntries reviews-v1 and reviews-v2,
# labels version: v1 / v2) behind one Service. The DestinationRule names the subsets; the
# VirtualService splits requests between them. Edit the weights and save: meshd pushes the
# new route to every sidecar, no restart and no failed request. Full shift to v2:
#   sed -i 's/weight: ${CANARY_START.v1}$/weight: 0/; s/weight: ${CANARY_START.v2}$/weight: 100/' <this file>
# or: npm run demo:canary (counts requests per version before and after the shift).
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: ${DEMO_NAMESPACE}
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: ${DEMO_NAMESPACE}
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: ${CANARY_START.v1}
    - destination:
        host: reviews
        subset: v2
      weight: ${CANARY_START.v2}
`;

/**
 * The config folder's files (name → YAML text) for a plan: the namespaces and the seed's
 * security policies from examples/mesh, Services and WorkloadEntries from the topology, the
 * reviews pair's access policy and canary.
 */
export function meshConfigFiles(plan: AddressPlan): Record<string, string> {
  const services = demoServices().map((s) => ({
    apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: DEMO_NAMESPACE },
    spec: { ...(plan.clusterIPs?.[s.name] ? { clusterIP: plan.clusterIPs[s.name] } : {}), selector: { app: s.name }, ports: [{ name: 'http', port: s.port }] },
  }));
  const entries = DEMO_WORKLOADS.map((w) => {
    const a = plan.workloads[w.name]!;
    return {
      apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
      metadata: {
        name: w.name, namespace: DEMO_NAMESPACE,
        ...(w.sidecar ? {} : { labels: { 'sidecar.istio.io/inject': 'false' } }),
        // Transparent mode needs no annotations: the sidecar reaches its app on 127.0.0.1, apps reach ClusterIPs.
        ...(plan.kind === 'netns' ? {} : { annotations: { 'meshd.dev/app-address': a.appAddress, 'meshd.dev/outbound-address': a.outboundAddress } }),
      },
      spec: { address: a.address, labels: workloadLabels(w), serviceAccount: w.serviceAccount, ...(w.port ? { ports: { http: w.port } } : {}) },
    };
  });
  const docs = (header: string, list: readonly unknown[]): string => header + list.map((d) => YAML.stringify(d)).join('---\n');
  return {
    '00-namespaces.yaml': readExample('00-namespaces.yaml'),
    '10-services.yaml': docs('# Generated from src/demo/topology.ts. The port name prefix sets the protocol.\n', services),
    '20-workloads.yaml': docs(`# Generated from src/demo/topology.ts (${plan.kind} addresses). The legacy client has no sidecar.\n`, entries),
    '30-security.yaml': readExample('30-security.yaml'),
    '40-backend-health.yaml': HEALTH_POLICY,
    '45-reviews-access.yaml': REVIEWS_ACCESS_POLICY,
    [CANARY_FILE]: REVIEWS_CANARY,
  };
}

/** Placeholder for the join token in committed compose bootstraps; the sidecar's entrypoint substitutes it. */
export const TOKEN_PLACEHOLDER = 'MESHD_JOIN_TOKEN';

/** A sidecar's bootstrap in a plan: the same renderer as `meshctl bootstrap`. */
export function demoBootstrap(plan: AddressPlan, name: string, o: { xdsPort: number; adminPort: number; token: string; mode?: 'explicit' | 'transparent' }): Record<string, unknown> {
  const w = demoWorkload(name);
  return renderBootstrap({
    namespace: DEMO_NAMESPACE, workload: w.name, serviceAccount: w.serviceAccount,
    ip: plan.workloads[w.name]!.address, labels: workloadLabels(w),
    meshd: `${plan.meshdHost}:${o.xdsPort}`, adminPort: o.adminPort, token: o.token, mode: o.mode ?? 'explicit',
  });
}

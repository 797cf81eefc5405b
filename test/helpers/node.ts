/**
 * A real node for the Kubernetes test bed: scripts/node-up.sh beside a kube-up control plane
 * (containerd, kubelet, controller-manager, scheduler, kube-proxy), the images built here, and
 * meshd from deploy/ running in pods. The API server listens beyond loopback so pods reach it
 * through the `kubernetes` Service (its endpoint: the pod bridge's gateway). Missing parts are
 * failures naming the script that provides them, never skips.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { kubeUp, type Kube } from './kube.js';
import { dockerWithImages, type DockerEngine } from './docker.js';
import { REPO_ROOT } from './meshd.js';
import { waitFor } from './ports.js';

export interface Node {
  readonly kube: Kube;
  readonly name: string;
  readonly podCidr: string;
  readonly dir: string;
  /** meshd's Service ClusterIP (where injected pods reach it). */
  meshdIp: string;
  down(): void;
}

/** Starts images, control plane and node; `down()` removes all of it. */
export async function nodeUp(): Promise<Node> {
  const docker: DockerEngine = dockerWithImages();
  // Beyond loopback for pods; the kubelet by its IP (its name resolves nowhere).
  const kube = await kubeUp({ apiserverArgs: '--bind-address=0.0.0.0 --kubelet-preferred-address-types=InternalIP' });
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'node-up.sh')], { encoding: 'utf8', env: { ...docker.env, KUBE_WORK_DIR: kube.workDir }, timeout: 300_000 });
  if (r.status !== 0) { kube.down(); docker.down(); throw new Error(`scripts/node-up.sh failed (${r.status}):\n${r.stderr.slice(-4000)}`); }
  const env: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) { const m = /^export ([A-Z_]+)=(.*)$/.exec(line); if (m) env[m[1]!] = m[2]!; }
  const podCidr = env.KUBE_POD_CIDR!;
  const gateway = podCidr.replace(/\.0\/24$/, '.1');
  const apiPort = new URL(kube.apiserverUrl).port;
  // The `kubernetes` Service's endpoint (no endpoint reconciler runs): the API server as pods see it.
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'kubernetes-meshd-node', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'meshd-test-bed' } },
    addressType: 'IPv4', endpoints: [{ addresses: [gateway], conditions: { ready: true } }], ports: [{ name: 'https', port: Number(apiPort), protocol: 'TCP' }],
  }));
  let isDown = false;
  const node: Node = {
    kube, name: env.KUBE_NODE_NAME!, podCidr, dir: env.KUBE_NODE_DIR!, meshdIp: '',
    down() {
      if (isDown) return;
      isDown = true;
      spawnSync('bash', [join(REPO_ROOT, 'scripts', 'node-down.sh'), kube.workDir], { encoding: 'utf8', timeout: 120_000 });
      kube.down();
      docker.down();
    },
  };
  // Nothing is left running if the test process is stopped.
  process.once('exit', () => node.down());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { node.down(); process.exit(1); });
  return node;
}

/** The documents of a deploy/ manifest. */
export function manifest(file: string): Record<string, unknown>[] {
  return YAML.parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', file), 'utf8')).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
}

/**
 * Installs meshd from deploy/ (CRDs, RBAC, the Deployment with `replicas`, its Service, the
 * webhooks) on the node. The one change: no DNS runs here, so injected pods are told meshd's
 * ClusterIP (MESHD_INJECT_ADDRESS) and the name on its certificate (MESHD_INJECT_SERVER_NAME);
 * and the sidecar image is the local Envoy build (MESHD_PROXY_IMAGE).
 */
export async function installMeshd(node: Node, replicas = 2): Promise<void> {
  const k = node.kube;
  const docs = manifest('meshd.yaml');
  const svc = docs.find((d) => d.kind === 'Service')!;
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify(docs.find((d) => d.kind === 'Namespace')));
  for (const f of ['crds.yaml', 'rbac.yaml']) k.kubectlOk(['apply', '-f', join(REPO_ROOT, 'deploy', f)]);
  k.kubectlOk(['apply', '-f', '-'], JSON.stringify(svc));
  node.meshdIp = k.kubectlOk(['-n', 'istio-system', 'get', 'svc', 'meshd', '-o', 'jsonpath={.spec.clusterIP}']).trim();
  const dep = structuredClone(docs.find((d) => d.kind === 'Deployment')!) as { spec: { replicas: number; template: { spec: { containers: { env: { name: string; value?: string }[]; imagePullPolicy?: string }[] } } } };
  dep.spec.replicas = replicas;
  const c = dep.spec.template.spec.containers[0]!;
  c.imagePullPolicy = 'Never';
  c.env = c.env.filter((e) => e.name !== 'MESHD_INJECT_ADDRESS').concat([
    { name: 'MESHD_INJECT_ADDRESS', value: `${node.meshdIp}:15012` }, { name: 'MESHD_INJECT_SERVER_NAME', value: 'meshd.istio-system.svc' },
    // The Envoy image built here (a cluster that can pull keeps envoyproxy/envoy:v1.40.0).
    { name: 'MESHD_PROXY_IMAGE', value: 'meshd/envoy:v1.40.0' },
  ]);
  k.kubectlOk(['apply', '-f', '-'], [...docs.filter((d) => d.kind !== 'Deployment' && d.kind !== 'Service' && d.kind !== 'Namespace'), dep].map((d) => JSON.stringify(d)).join('\n'));
  k.kubectlOk(['apply', '-f', join(REPO_ROOT, 'deploy', 'webhooks.yaml')]);
  await waitFor('meshd replicas Ready', () => readyPods(k, 'istio-system', 'app=meshd') >= replicas, 240_000, 1000);
  // The leader fills the webhooks' caBundle; injection works once the API server trusts meshd.
  await waitFor('caBundle in the injection webhook', () => k.kubectlOk(['get', 'mutatingwebhookconfiguration', 'meshd-sidecar-injector', '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']).length > 100, 60_000, 500);
}

/** How many pods matching `selector` are Ready. */
export function readyPods(k: Kube, ns: string, selector: string): number {
  const out = k.kubectl(['-n', ns, 'get', 'pods', '-l', selector, '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']).stdout;
  return out.split('\n').filter((s) => s === 'True').length;
}

/** A demo app Deployment (the meshd image's app-main) with a readiness probe on its own port. */
export function appDeployment(o: { ns: string; name: string; sa: string; replicas?: number; port?: number; call?: string; probePort?: number; annotations?: Record<string, string> }): Record<string, unknown> {
  const args = ['--name', o.name, ...(o.port ? ['--listen', `0.0.0.0:${o.port}`] : []), ...(o.call ? ['--call', o.call, '--call-name', 'server', '--interval', '500ms'] : [])];
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: o.name, namespace: o.ns },
    spec: {
      replicas: o.replicas ?? 1, selector: { matchLabels: { app: o.name } },
      template: {
        metadata: { labels: { app: o.name }, annotations: o.annotations ?? {} },
        spec: {
          serviceAccountName: o.sa, terminationGracePeriodSeconds: 10,
          containers: [{
            name: 'app', image: 'meshd:0.1.0', imagePullPolicy: 'Never', command: ['node', 'dist/src/demo/app-main.js', ...args],
            // The image's user is 1337, the proxy's UID, whose traffic interception skips: an app is someone else.
            securityContext: { runAsUser: 1000, runAsGroup: 1000 },
            ...(o.port ? { ports: [{ name: 'http', containerPort: o.port }], readinessProbe: { httpGet: { path: '/health', port: o.probePort ?? 'http' }, periodSeconds: 1 } } : {}),
          }],
        },
      },
    },
  };
}

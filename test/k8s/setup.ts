/** Shared set-up for the Kubernetes tests: CRDs, namespaces, meshd in Kubernetes mode. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { startMeshd, REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import { kubeUp, type Kube } from '../helpers/kube.js';

export interface K8sDebug {
  namespace: string; leader: boolean; pushes: number; webhookPort: number; webhookCalls: number; tokenReviews: number;
  resources: { kind: string; synced: boolean; objects: number; lists: number; error?: string }[];
}

/** Installs the CRDs of deploy/crds.yaml and deploy/crds-networking.yaml (except `skip`, CRD names) and waits until they are served. */
export function installCrds(kube: Kube, o: { skip?: readonly string[] } = {}): void {
  const docs = ['crds.yaml', 'crds-networking.yaml']
    .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', f), 'utf8')).map((d) => d.toJS() as { metadata: { name: string } }))
    .filter((d) => !o.skip?.includes(d.metadata.name));
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }));
  kube.kubectlOk(['wait', '--for=condition=Established', '--timeout=30s', ...docs.map((d) => `crd/${d.metadata.name}`)]);
}

/**
 * Registers the webhook configurations of deploy/webhooks.yaml, pointed at meshd on loopback,
 * and waits until meshd's leader has filled in every caBundle (the API server can call them then).
 */
export async function registerWebhooks(kube: Kube, port: number): Promise<void> {
  const docs = YAML.parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'webhooks.yaml'), 'utf8')).map((d) => d.toJS() as { webhooks: { clientConfig: Record<string, unknown> }[] });
  for (const d of docs) {
    for (const w of d.webhooks) {
      const path = (w.clientConfig.service as { path: string }).path;
      w.clientConfig = { url: `https://127.0.0.1:${port}${path}` };
    }
  }
  kube.kubectlOk(['apply', '-f', '-'], docs.map((d) => YAML.stringify(d)).join('---\n'));
  const filled = (kind: string, name: string): boolean => kube.kubectlOk(['get', kind, name, '-o', 'jsonpath={.webhooks[*].clientConfig.caBundle}']).split(' ').every((b) => b.length > 100);
  await waitFor('caBundle in the webhook configurations', () => (filled('mutatingwebhookconfiguration', 'meshd-sidecar-injector') && filled('validatingwebhookconfiguration', 'meshd-validator')) || undefined, 20_000, 200);
}

/** Creates a namespace (with labels) and, since no controller-manager runs, its service accounts. */
export function namespace(kube: Kube, name: string, labels: Record<string, string> = {}, serviceAccounts: readonly string[] = ['default']): void {
  const doc = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(doc));
  for (const sa of serviceAccounts) kube.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: name } }));
}

/** Starts meshd against the cluster (webhook port picked freely) and waits for /ready. */
export async function startK8sMeshd(kube: Kube, o: { args?: string[]; env?: Record<string, string>; kubeconfig?: string } = {}): Promise<RunningMeshd> {
  return startMeshd({
    configDir: mkdtempSync(join(tmpdir(), 'meshd-k8s-unused-')),
    args: ['--kubeconfig', o.kubeconfig ?? kube.kubeconfig, ...(o.args ?? [])],
    env: { MESHD_WEBHOOK_PORT: '0', MESHD_LEADER_RESYNC_MS: '500', MESHD_NAMESPACE: 'istio-system', KUBECONFIG: '', ...o.env },
  });
}

/** meshd's /debug/k8s. */
export function k8sDebug(m: RunningMeshd): Promise<K8sDebug> {
  return m.adminJson<K8sDebug>('/debug/k8s');
}

/** Waits until meshd's push count has not moved for `quietMs`; returns it. */
export async function settledPushes(m: RunningMeshd, quietMs = 1500): Promise<number> {
  let last = (await k8sDebug(m)).pushes;
  let since = Date.now();
  return waitFor('pushes to settle', async () => {
    const p = (await k8sDebug(m)).pushes;
    if (p !== last) { last = p; since = Date.now(); return undefined; }
    return Date.now() - since >= quietMs ? p : undefined;
  }, 60_000, 100);
}

/** A pod for `runningPods`; `meshed: false` leaves out the sidecar status annotation (a pod without a sidecar). */
export interface RunningPodSpec { namespace: string; name: string; ip: string; labels: Record<string, string>; serviceAccount: string; ports?: Record<string, number>; annotations?: Record<string, string>; ready?: boolean; nodeName?: string; meshed?: boolean }

/** A pod that is "running" at `ip` (no kubelet runs: status is written through the subresource). */
export async function runningPod(kube: Kube, o: RunningPodSpec): Promise<void> {
  await runningPods(kube, [o]);
}

/** Several running pods: one `kubectl apply`, then their statuses in parallel. */
export async function runningPods(kube: Kube, pods: readonly RunningPodSpec[]): Promise<void> {
  const items = pods.map((o) => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels, annotations: { ...(o.meshed === false ? {} : { 'sidecar.istio.io/status': '{}' }), ...o.annotations } },
    spec: {
      serviceAccountName: o.serviceAccount, automountServiceAccountToken: false, ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      containers: [{ name: 'app', image: 'example/app', ports: Object.entries(o.ports ?? {}).map(([name, containerPort]) => ({ name, containerPort })) }],
    },
  }));
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(items.length === 1 ? items[0] : { apiVersion: 'v1', kind: 'List', items }));
  await Promise.all(pods.map((o) => {
    const status = { status: { phase: 'Running', podIP: o.ip, podIPs: [{ ip: o.ip }], conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] } };
    return kube.client.json('PATCH', `/api/v1/namespaces/${o.namespace}/pods/${o.name}/status`, { body: status, contentType: 'application/merge-patch+json' });
  }));
}

/** A namespace to create: its name, or name, labels and service accounts (see `namespace`). */
export type NamespaceSpec = string | readonly [string, Record<string, string>, readonly string[]];

/**
 * A fresh cluster with meshd's CRDs (minus `skipCrds`), namespace `istio-system` and `namespaces`,
 * meshd started against it, and (with `webhooks`) its webhook configurations registered.
 */
export async function meshdCluster(o: { namespaces: readonly NamespaceSpec[]; skipCrds?: readonly string[]; webhooks?: boolean; env?: Record<string, string> }): Promise<{ kube: Kube; meshd: RunningMeshd }> {
  const kube = await kubeUp();
  installCrds(kube, o.skipCrds ? { skip: o.skipCrds } : {});
  namespace(kube, 'istio-system', {}, []);
  for (const n of o.namespaces) {
    if (typeof n === 'string') namespace(kube, n);
    else namespace(kube, n[0], n[1], n[2]);
  }
  const meshd = await startK8sMeshd(kube, o.env ? { env: o.env } : {});
  if (o.webhooks) await registerWebhooks(kube, (await k8sDebug(meshd)).webhookPort);
  return { kube, meshd };
}

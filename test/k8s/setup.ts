/** Shared set-up for the Kubernetes tests: CRDs, namespaces, meshd in Kubernetes mode. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMeshd, REPO_ROOT, type RunningMeshd } from '../helpers/meshd.js';
import { waitFor } from '../helpers/ports.js';
import type { Kube } from '../helpers/kube.js';

export interface K8sDebug {
  namespace: string; leader: boolean; pushes: number; webhookPort: number; webhookCalls: number; tokenReviews: number;
  resources: { kind: string; synced: boolean; objects: number; lists: number; error?: string }[];
}

/** Installs the CRDs and waits until they are served. */
export function installCrds(kube: Kube): void {
  kube.kubectlOk(['apply', '-f', join(REPO_ROOT, 'deploy', 'crds.yaml')]);
  kube.kubectlOk(['wait', '--for=condition=Established', '--timeout=30s', 'crd/peerauthentications.security.istio.io', 'crd/authorizationpolicies.security.istio.io']);
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

/** A pod that is "running" at `ip` (no kubelet runs: status is written through the subresource). */
export async function runningPod(kube: Kube, o: { namespace: string; name: string; ip: string; labels: Record<string, string>; serviceAccount: string; ports?: Record<string, number>; annotations?: Record<string, string>; ready?: boolean }): Promise<void> {
  const pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels, annotations: { 'sidecar.istio.io/status': '{}', ...o.annotations } },
    spec: {
      serviceAccountName: o.serviceAccount, automountServiceAccountToken: false,
      containers: [{ name: 'app', image: 'example/app', ports: Object.entries(o.ports ?? {}).map(([name, containerPort]) => ({ name, containerPort })) }],
    },
  };
  kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(pod));
  const status = { status: { phase: 'Running', podIP: o.ip, podIPs: [{ ip: o.ip }], conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] } };
  await kube.client.json('PATCH', `/api/v1/namespaces/${o.namespace}/pods/${o.name}/status`, { body: status, contentType: 'application/merge-patch+json' });
}

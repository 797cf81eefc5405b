// The Secret CA store for ca-crash-child.ts: crash points just before and just after each write.
import { SecretCaStore } from '../../src/k8s/ca-secret-store.js';
import { KubeClient, loadKubeConfig } from '../../src/k8s/kube-client.js';
import type { CaStore } from '../../src/ca/store.js';

/** `where` is `<kubeconfig>|<namespace>`. */
export function secretStoreForCrashTest(where: string, point: () => void): CaStore {
  const [kubeconfig, namespace] = where.split('|') as [string, string];
  const inner = new SecretCaStore(new KubeClient(loadKubeConfig(kubeconfig)), namespace);
  return {
    location: inner.location,
    load: () => inner.load(),
    async save(s) { point(); await inner.save(s); point(); },
  };
}

/**
 * `npm run bench -- external-ca [--json] [--count N]`: the external CA path on a real
 * kube-apiserver. N workloads (default 100) ask at once; each certificate goes through meshd's
 * registration authority (key, CSR, CertificateSigningRequest, wait, verify, delete) and the
 * test signer (approve, sign). Prints per-certificate latency (p50, p99, max) and the total.
 * The signer has its own API client (its own connections), as an external signer would.
 */
import { kubeUp } from '../test/helpers/kube.js';
import { startTestSigner } from '../test/helpers/csr-signer.js';
import { KubernetesCsrRa } from '../src/ca/k8s-csr-ra.js';
import { KubeClient, loadKubeConfig } from '../src/k8s/kube-client.js';
import { Registry } from 'prom-client';
import { ExternalCaMetrics } from '../src/ca/external-metrics.js';

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? 0;
}

/** Runs the bench. */
export async function main(args: readonly string[]): Promise<void> {
  const ci = args.indexOf('--count');
  const count = ci >= 0 ? Number(args[ci + 1]) : 100;
  const kube = await kubeUp();
  const signerClient = new KubeClient(loadKubeConfig(kube.kubeconfig));
  const signer = await startTestSigner(signerClient, 'example.com/meshd');
  try {
    const ra = new KubernetesCsrRa({ client: kube.client, signerName: 'example.com/meshd', trustDomain: 'cluster.local', ttlSeconds: 86_400, timeoutMs: 30_000, metrics: new ExternalCaMetrics(new Registry()) });
    // One warm-up certificate (connections, JIT), not measured.
    await ra.issueWorkload({ trustDomain: 'cluster.local', namespace: 'bench', serviceAccount: 'warmup' });
    const t0 = performance.now();
    const ms = await Promise.all(Array.from({ length: count }, async (_x, i) => {
      const s = performance.now();
      await ra.issueWorkload({ trustDomain: 'cluster.local', namespace: 'bench', serviceAccount: `sa-${i}` });
      return performance.now() - s;
    }));
    const total = performance.now() - t0;
    ra.close();
    const r = (x: number): number => Math.round(x * 10) / 10;
    const result = {
      'external_ca.certificates': count,
      'external_ca.issue_p50_ms': r(quantile(ms, 0.5)),
      'external_ca.issue_p99_ms': r(quantile(ms, 0.99)),
      'external_ca.issue_max_ms': r(Math.max(...ms)),
      'external_ca.total_ms': r(total),
    };
    for (const [k, v] of Object.entries(result)) console.log(`${k} ${v}`);
    if (args.includes('--json')) console.log(JSON.stringify(result));
  } finally {
    signer.stop();
    signerClient.close();
    kube.down();
  }
}

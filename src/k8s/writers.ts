/**
 * The leader's writes back to Kubernetes, each idempotent and compared with what is already
 * there, so they never loop and never trigger a push:
 * - policy status: a condition `Accepted` (True, or False with the diagnostics), written via
 *   the status subresource, on the security and the Istio networking kinds; the source ignores
 *   status when it compares objects (Gateway API routes: src/k8s/route-status.ts);
 * - the root-certificate ConfigMap `istio-ca-root-cert` (key `root-cert.pem`) in every namespace.
 */
import { isRecord } from '../config/fields.js';
import { formatDiagnostic } from '../model/types.js';
import type { Logger } from '../util/log.js';
import { ROOT_CERT_CONFIGMAP } from './inject.js';
import type { KubeClient } from './kube-client.js';
import type { PolicyState } from './source.js';

/** The collection of each kind whose status the leader writes. */
export const PLURAL: Readonly<Record<PolicyState['kind'], string>> = {
  PeerAuthentication: 'peerauthentications', AuthorizationPolicy: 'authorizationpolicies', RequestAuthentication: 'requestauthentications',
  VirtualService: 'virtualservices', DestinationRule: 'destinationrules', ServiceEntry: 'serviceentries', Sidecar: 'sidecars',
  WorkloadEntry: 'workloadentries', HTTPRoute: 'httproutes', GRPCRoute: 'grpcroutes',
};

export interface Condition {
  readonly type: 'Accepted';
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
}

/** The condition a policy should carry: accepted (maybe with warnings) or the error diagnostics. */
export function policyCondition(p: PolicyState): Condition {
  const errors = p.diagnostics.filter((d) => d.severity === 'error');
  const warnings = p.diagnostics.filter((d) => d.severity === 'warning');
  const gen = isRecord(p.raw.metadata) && typeof p.raw.metadata.generation === 'number' ? { observedGeneration: p.raw.metadata.generation } : {};
  if (errors.length) return { type: 'Accepted', status: 'False', reason: 'Invalid', message: errors.map(formatDiagnostic).join('\n'), ...gen };
  return { type: 'Accepted', status: 'True', reason: 'Accepted', message: warnings.length ? warnings.map(formatDiagnostic).join('\n') : 'accepted', ...gen };
}

function currentCondition(raw: Record<string, unknown>): Record<string, unknown> | undefined {
  const st = isRecord(raw.status) ? raw.status : {};
  const list = Array.isArray(st.conditions) ? st.conditions : [];
  return list.find((c): c is Record<string, unknown> => isRecord(c) && c.type === 'Accepted');
}

/** Writes each policy's condition when it differs from the one stored; returns the number written. */
export async function writePolicyStatus(client: KubeClient, policies: readonly PolicyState[], log: Logger): Promise<number> {
  let written = 0;
  for (const p of policies) {
    const want = policyCondition(p);
    const have = currentCondition(p.raw);
    if (have && have.status === want.status && have.reason === want.reason && have.message === want.message && have.observedGeneration === want.observedGeneration) continue;
    const apiVersion = typeof p.raw.apiVersion === 'string' ? p.raw.apiVersion : 'security.istio.io/v1';
    const path = `/apis/${apiVersion}/namespaces/${encodeURIComponent(p.namespace)}/${PLURAL[p.kind]}/${encodeURIComponent(p.name)}/status`;
    const body = { status: { conditions: [{ ...want, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } };
    const r = await client.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
    if (r.status === 200) written++;
    else if (r.status !== 404) log.warn('k8s: cannot write policy status', { policy: `${p.kind} ${p.namespace}/${p.name}`, status: r.status, body: r.body });
  }
  return written;
}

/** Keeps `istio-ca-root-cert` equal to the trust bundle in each namespace; remembers what it wrote. */
export class RootCertWriter {
  private readonly done = new Map<string, string>();
  constructor(private readonly client: KubeClient, private readonly log: Logger) {}

  /** Ensures the ConfigMap in each namespace; returns how many were created or updated. */
  async sync(namespaces: readonly string[], bundlePem: string): Promise<number> {
    let n = 0;
    for (const ns of namespaces) {
      if (this.done.get(ns) === bundlePem) continue;
      const base = `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`;
      const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CERT_CONFIGMAP, namespace: ns, labels: { 'istio.io/config': 'true', 'app.kubernetes.io/managed-by': 'meshd' } }, data: { 'root-cert.pem': bundlePem } };
      const g = await this.client.request('GET', `${base}/${ROOT_CERT_CONFIGMAP}`);
      let r;
      if (g.status === 404) r = await this.client.request('POST', base, { body });
      else if (g.status === 200 && isRecord(g.body) && isRecord(g.body.data) && g.body.data['root-cert.pem'] === bundlePem) { this.done.set(ns, bundlePem); continue; }
      else if (g.status === 200) r = await this.client.request('PUT', `${base}/${ROOT_CERT_CONFIGMAP}`, { body });
      else r = g;
      if (r.status >= 200 && r.status < 300) { this.done.set(ns, bundlePem); n++; }
      // A terminating namespace refuses new objects (403/409): not worth a warning each time.
      else this.log.debug('k8s: cannot write root-cert ConfigMap', { namespace: ns, status: r.status });
    }
    return n;
  }

  /** Forgets what was written (after losing and regaining leadership, or a namespace change). */
  reset(): void {
    this.done.clear();
  }
}

/** Names of the webhook configurations whose `caBundle` the leader keeps equal to the root. */
export const WEBHOOK_CONFIGS = [
  { path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', name: 'meshd-sidecar-injector' },
  { path: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', name: 'meshd-validator' },
] as const;

/**
 * Sets `clientConfig.caBundle` of every webhook in meshd's two configurations to the trust
 * bundle (the API server then trusts the webhook's certificate); absent configurations are
 * skipped. Returns how many configurations were changed.
 */
export async function syncWebhookCaBundle(client: KubeClient, bundlePem: string, log: Logger): Promise<number> {
  const b64 = Buffer.from(bundlePem).toString('base64');
  let n = 0;
  for (const w of WEBHOOK_CONFIGS) {
    const g = await client.request('GET', `${w.path}/${w.name}`);
    if (g.status === 404) continue;
    if (g.status !== 200 || !isRecord(g.body) || !Array.isArray(g.body.webhooks)) {
      log.warn('k8s: cannot read webhook configuration', { name: w.name, status: g.status });
      continue;
    }
    const hooks = g.body.webhooks.filter(isRecord);
    if (hooks.every((h) => isRecord(h.clientConfig) && h.clientConfig.caBundle === b64)) continue;
    const webhooks = hooks.map((h) => ({ ...h, clientConfig: { ...(isRecord(h.clientConfig) ? h.clientConfig : {}), caBundle: b64 } }));
    const r = await client.request('PUT', `${w.path}/${w.name}`, { body: { ...g.body, webhooks } });
    if (r.status === 200) n++;
    else log.warn('k8s: cannot update webhook caBundle', { name: w.name, status: r.status, body: r.body });
  }
  return n;
}

/**
 * Kubernetes mode: informers as the config source, TokenReview as a credential, the CA in a
 * Secret (created by the leader), the admission webhooks on their own HTTPS port
 * (`MESHD_WEBHOOK_PORT`, default 15017), and the leader's writes (policy status, root-cert
 * ConfigMaps). meshd's own namespace is `MESHD_NAMESPACE`, else the pod's namespace in a
 * cluster, else `--root-namespace`. The leader's writes run on each snapshot, on a trust bundle
 * change and every `MESHD_LEADER_RESYNC_MS` (default 60 s).
 */
import { CertificateAuthority, type CaOptions } from '../ca/ca.js';
import { openPluggedCa } from '../ca/cacerts.js';
import { kubernetesAuthenticator } from '../ca/auth.js';
import { MeshdServerCertificates } from '../ca/server-cert.js';
import type { MeshdExtras } from '../meshd/meshd.js';
import type { MeshdOptions } from '../meshd/options.js';
import type { Logger } from '../util/log.js';
import { SecretCaStore } from './ca-secret-store.js';
import { defaultInjectOptions } from './inject.js';
import { KubeClient, KubeError, loadKubeConfig } from './kube-client.js';
import { leaderElector } from './leader.js';
import { createKubeSource } from './source.js';
import { tokenReviewer } from './token-review.js';
import { kubernetesAdminVerifier } from './access-review.js';
import { DEFAULT_WEBHOOK_PORT, startWebhookServer } from './webhook.js';
import { RootCertWriter, syncWebhookCaBundle, writePolicyStatus } from './writers.js';
import { route } from '../admin/route-table.js';
import { Counter } from 'prom-client';
import { writeRouteStatus, type RefResolver } from './route-status.js';
import type { MeshSnapshot } from '../model/types.js';

function webhookPort(env: NodeJS.ProcessEnv): number {
  const v = env.MESHD_WEBHOOK_PORT;
  if (v === undefined || v === '') return DEFAULT_WEBHOOK_PORT;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`MESHD_WEBHOOK_PORT: must be 0-65535, got ${JSON.stringify(v)}`);
  return n;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the CA Secret exists; the leader creates it. API errors (unreachable server,
 * rejected credentials) are logged with their cause and retried: meshd cannot sign without it.
 */
async function ensureCa(store: SecretCaStore, isLeader: () => boolean, caOpts: Parameters<typeof CertificateAuthority.open>[1], log: Logger): Promise<CertificateAuthority> {
  let wait = 500;
  for (;;) {
    try {
      const state = await store.load();
      if (state || isLeader()) return await CertificateAuthority.open(store, caOpts);
      log.info('k8s: waiting for the leader to create the CA Secret', { secret: store.location });
    } catch (e) {
      const err = KubeError.from(e);
      if (err.status !== 409) log.error('k8s: cannot read or create the CA Secret; retrying', { secret: store.location, error: err.message });
    }
    await sleep(wait);
    wait = Math.min(wait * 2, 10_000);
  }
}

/** Kubernetes mode: informers as the config source, TokenReview, the CA in a Secret, webhooks. */
export async function kubernetesMode(opts: MeshdOptions, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<MeshdExtras> {
  const inCluster = !opts.kubeconfig;
  const kc = loadKubeConfig(opts.kubeconfig);
  const client = new KubeClient(kc);
  const namespace = env.MESHD_NAMESPACE || (inCluster ? client.namespace : opts.rootNamespace);
  const port = webhookPort(env);
  log.info('k8s: Kubernetes mode', { server: client.server.origin, namespace, kubeconfig: opts.kubeconfig ?? '(in-cluster)' });

  const writer = new RootCertWriter(client, log);
  let writeQueued = false;
  let writing: Promise<void> = Promise.resolve();
  // eslint-disable-next-line prefer-const
  let leaderPass: () => void;
  const elector = leaderElector(client, {
    namespace, log,
    onStartedLeading: () => { writer.reset(); leaderPass?.(); },
  });
  await elector.start();

  const store = new SecretCaStore(client, namespace);
  // meshd opens the CA through `openCa` below, before it starts the source: one instance, so
  // the webhook certificate and the root-cert ConfigMaps follow meshd's root rotations.
  let ca!: CertificateAuthority;
  const openCa = async (caOpts: CaOptions): Promise<CertificateAuthority> => {
    ca = opts.cacertsDir ? openPluggedCa(opts.cacertsDir, caOpts) : await ensureCa(store, () => elector.isLeader(), caOpts, log);
    return ca;
  };

  let k8sEvents: Counter<'kind' | 'type'> | undefined;
  const source = createKubeSource({
    client: new KubeClient(kc), log, domainSuffix: 'cluster.local', rootNamespace: opts.rootNamespace,
    onWatchEvent: (kind, type) => k8sEvents?.inc({ kind, type }),
    debounce: { quietMs: opts.debounceQuietMs, maxMs: opts.debounceMaxMs },
    ...(env.MESHD_K8S_BACKOFF_MAX_MS ? { backoffMaxMs: Number(env.MESHD_K8S_BACKOFF_MAX_MS) } : {}),
    ...(env.MESHD_K8S_DISCOVERY_MS ? { discoveryIntervalMs: Number(env.MESHD_K8S_DISCOVERY_MS) } : {}),
  });
  const reviewer = tokenReviewer(client);
  const adminReviewer = kubernetesAdminVerifier(client);

  let webhookCalls = 0;
  let serverCerts: MeshdServerCertificates | undefined;
  let webhook: Awaited<ReturnType<typeof startWebhookServer>> | undefined;
  let certTimer: NodeJS.Timeout | undefined;
  let unsubscribe = (): void => undefined;
  /** Starts the webhooks with a certificate from the CA meshd opened (called from source.start). */
  const startWebhooks = async (): Promise<void> => {
    serverCerts = new MeshdServerCertificates(ca, {
      dnsNames: ['meshd', `meshd.${namespace}`, `meshd.${namespace}.svc`, `meshd.${namespace}.svc.cluster.local`, 'localhost'],
      ips: ['127.0.0.1', ...(opts.listenAddress !== '0.0.0.0' && opts.listenAddress !== '127.0.0.1' ? [opts.listenAddress] : [])],
      namespace,
    });
    let cert = serverCerts.current();
    const server = await startWebhookServer({
      host: opts.listenAddress, port, certChainPem: cert.certChainPem, privateKeyPem: cert.privateKeyPem,
      inject: defaultInjectOptions(env), log, onRequest: () => { webhookCalls++; },
    });
    webhook = server;
    const certs = serverCerts;
    certTimer = setInterval(() => {
      const c = certs.current();
      if (c.certChainPem !== cert.certChainPem) { cert = c; server.setCertificate(c.certChainPem, c.privateKeyPem); }
    }, 30_000);
    certTimer.unref();
    unsubscribe = ca.onTrustBundleChange(() => leaderPass());
    log.info('k8s: webhooks listening', { port: server.port, paths: ['/inject', '/validate'] });
  };

  let namespaces: string[] = [];
  let refs: RefResolver = { serviceExists: () => false, hostKnown: () => false };
  leaderPass = () => {
    if (!elector.isLeader() || writeQueued || !ca) return;
    writeQueued = true;
    writing = writing.then(async () => {
      writeQueued = false;
      try {
        const s = await writePolicyStatus(client, source.policies(), log) + await writeRouteStatus(client, source.routes(), refs, log);
        const bundle = ca.trustBundlePem().join('');
        const c = await writer.sync(namespaces, bundle);
        const w = await syncWebhookCaBundle(client, bundle, log);
        if (s || c || w) log.info('k8s: leader writes', { policyStatus: s, rootCertConfigMaps: c, webhookCaBundles: w });
      } catch (e) {
        log.warn('k8s: leader writes failed; retried on the next change', { error: KubeError.from(e).message });
      }
    });
  };
  // Also periodically: webhook configurations re-applied with an empty caBundle, ConfigMaps deleted.
  const resyncMs = Number(env.MESHD_LEADER_RESYNC_MS || 60_000);
  const resyncTimer = setInterval(() => { writer.reset(); leaderPass(); }, resyncMs > 0 ? resyncMs : 60_000);
  resyncTimer.unref();

  return {
    source: {
      kind: 'kubernetes',
      async start(cb) { await startWebhooks(); await source.start(cb); },
      diagnostics: () => source.diagnostics(),
      async close() {
        if (certTimer) clearInterval(certTimer);
        clearInterval(resyncTimer);
        unsubscribe();
        await source.close();
        await webhook?.close();
        await elector.stop();
        await writing;
        serverCerts?.close();
        client.close();
      },
    },
    authenticators: [kubernetesAuthenticator(reviewer, opts.trustDomain)],
    adminVerifiers: [adminReviewer],
    registerMetrics: (registry) => {
      k8sEvents = new Counter({ name: 'meshd_k8s_events_total', help: 'Kubernetes watch events received, by kind and event type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR)', labelNames: ['kind', 'type'], registers: [registry] });
    },
    openCa,
    onSnapshot: (snap) => {
      namespaces = snap.namespaces.map((n) => n.meta.name);
      refs = snapshotRefs(snap);
      leaderPass();
    },
    adminRoutes: [
      (app) => app.get('/debug/k8s', route({ kind: 'read', resource: 'debug' }, 'Kubernetes mode: leader, webhook port, token reviews, watched resources'), async () => ({
        namespace, leader: elector.isLeader(), identity: elector.identity, pushes: source.pushes,
        webhookPort: webhook?.port, webhookCalls, tokenReviews: reviewer.calls, adminReviews: adminReviewer.reviews, resources: source.status(),
        diagnostics: source.diagnostics().length,
      })),
    ],
  };
}

/** Parents and backends as the snapshot knows them (Services by name; Service and ServiceEntry hosts). */
function snapshotRefs(snap: MeshSnapshot): RefResolver {
  const services = new Set(snap.services.map((s) => `${s.meta.namespace}/${s.meta.name}`));
  const hosts = new Set([...snap.services.map((s) => s.hostname), ...snap.serviceEntries.flatMap((e) => e.hosts)]);
  return {
    serviceExists: (ns, name) => services.has(`${ns}/${name}`),
    hostKnown: (h) => hosts.has(h) || [...hosts].some((x) => x.startsWith('*.') && h.endsWith(x.slice(1))),
  };
}

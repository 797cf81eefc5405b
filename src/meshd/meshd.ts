/**
 * meshd: wires the config source, the mesh snapshot, translation, the CA and SDS, the ADS
 * server and the admin server together. Data flows one way: source → snapshot → translate
 * → resource cache → ADS streams; the CA feeds secrets into the same streams.
 */
import * as grpc from '@grpc/grpc-js';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildAdminServer } from '../admin/server.js';
import type { AdminRouteInfo } from '../admin/route-table.js';
import { CertificateAuthority, type CaOptions } from '../ca/ca.js';
import { openPluggedCa } from '../ca/cacerts.js';
import { FileCaStore, type CaStore } from '../ca/store.js';
import { CaMetrics } from '../ca/metrics.js';
import { chainAuthenticators, clientCertificateAuthenticator, joinTokenAuthenticator, type Authenticator } from '../ca/auth.js';
import { addCaService } from '../ca/csr-service.js';
import { createCsrLimiter } from '../ca/csr-limits.js';
import { ensureStateDir } from '../ca/state-dir.js';
import { MeshdServerCertificates } from '../ca/server-cert.js';
import { loadOrCreateTokenSigningKey } from '../ca/tokens.js';
import { WorkloadCertManager } from '../sds/cert-manager.js';
import { redactSecret } from '../sds/secrets.js';
import { buildSnapshot } from '../config/snapshot.js';
import type { MeshObject } from '../config/parse.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic, spiffeId, type Diagnostic, type MeshConfig, type MeshSnapshot } from '../model/types.js';
import { XdsServer, adsServerOptions } from '../xds/server/index.js';
import type { AuthContext as XdsAuthContext, AuthResult as XdsAuthResult, ConnectedProxy, GeneratedResources } from '../xds/server/index.js';
import { ResourceType, decodeResource, encodeResource, type ResourceTypeUrl } from '../xds/resource-types.js';
import { findWorkload } from '../xds/translate/index.js';
import { TranslationMemo, byTypeUrl } from '../xds/incremental/translation-memo.js';
import type { Logger } from '../util/log.js';
import type { MeshdOptions } from './options.js';
import type { ConfigSource } from './source.js';
import { createFileSource } from './file-source.js';
import { TelemetryReceiver } from '../telemetry/index.js';
import type { AdminVerifier } from '../admin/credentials.js';
import { adminAccess, adminViewRoutes, registerExpiryGauge, syncz } from './admin-wiring.js';
import { PushLog } from './push-log.js';
import { ScopingController } from './scoping.js';
import { ChangeTracker, changeFields } from './config-changes.js';
import { summarizeChain } from '../ca/cert-summary.js';
import { createJwksFetcher, jwksUrisOf } from '../authz/jwks-fetcher.js';
import { meshConfigObject, watchMeshConfigFile } from './mesh-config-file.js';
import { TelemetryGuard } from '../telemetry/provider-check.js';
import { meshIssuer, readExtraRoots } from '../ca/trust-bundle.js';
import { KubernetesCsrRa } from '../ca/k8s-csr-ra.js';
import { ExternalCaMetrics } from '../ca/external-metrics.js';
import { KubeClient, loadKubeConfig } from '../k8s/kube-client.js';

export interface Meshd {
  readonly xdsPort: number;
  readonly secureXdsPort: number;
  readonly adminPort: number;
  readonly registry: Registry;
  readonly xds: XdsServer;
  readonly ca: CertificateAuthority;
  /** Every admin route fastify registered, with its access class. */
  adminRoutes(): readonly AdminRouteInfo[];
  snapshot(): MeshSnapshot;
  close(): Promise<void>;
}

export interface MeshdExtras {
  /** Replaces the file store (Kubernetes mode). */
  readonly source?: ConfigSource;
  /** Extra authenticators tried after join tokens and client certificates (Kubernetes TokenReview). */
  readonly authenticators?: readonly Authenticator[];
  /** Replaces the file CA store (Kubernetes: a Secret). */
  readonly caStore?: CaStore;
  /**
   * Opens the CA instead of meshd (Kubernetes: wait for the leader's Secret). meshd passes its
   * options (metrics included) and uses the instance it returns, so everything that holds the
   * CA (webhook certificates, root-cert ConfigMaps) sees the same rotations.
   */
  readonly openCa?: (caOpts: CaOptions) => Promise<CertificateAuthority>;
  /** Extra admin routes (webhooks, edges). */
  readonly adminRoutes?: readonly ((app: FastifyInstance) => void)[];
  /** Registers the source's own metrics on meshd's registry (Kubernetes watch events). */
  readonly registerMetrics?: (registry: Registry) => void;
  /** Extra admin credentials beyond the local admin token (Kubernetes: TokenReview + SubjectAccessReview). */
  readonly adminVerifiers?: readonly AdminVerifier[];
  /** Called after every new snapshot (status writers, root ConfigMaps). */
  readonly onSnapshot?: (s: MeshSnapshot, diagnostics: readonly Diagnostic[]) => void;
}

/** Starts meshd; resolves once every port listens and the first snapshot is served. */
export async function startMeshd(opts: MeshdOptions, log: Logger, extras: MeshdExtras = {}): Promise<Meshd> {
  const loose = ensureStateDir(opts.stateDir);
  if (loose) log.warn(loose);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'meshd_process_' });
  const caMetrics = new CaMetrics(registry);
  extras.registerMetrics?.(registry);
  // --mesh-config: read now (its trustDomain and rootNamespace apply from start-up), then watched.
  let reapply: () => void = () => {};
  const meshFile = opts.meshConfigFile ? watchMeshConfigFile(opts.meshConfigFile, () => reapply()) : undefined;
  const initialMesh = meshFile?.current() ?? {};
  const meshConfig: MeshConfig = { ...DEFAULT_MESH_CONFIG, trustDomain: initialMesh.trustDomain ?? opts.trustDomain, rootNamespace: initialMesh.rootNamespace ?? opts.rootNamespace };
  opts = { ...opts, trustDomain: meshConfig.trustDomain, rootNamespace: meshConfig.rootNamespace };
  const caOpts = {
    trustDomain: opts.trustDomain,
    keyType: opts.caKeyType === 'rsa' ? 'rsa-2048' as const : 'ec-p256' as const,
    workloadCertTtlSeconds: Math.round(opts.certTtlMs / 1000),
    metrics: caMetrics,
  };
  const ca = extras.openCa ? await extras.openCa(caOpts)
    : opts.cacertsDir ? openPluggedCa(opts.cacertsDir, caOpts)
      : await CertificateAuthority.open(extras.caStore ?? new FileCaStore(opts.stateDir), caOpts);
  const tokenKey = loadOrCreateTokenSigningKey(opts.stateDir);
  const authenticator = chainAuthenticators([
    joinTokenAuthenticator(tokenKey.publicKey, { trustDomain: opts.trustDomain }),
    clientCertificateAuthenticator(ca),
    ...(extras.authenticators ?? []),
  ]);

  let snapshot: MeshSnapshot = buildSnapshot([], meshConfig, 0);
  let generation = 0;
  let firstSnapshot = false;
  let diagnostics: readonly Diagnostic[] = [];

  // --external-ca kubernetes: meshd authenticates, the external signer signs (CSR API).
  const ext = opts.externalCa;
  const raClient = ext ? new KubeClient(loadKubeConfig(ext.kubeconfig)) : undefined;
  const ra = ext && raClient ? new KubernetesCsrRa({
    client: raClient, signerName: ext.signerName, trustDomain: opts.trustDomain, ttlSeconds: Math.round(opts.certTtlMs / 1000),
    timeoutMs: ext.timeoutMs, metrics: new ExternalCaMetrics(registry), log: (msg, f) => log.warn(msg, f),
  }) : undefined;
  if (ext) log.info('ca: workload certificates come from an external signer (Kubernetes CSR API)', { signerName: ext.signerName });
  const issuer = meshIssuer(ca, ra, opts.extraTrustRoots ? readExtraRoots(opts.extraTrustRoots) : []);

  // eslint-disable-next-line prefer-const
  let xds: XdsServer;
  const pushes = new PushLog();
  /** Node id per stream, for log lines about its certificate. */
  const proxyIds = new Map<string, string>();
  const certs = new WorkloadCertManager({
    issuer,
    ttlSeconds: Math.round(opts.certTtlMs / 1000),
    renewal: { fraction: opts.rotationFraction },
    metrics: caMetrics,
    onRotate: (connectionId) => { void pushes.track('certificate renewal', snapshot.generation, xds.push((p) => p.connectionId === connectionId)); },
    onTrustBundleChange: () => { void pushes.track('trust bundle change', snapshot.generation, xds.push()); },
    log: (line) => log.warn(line),
    onIssued: (connectionId, identity, cert) => {
      const leaf = summarizeChain(cert.certChainPem.slice(0, 1))[0];
      log.info('sds: certificate issued', { proxy: proxyIds.get(connectionId), connection: connectionId, identity: spiffeId(identity), serial: leaf?.serial, notAfter: cert.notAfter.toISOString() });
    },
  });

  // What was last logged per stream, so a push logs only what changed.
  const lastLogged = new WeakMap<ConnectedProxy, string>();
  // Translation only for proxies whose inputs changed (src/xds/incremental).
  const memo = new TranslationMemo();
  // eslint-disable-next-line prefer-const
  let scoping: ScopingController;
  const generate = (proxy: ConnectedProxy): GeneratedResources => {
    const claimed = findWorkload(snapshot, proxy.info);
    // Node metadata names the workload; the credential decides whether the proxy may be it.
    // A proxy authenticated as another identity gets outbound config only (no inbound
    // listeners, no policies of the workload it claims).
    const impostor = proxy.identity !== undefined && claimed !== undefined &&
      (claimed.namespace !== proxy.identity.namespace || claimed.serviceAccount !== proxy.identity.serviceAccount);
    const info = impostor ? { ...proxy.info, workloadName: '', ip: '' } : proxy.info;
    // The on-demand CDS stream names clusters from the full translation; the main stream gets its scope.
    const res = memo.translate(proxy, snapshot, info, proxy.onDemand ? undefined : scoping.decisionFor(proxy));
    if (proxy.onDemand) return { [ResourceType.Cluster]: res.clusters, [ResourceType.Endpoint]: res.endpoints };
    const notes = [
      ...(impostor ? [`authenticated as ${proxy.identity!.namespace}/${proxy.identity!.serviceAccount} but claims workload ${claimed!.namespace}/${claimed!.name} (service account ${claimed!.serviceAccount}): serving outbound config only`] : []),
      ...res.diagnostics.map((d) => formatDiagnostic(d)),
    ];
    const key = notes.join('\n');
    if (key !== (lastLogged.get(proxy) ?? '')) {
      lastLogged.set(proxy, key);
      for (const n of notes) log.warn('translation', { proxy: proxy.info.id, problem: n });
    }
    const out: Partial<Record<ResourceTypeUrl, readonly (readonly Record<string, unknown>[])[]>> = byTypeUrl(res);
    if (proxy.identity && proxy.info.secretSource !== 'agent') {
      if (!certs.defaultSecret(proxy.connectionId)) {
        proxyIds.set(proxy.connectionId, proxy.info.id);
        certs.acquire(proxy.connectionId, proxy.identity);
      }
      // With an external signer the first certificate may still be on its way (pushed when it comes).
      const own = certs.defaultSecret(proxy.connectionId);
      out[ResourceType.Secret] = [own ? [own] : [], [certs.rootCaSecret()]];
    }
    return out;
  };

  const authenticate = async (ctx: XdsAuthContext): Promise<XdsAuthResult> => {
    const auth = ctx.metadata.get('authorization')[0];
    const raw = ctx.peerCertificate?.raw;
    const r = await authenticator.authenticate({
      ...(typeof auth === 'string' ? { authorization: auth } : {}),
      ...(raw && raw.length > 0 ? { peerCertificate: raw } : {}),
    });
    if (r.ok) {
      log.info('xds: stream authenticated', { node: ctx.node.id, identity: `${r.identity.namespace}/${r.identity.serviceAccount}`, method: r.method });
      return { ok: true, identity: r.identity };
    }
    if (r.reason === 'no-credentials' && opts.allowUnauthenticated) {
      log.info('xds: unauthenticated stream served without secrets (--allow-unauthenticated)', { node: ctx.node.id });
      return { ok: true };
    }
    caMetrics.authFailures.inc({ reason: r.reason });
    log.warn('xds: stream refused', { node: ctx.node.id, peer: ctx.peer, reason: r.reason, error: r.message });
    return { ok: false, code: grpc.status.UNAUTHENTICATED, message: `meshd: ${r.message}: present a join token (meshctl token create), a Kubernetes service-account token, or a client certificate from meshd's CA` };
  };

  xds = new XdsServer({
    generate, authenticate, registry, logger: log,
    onDisconnect: (p) => { certs.release(p.connectionId); proxyIds.delete(p.connectionId); scoping.forget(p); },
    onDemandRequested: (p, names, found) => scoping.onDemandRequested(p, names, found),
    limits: opts.xdsLimits,
  });

  scoping = new ScopingController({
    options: opts.scoping, snapshot: () => snapshot, registry, log, proxies: () => xds.connectedProxies(),
    push: (reason, filter) => { void pushes.track(reason, snapshot.generation, xds.push(filter)); },
  });
  const changes = new ChangeTracker();
  // JWKS of jwksUri rules come in through the snapshot; a fetch that changes keys rebuilds it.
  const telemetryGuard = new TelemetryGuard();
  let lastObjects: readonly MeshObject[] = [];
  let sourceDiags: readonly Diagnostic[] = [];
  const jwks = createJwksFetcher({ registry, log, onChange: () => { if (firstSnapshot) applyObjects(lastObjects, sourceDiags); } });
  const applyObjects = (objects: readonly MeshObject[], srcDiags: readonly Diagnostic[]): void => {
    lastObjects = objects;
    sourceDiags = srcDiags;
    // Each diagnostic is logged when it appears, not again on every snapshot while it stays.
    const logged = new Set(diagnostics.map((d) => formatDiagnostic(d)));
    // The mesh config file is one more object; Telemetry resources are checked against it.
    const mesh = meshFile ? meshFileObjects() : { objects: [], diagnostics: [] };
    const guarded = telemetryGuard.apply([...objects, ...mesh.objects], meshConfig);
    objects = guarded.objects;
    const built = buildSnapshot(objects, meshConfig, ++generation);
    jwks.want(jwksUrisOf(built));
    snapshot = Object.freeze({ ...built, jwks: jwks.current() });
    const diags = [...srcDiags, ...jwks.diagnostics(), ...mesh.diagnostics, ...guarded.diagnostics];
    diagnostics = diags;
    log.info('config: applied', { generation, objects: objects.length, diagnostics: diags.length, ...changeFields(changes.next(objects)) });
    issuer.setMeshRoots(snapshot.config.caCertificates ?? []);
    firstSnapshot = true;
    for (const d of diags) if (!logged.has(formatDiagnostic(d))) log.warn('config', { diagnostic: d });
    extras.onSnapshot?.(snapshot, diags);
    void pushes.track('config change', snapshot.generation, xds.push()).then((o) => {
      if (o.proxies > 0) log.info('push', { generation: snapshot.generation, proxies: o.proxies, converged: o.converged, ms: Math.round(o.ms) });
    });
  };
  // The mesh config file's trust domain and root namespace are fixed at start-up (the CA uses them).
  const meshFileObjects = (): { objects: MeshObject[]; diagnostics: Diagnostic[] } => {
    const o = { ...meshFile!.current() };
    const diags: Diagnostic[] = [...meshFile!.diagnostics()];
    for (const k of ['trustDomain', 'rootNamespace'] as const) {
      if (o[k] !== undefined && o[k] !== meshConfig[k]) {
        diags.push({ severity: 'warning', source: opts.meshConfigFile!, kind: 'MeshConfig', name: 'mesh', field: k, message: `changed to ${o[k]}; restart meshd to apply (${meshConfig[k]} stays in force)` });
      }
      delete o[k];
    }
    return { objects: [meshConfigObject(o, opts.meshConfigFile!)], diagnostics: diags };
  };
  reapply = () => { log.info('mesh config changed', { file: opts.meshConfigFile }); applyObjects(lastObjects, sourceDiags); };
  const source = extras.source ?? createFileSource(opts, log);
  await source.start(applyObjects);

  // gRPC: plaintext and TLS ports both carry ADS and the CA service.
  const limiter = createCsrLimiter({ perSecond: opts.csrPerSecond, perIdentityPerMinute: opts.csrPerIdentityPerMinute });
  const caDeps = { ca, authenticator, metrics: caMetrics, limiter, log: (line: string) => log.warn(line) };
  const telemetry = new TelemetryReceiver({ authenticator, snapshot: () => snapshot, registry, log, allowUnauthenticated: opts.allowUnauthenticated, onRecord: (dst, r) => scoping.onAccessLog(dst, r), edgeScope: (row) => scoping.edgeScope(row) });
  const plain = new grpc.Server(adsServerOptions(opts.xdsLimits));
  xds.addTo(plain);
  addCaService(plain, caDeps);
  telemetry.addTo(plain);
  // Sidecar agents in pods dial meshd's Service (`meshd.<ns>.svc:15012`) and check that name.
  const svcNs = process.env.MESHD_NAMESPACE || 'istio-system';
  const serverCerts = new MeshdServerCertificates(ca, {
    dnsNames: ['meshd', `meshd.${svcNs}`, `meshd.${svcNs}.svc`, `meshd.${svcNs}.svc.cluster.local`, 'localhost'],
    ips: ['127.0.0.1', ...(opts.listenAddress !== '0.0.0.0' ? [opts.listenAddress] : [])],
  });
  const secure = new grpc.Server(adsServerOptions(opts.xdsLimits));
  xds.addTo(secure);
  addCaService(secure, caDeps);
  telemetry.addTo(secure);
  // Our own listening sockets (xds.serve): connections per address and silent connections are limited there.
  const bind = (s: grpc.Server, port: number, creds: grpc.ServerCredentials, what: string): Promise<number> =>
    xds.serve(s, `${opts.listenAddress}:${port}`, creds).catch((err: unknown) => {
      throw new Error(`cannot listen on ${opts.listenAddress}:${port} for ${what}: ${err instanceof Error ? err.message : String(err)}`);
    });
  const xdsPort = await bind(plain, opts.xdsPort, grpc.ServerCredentials.createInsecure(), '--xds-port');
  const secureXdsPort = await bind(secure, opts.secureXdsPort, serverCerts.serverCredentials(), '--secure-xds-port');

  const access = adminAccess(opts, log, extras.adminVerifiers);
  registerExpiryGauge(registry, certs);
  const adminServer = buildAdminServer({
    registry,
    access,
    log,
    ready: () => firstSnapshot,
    syncz: () => syncz(xds),
    diagnostics: () => diagnostics,
    configDump: (proxyId) => {
      const match = (c: ConnectedProxy): boolean => c.info.id === proxyId || c.connectionId === proxyId;
      // The main stream first: an on-demand CDS stream shares the node id.
      const p = xds.connectedProxies().find((c) => match(c) && !c.onDemand) ?? xds.connectedProxies().find(match);
      if (!p) return undefined;
      const gen = generate(p);
      const dump: Record<string, unknown> = {};
      for (const [t, chunks] of Object.entries(gen)) {
        dump[t] = (chunks ?? []).flat().map((r) => printableBytes(redactSecret(decodeResource(t, encodeResource(t as ResourceTypeUrl, r)))));
      }
      return { proxy: p.info, identity: p.identity, scope: scoping.report(p), resources: dump };
    },
    routes: [
      ...adminViewRoutes({ registry, log, ca, certs, xds, telemetry, pushes, snapshot: () => snapshot, diagnostics: () => diagnostics, scopes: () => scoping.scopedWorkloads() }),
      ...telemetry.routes(),
      ...scoping.routes(),
      ...(extras.adminRoutes ?? []),
    ],
  });
  const admin = adminServer.app;
  await admin.listen({ host: opts.listenAddress, port: opts.adminPort }).catch((e: unknown) => {
    throw new Error(`cannot listen on ${opts.listenAddress}:${opts.adminPort} for --admin-port: ${e instanceof Error ? e.message : String(e)}`);
  });
  const addr = admin.server.address();
  const adminPort = typeof addr === 'object' && addr ? addr.port : opts.adminPort;

  return {
    xdsPort, secureXdsPort, adminPort, registry, xds, ca,
    adminRoutes: adminServer.routes,
    snapshot: () => snapshot,
    async close() {
      scoping.close();
      meshFile?.close();
      await source.close();
      jwks.close();
      certs.close();
      ra?.close();
      raClient?.close();
      serverCerts.close?.();
      await admin.close();
      plain.forceShutdown();
      secure.forceShutdown();
      await xds.close();
    },
  };
}

/** Bytes in a config dump as text: PEM stays readable, anything else is base64. */
function printableBytes(v: unknown): unknown {
  if (v instanceof Uint8Array) {
    const text = Buffer.from(v).toString('utf8');
    return text.startsWith('-----BEGIN ') ? text : Buffer.from(v).toString('base64');
  }
  if (Array.isArray(v)) return v.map(printableBytes);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, printableBytes(x)]));
  return v;
}

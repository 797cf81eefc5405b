/**
 * meshd's admin surface beyond the basics: who may call it (the admin token in the state dir,
 * Kubernetes verifiers, loopback or not), the CA routes, the debug views (`registryz`,
 * `authorizationz`, `push_status`, `connections`, `analyze`), and the dashboard. Composition
 * only: each view is computed by a pure function elsewhere.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import type { CertificateAuthority } from '../ca/ca.js';
import { summarizeChain } from '../ca/cert-summary.js';
import { retireBlocker } from '../ca/rotation-guard.js';
import { spiffeId, type Diagnostic, type MeshSnapshot } from '../model/types.js';
import type { WorkloadCertManager } from '../sds/cert-manager.js';
import type { TelemetryReceiver } from '../telemetry/index.js';
import { edgeRows, plaintextReport } from '../telemetry/reports.js';
import type { Logger } from '../util/log.js';
import { SHORT_NAME, type ResourceTypeUrl } from '../xds/resource-types.js';
import type { XdsServer } from '../xds/server/index.js';
import { syncState } from '../xds/server/sync-state.js';
import { isLoopback, type AccessMode } from '../admin/access.js';
import { loadOrCreateAdminToken } from '../admin/admin-token.js';
import { chainVerifiers, localTokenVerifier, type AdminVerifier } from '../admin/credentials.js';
import { authorizationz } from '../admin/authorizationz.js';
import { registryz } from '../admin/registryz.js';
import { trafficView } from '../admin/traffic.js';
import { routezView } from '../admin/routez.js';
import { translate } from '../xds/translate/index.js';
import { dashboardRoutes } from '../admin/dashboard.js';
import { route } from '../admin/route-table.js';
import { analyze, type ScopedWorkload } from '../analyze/index.js';
import type { MeshdOptions } from './options.js';
import type { PushLog } from './push-log.js';
import { MESHD_VERSION } from '../version.js';

type RouteAdder = (app: FastifyInstance) => void;
const DEBUG = { kind: 'read', resource: 'debug' } as const;

/**
 * The admin port's access settings: the local admin token (minted into the state dir on first
 * start), further verifiers (Kubernetes), and whether the port is exposed beyond loopback. Logs
 * where the token is (never the token) and warns when the port is exposed.
 */
export function adminAccess(opts: MeshdOptions, log: Logger, extra: readonly AdminVerifier[] = []): { mode: AccessMode; verifier: AdminVerifier } {
  const t = loadOrCreateAdminToken(opts.stateDir);
  log.info(t.created ? 'admin: token minted' : 'admin: token loaded', { path: t.path });
  const exposed = !isLoopback(opts.listenAddress);
  if (exposed) {
    log.warn('admin: --listen-address is not loopback: the admin port is reachable from the network', {
      listenAddress: opts.listenAddress,
      debugEndpoints: opts.adminOpen ? 'open to anyone (--admin-open)' : 'closed without a credential',
      stateChanges: 'need a credential',
    });
  }
  return { mode: { exposed, open: opts.adminOpen }, verifier: chainVerifiers([localTokenVerifier(t.token), ...extra]) };
}

export interface AdminViewsDeps {
  readonly registry: Registry;
  readonly log: Logger;
  readonly ca: CertificateAuthority;
  readonly certs: WorkloadCertManager;
  readonly xds: XdsServer;
  readonly telemetry: TelemetryReceiver;
  readonly pushes: PushLog;
  readonly snapshot: () => MeshSnapshot;
  /** The config source's diagnostics (what /debug/diagnostics shows), for /debug/analyze. */
  readonly diagnostics?: () => readonly Diagnostic[];
  /** Workloads under learned scoping and what their scopes keep, for /debug/analyze. */
  readonly scopes?: () => readonly ScopedWorkload[];
  readonly now?: () => number;
}

/** `/debug/syncz`: per stream and type, the sync status plus istioctl's state word. */
export function syncz(xds: XdsServer): unknown {
  return {
    proxies: xds.syncStatus().map((p) => ({
      ...p,
      types: Object.fromEntries(Object.entries(p.types).map(([t, s]) => [t, { ...s, type: SHORT_NAME[t as ResourceTypeUrl] ?? t, state: syncState(s) }])),
    })),
    rejections: xds.rejections(),
  };
}

/** A loopback `host:port` from node metadata (`ADMIN_ADDRESS`), where meshctl may read Envoy's `/certs`. */
function adminAddressOf(metadata: Readonly<Record<string, unknown>>): string | undefined {
  const v = metadata.ADMIN_ADDRESS;
  if (typeof v !== 'string') return undefined;
  const m = /^([^:]+):(\d+)$/.exec(v);
  return m && isLoopback(m[1]!) ? v : undefined;
}

/** `/debug/connections`: every authenticated stream, its identity and the certificate meshd holds for it (no key). */
export function connections(d: Pick<AdminViewsDeps, 'xds' | 'certs'>, withPem = false): unknown[] {
  return d.xds.connectedProxies().map((p) => {
    const held = d.certs.certificate(p.connectionId);
    const adminAddress = adminAddressOf(p.node.metadata);
    return {
      proxyId: p.info.id, connectionId: p.connectionId, protocol: p.protocol, peer: p.peer,
      connectedAt: new Date(p.connectedAt).toISOString(),
      workload: p.info.workloadName ? `${p.info.namespace}/${p.info.workloadName}` : null,
      identity: p.identity ? spiffeId(p.identity) : null,
      secretSource: p.info.secretSource ?? 'ads',
      envoyVersion: p.node.userAgentVersion || null,
      adminAddress: adminAddress ?? null,
      certificate: held ? summarizeChain(held.certChainPem) : null,
      ...(withPem && held ? { chainPem: held.certChainPem } : {}),
    };
  }).sort((a, b) => (a.proxyId < b.proxyId ? -1 : a.proxyId > b.proxyId ? 1 : 0));
}

/** Registers `meshd_sds_certificates_expiring{within}`: held workload certificates ending within 1 h and 6 h. */
export function registerExpiryGauge(registry: Registry, certs: Pick<WorkloadCertManager, 'expiries'>, now: () => number = Date.now): void {
  new Gauge({
    name: 'meshd_sds_certificates_expiring',
    help: 'Workload certificates held for connected proxies whose NotAfter is within the window (1h, 6h)',
    labelNames: ['within'],
    registers: [registry],
    collect() {
      const t = now();
      const ends = certs.expiries();
      this.set({ within: '1h' }, ends.filter((e) => e - t <= 3_600_000).length);
      this.set({ within: '6h' }, ends.filter((e) => e - t <= 6 * 3_600_000).length);
    },
  });
}

/** The CA routes, the debug views and the dashboard. */
export function adminViewRoutes(d: AdminViewsDeps): RouteAdder[] {
  const now = d.now ?? Date.now;
  return [
    (app) => app.post<{ Querystring: { step?: string; force?: string } }>('/ca/rotate-root', route({ kind: 'write', resource: 'ca', verb: 'rotate' }, 'one root rotation step (?step=introduce|activate|retire; retire waits for re-issue unless &force=true)'), async (req, reply) => {
      const step = req.query.step;
      const ca = d.ca;
      if (step === 'retire' && ca.rotationPhase === 'activated') {
        const blocked = retireBlocker(ca, d.certs);
        if (blocked && req.query.force !== 'true') return reply.code(409).send({ error: blocked, status: ca.status() });
        if (blocked) d.log.warn('ca: retire forced', { reason: blocked });
      }
      const run = step === 'introduce' ? () => ca.introduceRoot() : step === 'activate' ? () => ca.activateNewRoot() : step === 'retire' ? () => ca.retireOldRoot() : undefined;
      if (!run) return reply.code(400).send({ error: 'step must be introduce, activate or retire' });
      try {
        await run();
      } catch (e) {
        // A step out of order (or on a plugged-in CA) conflicts with the CA's current state.
        return reply.code(409).send({ error: e instanceof Error ? e.message : String(e), status: ca.status() });
      }
      d.log.info('ca: root rotation step', { step, phase: ca.rotationPhase });
      return { step, trustBundle: ca.trustBundlePem().length };
    }),
    (app) => app.get('/ca/status', route(DEBUG, 'the CA: kind, rotation phase, signer, trusted roots with expiry'), async () => ({ ...d.ca.status(), workloadCertTtlSeconds: d.ca.workloadCertTtlSeconds })),
    (app) => app.get('/debug/registryz', route(DEBUG, 'namespaces, services and workloads in the current snapshot, with the services each workload serves'), async () => registryz(d.snapshot())),
    (app) => app.get<{ Querystring: { namespace?: string } }>('/debug/traffic', route(DEBUG, 'the traffic model in force: route sets, DestinationRules, ServiceEntries, Sidecars, workload localities and weights (?namespace=)'), async (req) => trafficView(d.snapshot(), req.query.namespace || undefined)),
    (app) => app.get<{ Querystring: { workload?: string; interception?: string } }>('/debug/routez', route(DEBUG, 'the HTTP route configurations and cluster names meshd sends (or would send) one workload\'s proxy (?workload=ns/name; what meshctl route check evaluates)'), async (req, reply) => {
      const v = routezView({ snapshot: d.snapshot, connected: () => d.xds.connectedProxies(), translate }, req.query.workload, req.query.interception || undefined);
      return 'error' in v ? reply.code(v.status).send({ error: v.error }) : v;
    }),
    (app) => app.get<{ Querystring: { workload?: string } }>('/debug/authorizationz', route(DEBUG, 'per workload: mTLS mode per port and the PeerAuthentication that set it, AuthorizationPolicies selecting it (?workload=ns/name)'), async (req, reply) => {
      const v = authorizationz(d.snapshot(), req.query.workload || undefined);
      return v === undefined ? reply.code(404).send({ error: `no workload ${JSON.stringify(req.query.workload)}; see /debug/registryz` }) : v;
    }),
    (app) => app.get('/debug/push_status', route(DEBUG, 'the last 50 pushes: trigger, generation, proxies, converged, milliseconds'), async () => ({ generation: d.snapshot().generation, connected: d.xds.connectedProxies().length, ...d.pushes.status() })),
    (app) => app.get<{ Querystring: { pem?: string } }>('/debug/connections', route(DEBUG, 'authenticated ADS streams: proxy, identity, peer, Envoy version, the certificate chain meshd holds for it (?pem=true adds the PEM; never a key)'), async (req) => connections(d, req.query.pem === 'true')),
    (app) => app.get('/version', route({ kind: 'public' }, 'meshd\'s version'), async () => ({ version: MESHD_VERSION, node: process.version })),
    (app) => app.get<{ Querystring: { window?: string } }>('/debug/analyze', route(DEBUG, 'policy and traffic lint over the current snapshot, the plaintext seen in the last 10 minutes, the telemetry edges, the config diagnostics and what learned scopes keep (what meshctl analyze shows)'), async () => {
      const snapshot = d.snapshot();
      return analyze({
        snapshot, plaintext: plaintextReport(d.telemetry.store, snapshot, now(), 10 * 60_000),
        edges: edgeRows(d.telemetry.store, snapshot), diagnostics: d.diagnostics?.() ?? [],
        scopes: d.scopes?.() ?? [], now: now(),
      });
    }),
    ...dashboardRoutes(),
  ];
}

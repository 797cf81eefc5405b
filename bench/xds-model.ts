/**
 * The mesh-1k workload as model objects (Services, WorkloadEntries, a mesh-wide STRICT
 * PeerAuthentication), so the xDS bench can run meshd's real translation (`--translate`).
 */
import { parseObject, type MeshObject } from '../src/config/parse.js';
import { buildSnapshot } from '../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type MeshConfig, type MeshSnapshot, type ProxyInfo } from '../src/model/types.js';
import { TranslationMemo, byTypeUrl } from '../src/xds/incremental/translation-memo.js';
import { translate } from '../src/xds/translate/index.js';
import type { ConnectedProxy, GeneratedResources } from '../src/xds/server/types.js';

export interface ModelShape {
  readonly namespaces: number;
  readonly servicesPerNamespace: number;
  readonly endpointsPerService: number;
}

function parsed(raw: unknown): MeshObject {
  const r = parseObject(raw, { source: 'bench', defaultNamespace: 'default' });
  if (r.status !== 'ok') throw new Error(`bench object: ${JSON.stringify(r.diagnostics)}`);
  return r.object;
}

const svcName = (i: number): string => `svc-${i}`;

/**
 * The model's telemetry (`--telemetry`): `metrics` is meshd's default (Istio's standard
 * metrics, no tracing); `full` adds Zipkin tracing (the `zipkin` service below) for every
 * proxy; `off` turns both off (no metrics provider, no tracing), the baseline for telemetry's cost.
 */
export type ModelTelemetry = 'off' | 'metrics' | 'full';

function meshConfig(t: ModelTelemetry): MeshConfig {
  if (t === 'metrics') return DEFAULT_MESH_CONFIG;
  if (t === 'off') return { ...DEFAULT_MESH_CONFIG, defaultProviders: { metrics: [] } };
  return {
    ...DEFAULT_MESH_CONFIG,
    telemetryProviders: [{ kind: 'zipkin', name: 'zipkin', target: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } }],
    defaultProviders: { tracing: ['zipkin'] },
  };
}

/**
 * The VirtualService of service `i` in `ns` for `traffic`: a header match to subset v2, then a
 * 90/10 split between v1 and v2, each route with a timeout and retries.
 */
function virtualService(ns: number, i: number): MeshObject {
  const host = svcName(i);
  const policy = { timeout: '5s', retries: { attempts: 2, perTryTimeout: '2s', retryOn: '5xx,connect-failure' } };
  return parsed({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService',
    metadata: { name: host, namespace: `ns-${ns}` },
    spec: {
      hosts: [host],
      http: [
        { name: 'canary-header', match: [{ headers: { 'x-canary': { exact: 'true' } } }], route: [{ destination: { host, subset: 'v2' } }], ...policy },
        { name: 'split', route: [{ destination: { host, subset: 'v1' }, weight: 90 }, { destination: { host, subset: 'v2' }, weight: 10 }], ...policy },
      ],
    },
  });
}

/** The DestinationRule of service `i` in `ns` for `traffic`: subsets v1/v2 by the `version` label, a connection pool. */
function destinationRule(ns: number, i: number): MeshObject {
  const host = svcName(i);
  return parsed({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule',
    metadata: { name: host, namespace: `ns-${ns}` },
    spec: {
      host,
      trafficPolicy: { connectionPool: { tcp: { maxConnections: 100, connectTimeout: '2s' }, http: { http1MaxPendingRequests: 64, http2MaxRequests: 256, maxRetries: 3 } } },
      subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }],
    },
  });
}

/** Endpoint `e`'s version label: even endpoints are v1, odd ones v2 (mesh-1k: one of each per service). */
const versionOf = (e: number): string => (e % 2 === 0 ? 'v1' : 'v2');

/** Options of the model beyond its shape. */
export interface ModelOptions {
  /** Istio telemetry (default `metrics`). */
  readonly telemetry?: ModelTelemetry;
  /** A VirtualService and a DestinationRule on every service (default false), for traffic management's cost. */
  readonly traffic?: boolean;
}

/**
 * The model mesh; endpoint `e` of service `i` in namespace `ns` is workload `svc-i-e`, labelled
 * `version: v1` (even e) or `v2` (odd e) in every variant, so `traffic` adds only the VS and DR.
 */
export class ModelMesh {
  private readonly objects = new Map<string, MeshObject>();
  private generation = 0;
  private moves = 0;
  snapshot: MeshSnapshot;

  private readonly config: MeshConfig;
  private readonly traffic: boolean;

  constructor(readonly shape: ModelShape, options: ModelOptions = {}) {
    this.config = meshConfig(options.telemetry ?? 'metrics');
    this.traffic = options.traffic ?? false;
    this.put(parsed({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } }));
    // The tracing collector's service, in every variant (the same clusters and routes whether tracing is on or off).
    this.put(parsed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'zipkin', namespace: 'istio-system' }, spec: { selector: { app: 'zipkin' }, ports: [{ name: 'http-zipkin', port: 9411, targetPort: 9411 }] } }));
    for (let ns = 0; ns < shape.namespaces; ns++) {
      this.put(parsed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${ns}` } }));
      for (let i = 0; i < shape.servicesPerNamespace; i++) {
        this.put(parsed({ apiVersion: 'v1', kind: 'Service', metadata: { name: svcName(i), namespace: `ns-${ns}` }, spec: { selector: { app: svcName(i) }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }));
        for (let e = 0; e < shape.endpointsPerService; e++) this.put(this.workload(ns, i, e, 0));
        if (this.traffic) {
          this.put(virtualService(ns, i));
          this.put(destinationRule(ns, i));
        }
      }
    }
    this.snapshot = this.build();
  }

  private workload(ns: number, i: number, e: number, gen: number): MeshObject {
    return parsed({
      apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
      metadata: { name: `${svcName(i)}-${e}`, namespace: `ns-${ns}` },
      spec: { address: `10.${ns}.${i}.${(e + gen * this.shape.endpointsPerService) % 250 + 1}`, labels: { app: svcName(i), version: versionOf(e) }, serviceAccount: svcName(i), ports: { http: 8080 } },
    });
  }

  private put(o: MeshObject): void {
    this.objects.set(`${o.kind}/${o.value.meta.namespace}/${o.value.meta.name}`, o);
  }

  private build(): MeshSnapshot {
    return (this.snapshot = buildSnapshot([...this.objects.values()], this.config, ++this.generation));
  }

  /** Workload (ns, i, e) for sidecar number `index`: every service's first endpoint has a sidecar. */
  sidecar(index: number): { namespace: string; workload: string; ip: string } {
    const ns = index % this.shape.namespaces;
    const i = Math.floor(index / this.shape.namespaces) % this.shape.servicesPerNamespace;
    return { namespace: `ns-${ns}`, workload: `${svcName(i)}-0`, ip: `10.${ns}.${i}.1` };
  }

  /**
   * Service `g % services` gets an extra HTTP port `9000 + g`: a change every sidecar depends on.
   * With `traffic` the service keeps its VS (no port match: it routes the new port too) and DR
   * (its subsets get clusters on the new port).
   */
  addPort(g: number): MeshSnapshot {
    const ns = g % this.shape.namespaces;
    const i = (g * 11) % this.shape.servicesPerNamespace;
    this.put(parsed({ apiVersion: 'v1', kind: 'Service', metadata: { name: svcName(i), namespace: `ns-${ns}` }, spec: { selector: { app: svcName(i) }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: `http-extra`, port: 9000 + (g % 50), targetPort: 8080 }] } }));
    return this.build();
  }

  /** One workload moves to a new address (a pod replaced): a new snapshot. */
  changeOneEndpoint(): MeshSnapshot {
    const g = ++this.moves;
    const ns = g % this.shape.namespaces;
    const i = (g * 7) % this.shape.servicesPerNamespace;
    this.put(this.workload(ns, i, this.shape.endpointsPerService - 1, g));
    return this.build();
  }
}

/**
 * The model mesh as the bench's workload: meshd's real translation for each simulated sidecar
 * (mapped from its WORKLOAD_NAME `app-<i>` to sidecar i of the model), through the incremental
 * memo unless `memo` is false (every proxy translated on every push, as before the memo).
 */
export class TranslatedWorkload {
  readonly mesh: ModelMesh;
  readonly memo = new TranslationMemo();
  private readonly infos = new WeakMap<ConnectedProxy, ProxyInfo>();
  private serviceGen = 0;

  constructor(shape: ModelShape, private readonly useMemo: boolean, options: ModelOptions = {}) {
    this.mesh = new ModelMesh(shape, options);
  }

  private info(p: ConnectedProxy): ProxyInfo {
    let i = this.infos.get(p);
    if (!i) {
      const index = Number(/^app-(\d+)$/.exec(p.info.workloadName)?.[1] ?? 0);
      const s = this.mesh.sidecar(index);
      this.infos.set(p, (i = { ...p.info, namespace: s.namespace, workloadName: s.workload, ip: s.ip }));
    }
    return i;
  }

  generate(p: ConnectedProxy): GeneratedResources {
    const info = this.info(p);
    return byTypeUrl(this.useMemo ? this.memo.translate(p, this.mesh.snapshot, info) : translate(this.mesh.snapshot, info));
  }

  /** Sidecar 0's translation: the shared chunks, built before the bench's memory baseline. */
  sharedChunks(): GeneratedResources {
    const s = this.mesh.sidecar(0);
    const info: ProxyInfo = { id: 'baseline', ip: s.ip, workloadName: s.workload, namespace: s.namespace, labels: {}, interceptionMode: 'REDIRECT', proxyless: false };
    return byTypeUrl(translate(this.mesh.snapshot, info));
  }

  changeOneEndpoint(): void {
    this.mesh.changeOneEndpoint();
  }

  /** A service gains a port: every sidecar gets new CDS, EDS and RDS. */
  changeOneCluster(): void {
    this.mesh.addPort(++this.serviceGen);
  }

  changeRoutes(): void {
    this.mesh.addPort(++this.serviceGen);
  }
}

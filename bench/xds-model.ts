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

/** The model mesh; endpoint `e` of service `i` in namespace `ns` is workload `svc-i-e`. */
export class ModelMesh {
  private readonly objects = new Map<string, MeshObject>();
  private generation = 0;
  private moves = 0;
  snapshot: MeshSnapshot;

  private readonly config: MeshConfig;

  constructor(readonly shape: ModelShape, telemetry: ModelTelemetry = 'metrics') {
    this.config = meshConfig(telemetry);
    this.put(parsed({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } }));
    // The tracing collector's service, in every variant (the same clusters and routes whether tracing is on or off).
    this.put(parsed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'zipkin', namespace: 'istio-system' }, spec: { selector: { app: 'zipkin' }, ports: [{ name: 'http-zipkin', port: 9411, targetPort: 9411 }] } }));
    for (let ns = 0; ns < shape.namespaces; ns++) {
      this.put(parsed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${ns}` } }));
      for (let i = 0; i < shape.servicesPerNamespace; i++) {
        this.put(parsed({ apiVersion: 'v1', kind: 'Service', metadata: { name: svcName(i), namespace: `ns-${ns}` }, spec: { selector: { app: svcName(i) }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }));
        for (let e = 0; e < shape.endpointsPerService; e++) this.put(this.workload(ns, i, e, 0));
      }
    }
    this.snapshot = this.build();
  }

  private workload(ns: number, i: number, e: number, gen: number): MeshObject {
    return parsed({
      apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
      metadata: { name: `${svcName(i)}-${e}`, namespace: `ns-${ns}` },
      spec: { address: `10.${ns}.${i}.${(e + gen * this.shape.endpointsPerService) % 250 + 1}`, labels: { app: svcName(i) }, serviceAccount: svcName(i), ports: { http: 8080 } },
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

  /** Service `g % services` gets an extra HTTP port `9000 + g`: a change every sidecar depends on. */
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

  constructor(shape: ModelShape, private readonly useMemo: boolean, telemetry: ModelTelemetry = 'metrics') {
    this.mesh = new ModelMesh(shape, telemetry);
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

/**
 * The mesh-1k workload as model objects (Services, WorkloadEntries, a mesh-wide STRICT
 * PeerAuthentication), so the xDS bench can run meshd's real translation (`--translate`).
 */
import { parseObject, type MeshObject } from '../src/config/parse.js';
import { buildSnapshot } from '../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type MeshSnapshot } from '../src/model/types.js';

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

/** The model mesh; endpoint `e` of service `i` in namespace `ns` is workload `svc-i-e`. */
export class ModelMesh {
  private readonly objects = new Map<string, MeshObject>();
  private generation = 0;
  private moves = 0;
  snapshot: MeshSnapshot;

  constructor(readonly shape: ModelShape) {
    this.put(parsed({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } }));
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
    return (this.snapshot = buildSnapshot([...this.objects.values()], DEFAULT_MESH_CONFIG, ++this.generation));
  }

  /** Workload (ns, i, e) for sidecar number `index`: every service's first endpoint has a sidecar. */
  sidecar(index: number): { namespace: string; workload: string; ip: string } {
    const ns = index % this.shape.namespaces;
    const i = Math.floor(index / this.shape.namespaces) % this.shape.servicesPerNamespace;
    return { namespace: `ns-${ns}`, workload: `${svcName(i)}-0`, ip: `10.${ns}.${i}.1` };
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

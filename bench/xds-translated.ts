/**
 * `--translate` for the bench's runner: xds-model.ts's TranslatedWorkload (meshd's real
 * translation of the mesh-1k/10k model, with or without the incremental memo) behind the
 * BenchWorkload seam, each change saying what the sidecars will see. meshd only: with
 * `--peers`, the peers serve the plain workload of the same services and endpoints.
 */
import { outboundClusterName } from '../src/xds/names.js';
import type { ConnectedProxy, GeneratedResources } from '../src/xds/server/types.js';
import { TranslatedWorkload, type ModelOptions } from './xds-model.js';
import { DEFAULT_CONNECT_TIMEOUT_S, hostOf, type BenchWorkload, type MeshChange, type WorkloadShape } from './xds-workload.js';

/** The model's changes, mirrored: ModelMesh moves endpoint e = last of (g % ns, g·7 % services) and adds port 9000 + g % 50 to (g % ns, g·11 % services). */
export class TranslatedBenchWorkload implements BenchWorkload {
  private readonly w: TranslatedWorkload;
  private moves = 0;
  private ports = 0;

  constructor(private readonly shape: WorkloadShape, memo: boolean, options: ModelOptions = {}) {
    this.w = new TranslatedWorkload({ namespaces: shape.namespaces, servicesPerNamespace: shape.servicesPerNamespace, endpointsPerService: shape.endpointsPerService }, memo, options);
  }

  generate(p: ConnectedProxy): GeneratedResources {
    return this.w.generate(p);
  }

  sharedChunks(): GeneratedResources {
    return this.w.sharedChunks();
  }

  private service(ns: number, i: number): MeshChange['service'] {
    return { namespace: `ns-${ns}`, name: `svc-${i}`, endpoints: [], connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S };
  }

  changeOneEndpoint(): MeshChange {
    const g = ++this.moves;
    const { namespaces, servicesPerNamespace: n, endpointsPerService: eps } = this.shape;
    const ns = g % namespaces;
    const i = (g * 7) % n;
    this.w.changeOneEndpoint();
    const s = this.service(ns, i);
    return { kind: 'endpoints', service: s, cluster: outboundClusterName(80, hostOf(s)), newAddress: `10.${ns}.${i}.${((eps - 1 + g * eps) % 250) + 1}` };
  }

  /** A service gains a port: a new cluster in every sidecar's CDS (the model has no connect-timeout change). */
  private addPort(): MeshChange {
    const g = ++this.ports;
    const ns = g % this.shape.namespaces;
    const i = (g * 11) % this.shape.servicesPerNamespace;
    this.w.changeOneCluster();
    const s = this.service(ns, i);
    return { kind: 'service', service: s, cluster: outboundClusterName(9000 + (g % 50), hostOf(s)) };
  }

  changeOneCluster(): MeshChange {
    return this.addPort();
  }

  addService(): MeshChange {
    return this.addPort();
  }

  changeRoutes(): void {
    this.addPort();
  }
}

/**
 * The bench mesh as istiod reads it from `--configDir`: per namespace one file of
 * ServiceEntries (MESH_INTERNAL, STATIC, port 80 HTTP → 8080, selecting WorkloadEntries by
 * `app`) and their WorkloadEntries; one file of DestinationRules for changed connect timeouts.
 * Files are replaced atomically (written under a name istiod ignores, then renamed).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_PORT, TARGET_PORT, hostOf, type MeshService } from './xds-workload.js';

const API = 'networking.istio.io/v1';

function serviceEntry(s: MeshService): object {
  return {
    apiVersion: API,
    kind: 'ServiceEntry',
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      hosts: [hostOf(s)],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: [{ number: SERVICE_PORT, name: 'http', protocol: 'HTTP', targetPort: TARGET_PORT }],
      workloadSelector: { labels: { app: s.name } },
    },
  };
}

function workloadEntries(s: MeshService): object[] {
  return s.endpoints.map((address, e) => ({
    apiVersion: API,
    kind: 'WorkloadEntry',
    metadata: { name: `${s.name}-${e}`, namespace: s.namespace },
    spec: { address, labels: { app: s.name } },
  }));
}

function destinationRule(s: MeshService): object {
  return {
    apiVersion: API,
    kind: 'DestinationRule',
    metadata: { name: s.name, namespace: s.namespace },
    spec: { host: hostOf(s), trafficPolicy: { connectionPool: { tcp: { connectTimeout: `${s.connectTimeoutS}s` } } } },
  };
}

/** JSON documents are YAML documents; one per object. */
const docs = (objects: readonly object[]): string => objects.map((o) => JSON.stringify(o)).join('\n---\n') + '\n';

function writeAtomically(file: string, body: string): void {
  writeFileSync(file + '.tmp', body);
  renameSync(file + '.tmp', file);
}

/** Writes and rewrites the istiod config folder for a MeshWorkload's services. */
export class IstioFiles {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Writes every namespace's file (and an empty DestinationRule file). */
  writeAll(services: readonly (readonly MeshService[])[]): void {
    services.forEach((list, ns) => this.writeNamespace(ns, list));
    this.writeDestinationRules(services);
  }

  /** Rewrites one namespace's ServiceEntries and WorkloadEntries. */
  writeNamespace(ns: number, list: readonly MeshService[]): void {
    writeAtomically(join(this.dir, `ns-${ns}.yaml`), docs(list.flatMap((s) => [serviceEntry(s), ...workloadEntries(s)])));
  }

  /** Rewrites the DestinationRules: one per service whose connect timeout is not the default. */
  writeDestinationRules(services: readonly (readonly MeshService[])[], defaultS = 10): void {
    const drs = services.flat().filter((s) => s.connectTimeoutS !== defaultS).map(destinationRule);
    writeAtomically(join(this.dir, 'destination-rules.yaml'), drs.length ? docs(drs) : '\n');
  }
}

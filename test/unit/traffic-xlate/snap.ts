/** Builds a snapshot from inline YAML through meshd's own parsers (for traffic translation unit tests). */
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic, type MeshConfig, type MeshSnapshot, type ProxyInfo } from '../../../src/model/types.js';

/** Parses every document of `yaml`; throws on a parse error so a test never runs on half its input. */
export function snap(yaml: string, config: Partial<MeshConfig> = {}): MeshSnapshot {
  const cfg = { ...DEFAULT_MESH_CONFIG, ...config };
  const objects: MeshObject[] = [];
  for (const d of YAML.parseAllDocuments(yaml)) {
    const raw = d.toJS() as unknown;
    if (raw === null) continue;
    const r = parseObject(raw, { source: 'test.yaml', defaultNamespace: 'default' }, { domainSuffix: cfg.domainSuffix });
    if (r.status !== 'ok') throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
    objects.push(r.object);
  }
  return buildSnapshot(objects, cfg, 1);
}

/** A sidecar proxy in explicit mode. */
export const proxy = (over: Partial<ProxyInfo> = {}): ProxyInfo => ({
  id: 'p', ip: '', workloadName: '', namespace: 'default', labels: {}, interceptionMode: 'NONE', proxyless: false, ...over,
});

/** A Service with one port per entry (`http-9080` style names). */
export function svc(name: string, ns: string, ports: readonly number[] = [80], extra = ''): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}${extra}}
spec:
  selector: {app: ${name}}
  ports:
${ports.map((p) => `  - {name: http-${p}, port: ${p}}`).join('\n')}
---
`;
}

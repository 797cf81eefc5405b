/** Loads a golden translation case: mesh objects (or an Include through the file store), MeshConfig, Proxy docs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { createFileStore } from '../../../src/config/file-store.js';
import { applyMeshConfig, parseMeshConfig } from '../../../src/config/mesh-config.js';
import { DEFAULT_MESH_CONFIG, formatDiagnostic, type MeshConfig, type MeshSnapshot, type ProxyInfo } from '../../../src/model/types.js';
import { REPO_ROOT } from '../../helpers/golden.js';

export interface Rec { [k: string]: unknown }

function proxyFrom(d: Rec): ProxyInfo {
  return {
    id: String(d.id), ip: String(d.ip ?? ''), workloadName: String(d.workloadName ?? ''), namespace: String(d.namespace ?? 'default'),
    labels: (d.labels as Record<string, string> | undefined) ?? {}, interceptionMode: d.interceptionMode === 'REDIRECT' ? 'REDIRECT' : 'NONE', proxyless: d.proxyless === true,
    ...(d.secretSource === 'agent' ? { secretSource: 'agent' as const } : {}),
  };
}


/** The snapshot, the proxies and the parse diagnostics (formatted, repo-relative paths) of a case. */
export async function loadCase(dir: string): Promise<{ snapshot: MeshSnapshot; proxies: ProxyInfo[]; parseDiagnostics: string[] }> {
  const docs = YAML.parseAllDocuments(readFileSync(join(dir, 'in.yaml'), 'utf8')).map((d) => d.toJS() as Rec | null).filter((d): d is Rec => d !== null);
  const objects: MeshObject[] = [];
  const parseDiagnostics: string[] = [];
  const proxies: ProxyInfo[] = [];
  let config: MeshConfig = DEFAULT_MESH_CONFIG;
  for (const d of docs) {
    if (d.kind === 'Proxy') { proxies.push(proxyFrom(d)); continue; }
    if (d.kind === 'MeshConfig' || d.kind === 'IstioMeshConfig') {
      // Istio's MeshConfig YAML, through meshd's own parser.
      const r = parseMeshConfig(d.spec, 'in.yaml');
      if (!r.ok) { parseDiagnostics.push(...r.diagnostics.map(formatDiagnostic)); continue; }
      config = applyMeshConfig(config, r.value);
      continue;
    }
    if (d.kind === 'Include') {
      const store = createFileStore({ dir: join(REPO_ROOT, String(d.dir)), watch: false, rescanIntervalMs: 0 });
      await store.start();
      store.close();
      objects.push(...store.objects());
      parseDiagnostics.push(...store.diagnostics().map((x) => formatDiagnostic({ ...x, source: x.source.slice(REPO_ROOT.length + 1) })));
      continue;
    }
    const r = parseObject(d, { source: 'in.yaml', defaultNamespace: 'default' }, { domainSuffix: config.domainSuffix });
    parseDiagnostics.push(...r.diagnostics.map(formatDiagnostic));
    if (r.status === 'ok') objects.push(r.object);
  }
  return { snapshot: buildSnapshot(objects, config, 1), proxies, parseDiagnostics };
}

/**
 * Istio's mesh config in Kubernetes: the `mesh` key of the ConfigMap named `istio` in the root
 * namespace, watched. Other ConfigMaps there are ignored. A malformed mesh config is a
 * diagnostic naming the ConfigMap and field; the last good one stays in force.
 */
import { isRecord } from '../config/fields.js';
import type { MeshObject } from '../config/parse.js';
import { parseMeshConfigYaml } from '../config/mesh-config.js';
import type { ParseResult } from '../model/parse-result.js';

/** The ConfigMap Istio reads its mesh config from. */
export const MESH_CONFIGMAP = 'istio';

/** A ConfigMap this source does not read. */
export interface IgnoredObject { readonly kind: 'Ignored' }

/** Parses a ConfigMap of the root namespace: `istio` → the mesh config object; others → ignored. */
export function parseMeshConfigMap(raw: Record<string, unknown>): ParseResult<MeshObject | IgnoredObject> {
  const md = isRecord(raw.metadata) ? raw.metadata : {};
  if (md.name !== MESH_CONFIGMAP) return { ok: true, value: { kind: 'Ignored' }, warnings: [] };
  const ns = typeof md.namespace === 'string' ? md.namespace : '';
  const data = isRecord(raw.data) ? raw.data : {};
  const text = typeof data.mesh === 'string' ? data.mesh : '';
  const source = `k8s ConfigMap ${ns}/${MESH_CONFIGMAP} key mesh`;
  const r = parseMeshConfigYaml(text, source);
  if (!r.ok) return { ok: false, diagnostics: r.diagnostics };
  return {
    ok: true,
    value: { kind: 'MeshConfig', value: { meta: { name: MESH_CONFIGMAP, namespace: ns, labels: {}, annotations: {}, source }, overrides: r.value } },
    warnings: r.warnings,
  };
}

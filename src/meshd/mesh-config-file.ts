/**
 * `--mesh-config FILE`: Istio's MeshConfig YAML, watched. A change applies within a second; a
 * file that does not parse, or holds a malformed field, is reported (diagnostics name the file
 * and field) and the last good mesh config stays in force.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { MeshObject } from '../config/parse.js';
import { parseMeshConfigYaml, type MeshConfigOverrides } from '../config/mesh-config.js';
import type { Diagnostic } from '../model/types.js';

/** The mesh config as a snapshot object (merged over the flags' config by buildSnapshot). */
export function meshConfigObject(overrides: MeshConfigOverrides, source: string): MeshObject {
  return { kind: 'MeshConfig', value: { meta: { name: 'mesh', namespace: '', labels: {}, annotations: {}, source }, overrides } };
}

export interface MeshConfigFile {
  /** The last good overrides (empty before any good read). */
  current(): MeshConfigOverrides;
  /** Problems with the current file (empty when it is good). */
  diagnostics(): readonly Diagnostic[];
  close(): void;
}

/** Reads `path` now (the result is available at once) and again whenever it changes. */
export function watchMeshConfigFile(path: string, onChange: () => void, pollMs = 500): MeshConfigFile {
  let good: MeshConfigOverrides = {};
  let diags: readonly Diagnostic[] = [];
  let lastText: string | undefined;
  const read = (): boolean => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      const next = [{ severity: 'error' as const, source: path, kind: 'MeshConfig', name: 'mesh', field: '', message: `cannot read: ${e instanceof Error ? e.message : String(e)}; the last good mesh config stays in force` }];
      const changed = JSON.stringify(next) !== JSON.stringify(diags);
      diags = next;
      lastText = undefined;
      return changed;
    }
    if (text === lastText) return false;
    lastText = text;
    const r = parseMeshConfigYaml(text, path);
    if (r.ok) { good = r.value; diags = r.warnings; } else diags = r.diagnostics;
    return true;
  };
  read();
  watchFile(path, { interval: pollMs, persistent: false }, () => { if (read()) onChange(); });
  return {
    current: () => good,
    diagnostics: () => diags,
    close: () => unwatchFile(path),
  };
}

import type { Diagnostic } from '../model/types.js';
import type { MeshObject } from '../config/parse.js';

/**
 * Where meshd's configuration comes from: the file store (the default) or Kubernetes.
 * A source hands over the whole set of objects in force (the last good version of each)
 * plus the current diagnostics, after its own debouncing.
 */
export interface ConfigSource {
  readonly kind: 'file' | 'kubernetes';
  start(onChange: (objects: readonly MeshObject[], diagnostics: readonly Diagnostic[]) => void): Promise<void>;
  diagnostics(): readonly Diagnostic[];
  close(): void | Promise<void>;
}

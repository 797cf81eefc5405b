import type { Diagnostic } from './types.js';

/**
 * The result of turning one raw object (a YAML document, a Kubernetes object) into a model
 * object. Invalid input is data, never an exception; warnings ride along with valid objects.
 */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: readonly Diagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

/** The context every parser needs to name what it is complaining about. */
export interface ParseContext {
  /** A file path, or `k8s`. */
  readonly source: string;
  /** Namespace to use when the object has none (the file store's default: `default`). */
  readonly defaultNamespace: string;
}

/** The CA's one error class, with a stable `code` (connect-es style). */

export type CaErrorCode =
  | 'INVALID_CSR'
  | 'BAD_CSR_SIGNATURE'
  | 'UNSUPPORTED_KEY'
  | 'INVALID_LIFETIME'
  | 'STATE_CORRUPT'
  | 'KEY_PERMISSIONS'
  | 'STATE_IO'
  | 'ROTATION_PHASE'
  | 'UNAUTHENTICATED'
  | 'SIGNING_FAILED'
  | 'INVALID_CONFIG'
  // The external signer (Kubernetes CSR API): denied, failed, never answered, or answered wrongly.
  | 'EXTERNAL_DENIED'
  | 'EXTERNAL_FAILED'
  | 'EXTERNAL_TIMEOUT'
  | 'EXTERNAL_INVALID';

export class CaError extends Error {
  override readonly name = 'CaError';
  constructor(readonly code: CaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  /** Wraps anything thrown into a CaError, keeping CaErrors as they are. */
  static from(e: unknown, code: CaErrorCode = 'SIGNING_FAILED'): CaError {
    if (e instanceof CaError) return e;
    return new CaError(code, e instanceof Error ? e.message : String(e), { cause: e });
  }
}

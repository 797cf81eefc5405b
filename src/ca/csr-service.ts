/**
 * The CSR API handler (IstioCertificateService/CreateCertificate), usable on any grpc.Server:
 * authenticate the caller, verify the CSR, sign for the caller's identity (CSR SANs are
 * ignored), lifetime capped. Errors become a clear gRPC status and a metric.
 */
import { Metadata, status, type sendUnaryData, type Server, type ServerUnaryCall } from '@grpc/grpc-js';
import type { CertificateAuthority } from './ca.js';
import { caServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from './ca-proto.js';
import { authContextFromCall, type Authenticator } from './auth.js';
import { CaError } from './errors.js';
import type { CaMetrics } from './metrics.js';
import type { CsrLimiter } from './csr-limits.js';

export interface CaServiceDeps {
  readonly ca: CertificateAuthority;
  readonly authenticator: Authenticator;
  readonly metrics?: CaMetrics;
  /** Rate limits (global and per identity); none when absent. */
  readonly limiter?: CsrLimiter;
  /** One line per failure; never given key material. */
  readonly log?: (line: string) => void;
}

export interface CsrOutcome {
  readonly code: status;
  readonly details: string;
  readonly response?: IstioCertificateResponse;
}

/** Handles one request given its credentials; transport-free, so tests call it directly. */
export async function handleCreateCertificate(deps: CaServiceDeps, req: IstioCertificateRequest, call: Parameters<typeof authContextFromCall>[0]): Promise<CsrOutcome> {
  deps.metrics?.csrTotal.inc();
  const global = deps.limiter?.admitGlobal();
  if (global && !global.ok) return limited(deps, global);
  const auth = await deps.authenticator.authenticate(authContextFromCall(call));
  if (!auth.ok) {
    deps.metrics?.authFailures.inc({ reason: auth.reason });
    deps.log?.(`ca: CreateCertificate unauthenticated: ${auth.reason}: ${auth.message}`);
    return { code: status.UNAUTHENTICATED, details: `authentication failed: ${auth.message}` };
  }
  const own = deps.limiter?.admitIdentity(deps.ca.spiffeUri(auth.identity));
  if (own && !own.ok) return limited(deps, own);
  if (!req.csr) {
    deps.metrics?.signingErrors.inc();
    return { code: status.INVALID_ARGUMENT, details: 'csr is required' };
  }
  try {
    // Never longer than --cert-ttl; a certificate presented as the credential bounds the new one.
    const ttl = Math.min(Number(req.validity_duration) || deps.ca.workloadCertTtlSeconds, deps.ca.workloadCertTtlSeconds);
    const issued = await deps.ca.signCsr(req.csr, auth.identity, ttl, auth.method === 'client-certificate' ? auth.notAfter : undefined);
    return { code: status.OK, details: 'OK', response: { cert_chain: issued.certChainPem, trust_bundle: deps.ca.trustBundlePem() } };
  } catch (e) {
    deps.metrics?.signingErrors.inc();
    const err = CaError.from(e);
    const clientError = err.code === 'INVALID_CSR' || err.code === 'UNSUPPORTED_KEY' || err.code === 'BAD_CSR_SIGNATURE';
    deps.log?.(`ca: CreateCertificate for ${deps.ca.spiffeUri(auth.identity)} failed: ${err.code}: ${err.message}`);
    return { code: clientError ? status.INVALID_ARGUMENT : status.INTERNAL, details: clientError ? err.message : 'certificate signing failed' };
  }
}

function limited(deps: CaServiceDeps, v: Extract<ReturnType<CsrLimiter['admitGlobal']>, { ok: false }>): CsrOutcome {
  deps.metrics?.csrRateLimited.inc({ limit: v.limit });
  deps.log?.(`ca: CreateCertificate refused: ${v.message}`);
  return { code: status.RESOURCE_EXHAUSTED, details: v.message };
}

/** Adds the IstioCertificateService to a grpc.Server (plaintext or TLS port alike). */
export function addCaService(server: Server, deps: CaServiceDeps): void {
  server.addService(caServiceDefinition(), {
    CreateCertificate(call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, callback: sendUnaryData<IstioCertificateResponse>) {
      handleCreateCertificate(deps, call.request, call).then(
        (o) => (o.response ? callback(null, o.response) : callback({ code: o.code, details: o.details, metadata: new Metadata() })),
        (e: unknown) => callback({ code: status.INTERNAL, details: e instanceof Error ? e.message : 'internal error' }),
      );
    },
  });
}

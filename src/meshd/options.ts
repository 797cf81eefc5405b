/**
 * meshd's flags; each is also settable by an environment variable.
 */
import type { FlagSpec, FlagValues } from '../util/flags.js';
import type { ScopingOptions } from './scoping.js';
import { XDS_LIMIT_FLAGS, toXdsLimits } from '../xds/server/limit-flags.js';
import type { XdsLimits } from '../xds/server/limits.js';

export const MESHD_FLAGS: readonly FlagSpec[] = [
  { name: 'config-dir', env: 'MESHD_CONFIG_DIR', type: 'string', default: 'examples/mesh', help: 'file store: a directory of YAML (Services, WorkloadEntries, Namespaces, PeerAuthentication, AuthorizationPolicy), watched' },
  { name: 'state-dir', env: 'MESHD_STATE_DIR', type: 'string', default: 'state', help: 'where the CA, its keys and other state live (created 0700)' },
  { name: 'listen-address', env: 'MESHD_LISTEN_ADDRESS', type: 'string', default: '127.0.0.1', help: 'address all ports bind to (0.0.0.0 in containers)' },
  { name: 'xds-port', env: 'MESHD_XDS_PORT', type: 'int', default: '15010', help: 'plaintext gRPC: ADS and the CA service (0 picks a free port)' },
  { name: 'secure-xds-port', env: 'MESHD_SECURE_XDS_PORT', type: 'int', default: '15012', help: 'TLS gRPC with a certificate from meshd\'s CA: ADS and the CA service (0 picks)' },
  { name: 'admin-port', env: 'MESHD_ADMIN_PORT', type: 'int', default: '15014', help: 'HTTP: /ready, /metrics, /debug/* (0 picks)' },
  { name: 'trust-domain', env: 'MESHD_TRUST_DOMAIN', type: 'string', default: 'cluster.local', help: 'SPIFFE trust domain' },
  { name: 'root-namespace', env: 'MESHD_ROOT_NAMESPACE', type: 'string', default: 'istio-system', help: 'namespace whose policies apply mesh-wide' },
  { name: 'cert-ttl', env: 'MESHD_CERT_TTL', type: 'duration', default: '24h', help: 'workload certificate lifetime (at most 90d)' },
  { name: 'rotation-fraction', env: 'MESHD_ROTATION_FRACTION', type: 'string', default: '0.5', help: 'renew certificates after this fraction of their lifetime (plus jitter)' },
  { name: 'ca-key-type', env: 'MESHD_CA_KEY_TYPE', type: 'string', default: 'ec', help: 'key type of a newly generated root: ec (P-256) or rsa (2048)' },
  { name: 'cacerts-dir', env: 'MESHD_CACERTS_DIR', type: 'string', help: 'plugged-in intermediate CA (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)' },
  { name: 'admin-open', env: 'MESHD_ADMIN_OPEN', type: 'bool', default: 'false', help: 'keep debug endpoints open without a credential even when --listen-address is not loopback (state changes always need one)' },
  { name: 'external-ca', env: 'MESHD_EXTERNAL_CA', type: 'string', help: 'kubernetes: workload certificates are signed by an external signer through the Kubernetes CSR API (meshd acts as registration authority)' },
  { name: 'signer-name', env: 'MESHD_SIGNER_NAME', type: 'string', help: 'signerName of the CertificateSigningRequests (--external-ca kubernetes), e.g. example.com/meshd' },
  { name: 'external-ca-kubeconfig', env: 'MESHD_EXTERNAL_CA_KUBECONFIG', type: 'string', help: 'kubeconfig for the CSR API (default: --kubeconfig, or in-cluster)' },
  { name: 'external-ca-timeout', env: 'MESHD_EXTERNAL_CA_TIMEOUT', type: 'duration', default: '30s', help: 'give up on a CertificateSigningRequest not signed within this time (the current certificate stays; retried)' },
  { name: 'extra-trust-roots', env: 'MESHD_EXTRA_TRUST_ROOTS', type: 'string', help: 'PEM file of extra root certificates added to every proxy\'s trust bundle (ROOTCA)' },
  { name: 'allow-unauthenticated', env: 'MESHD_ALLOW_UNAUTHENTICATED', type: 'bool', default: 'false', help: 'serve listeners/clusters (never secrets) to streams without a credential' },
  { name: 'debounce-quiet', env: 'MESHD_DEBOUNCE_QUIET', type: 'duration', default: '100ms', help: 'push after config has been quiet this long' },
  { name: 'debounce-max', env: 'MESHD_DEBOUNCE_MAX', type: 'duration', default: '1s', help: '...but never wait longer than this' },
  { name: 'config-max-file-bytes', env: 'MESHD_CONFIG_MAX_FILE_BYTES', type: 'int', default: '8388608', help: 'file store: a YAML file larger than this is refused with a diagnostic (its last good objects stay)' },
  { name: 'config-max-objects', env: 'MESHD_CONFIG_MAX_OBJECTS', type: 'int', default: '50000', help: 'file store: objects in force across all files; a file that would pass it is refused' },
  { name: 'csr-per-second', env: 'MESHD_CSR_PER_SECOND', type: 'int', default: '200', help: 'CSR API: requests per second from all callers together (0: no limit)' },
  { name: 'csr-per-identity-per-minute', env: 'MESHD_CSR_PER_IDENTITY_PER_MINUTE', type: 'int', default: '100', help: 'CSR API: requests per minute from one identity (0: no limit)' },
  { name: 'mesh-config', env: 'MESHD_MESH_CONFIG', type: 'string', help: 'Istio MeshConfig YAML (extensionProviders, defaultProviders, caCertificates, trustDomain, ...), watched' },
  { name: 'kubeconfig', env: 'MESHD_KUBECONFIG', type: 'string', help: 'watch Kubernetes through this kubeconfig instead of the file store (automatic in a cluster)' },
  { name: 'log-level', env: 'MESHD_LOG_LEVEL', type: 'string', default: 'info', help: 'debug, info, warn, error' },
  { name: 'scoping', env: 'MESHD_SCOPING', type: 'string', default: 'full', help: 'full: every sidecar sees the whole registry; observed: each sees its namespace plus the services its workload called within --scoping-window (a namespace label meshd.dev/scoping=observed|full decides per namespace)' },
  { name: 'scoping-window', env: 'MESHD_SCOPING_WINDOW', type: 'duration', default: '10m', help: 'learned scoping: a dependency not called for this long leaves the scope' },
  { name: 'scoping-on-demand', env: 'MESHD_SCOPING_ON_DEMAND', type: 'bool', default: 'true', help: 'learned scoping: calls outside the scope are resolved by on-demand cluster discovery (ODCDS)' },
  { name: 'scoping-max-dependencies', env: 'MESHD_SCOPING_MAX_DEPENDENCIES', type: 'int', default: '256', help: 'learned scoping: dependencies kept per workload (more are counted, not kept; on demand still resolves them)' },
  ...XDS_LIMIT_FLAGS,
  { name: 'help', type: 'bool', help: 'show this help' },
];

export interface MeshdOptions {
  readonly configDir: string;
  readonly stateDir: string;
  readonly listenAddress: string;
  readonly xdsPort: number;
  readonly secureXdsPort: number;
  readonly adminPort: number;
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly certTtlMs: number;
  readonly rotationFraction: number;
  readonly caKeyType: 'ec' | 'rsa';
  readonly cacertsDir?: string;
  readonly allowUnauthenticated: boolean;
  /** Debug endpoints open without a credential on a non-loopback listen address. */
  readonly adminOpen: boolean;
  readonly debounceQuietMs: number;
  readonly debounceMaxMs: number;
  readonly configMaxFileBytes: number;
  readonly configMaxObjects: number;
  readonly csrPerSecond: number;
  readonly csrPerIdentityPerMinute: number;
  readonly kubeconfig?: string;
  readonly meshConfigFile?: string;
  readonly externalCa?: { readonly kind: 'kubernetes'; readonly signerName: string; readonly kubeconfig?: string; readonly timeoutMs: number };
  readonly extraTrustRoots?: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Per-client ADS limits (--xds-max-*, --xds-*-timeout). */
  readonly xdsLimits: XdsLimits;
  /** Learned scoping (--scoping*, src/meshd/scoping.ts). */
  readonly scoping: ScopingOptions;
}

/** Turns parsed flag values into typed options; throws a FlagError-like Error on bad values. */
export function toMeshdOptions(v: FlagValues): MeshdOptions {
  const keyType = String(v['ca-key-type']);
  if (keyType !== 'ec' && keyType !== 'rsa') throw new Error(`--ca-key-type: must be ec or rsa, got ${keyType}`);
  const level = String(v['log-level']);
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new Error(`--log-level: must be debug, info, warn or error`);
  const fraction = Number(v['rotation-fraction']);
  const ext = v['external-ca'] ? String(v['external-ca']) : '';
  if (ext && ext !== 'kubernetes') throw new Error(`--external-ca: must be kubernetes, got ${ext}`);
  if (ext && !v['signer-name']) throw new Error('--external-ca kubernetes needs --signer-name (e.g. example.com/meshd)');
  if (v['signer-name'] && !/^[a-z0-9.-]+\/[A-Za-z0-9._\/-]+$/.test(String(v['signer-name']))) throw new Error(`--signer-name: must be <domain>/<path>, got ${String(v['signer-name'])}`);
  if (!(fraction > 0 && fraction < 1)) throw new Error(`--rotation-fraction: must be between 0 and 1`);
  for (const p of ['xds-port', 'secure-xds-port', 'admin-port']) {
    const n = v[p] as number;
    if (n < 0 || n > 65535) throw new Error(`--${p}: must be 0-65535`);
  }
  return {
    configDir: String(v['config-dir']),
    stateDir: String(v['state-dir']),
    listenAddress: String(v['listen-address']),
    xdsPort: v['xds-port'] as number,
    secureXdsPort: v['secure-xds-port'] as number,
    adminPort: v['admin-port'] as number,
    trustDomain: String(v['trust-domain']),
    rootNamespace: String(v['root-namespace']),
    certTtlMs: v['cert-ttl'] as number,
    rotationFraction: fraction,
    caKeyType: keyType,
    ...(v['cacerts-dir'] ? { cacertsDir: String(v['cacerts-dir']) } : {}),
    allowUnauthenticated: Boolean(v['allow-unauthenticated']),
    adminOpen: Boolean(v['admin-open']),
    debounceQuietMs: v['debounce-quiet'] as number,
    debounceMaxMs: v['debounce-max'] as number,
    configMaxFileBytes: positive(v, 'config-max-file-bytes'),
    configMaxObjects: positive(v, 'config-max-objects'),
    csrPerSecond: nonNegative(v, 'csr-per-second'),
    csrPerIdentityPerMinute: nonNegative(v, 'csr-per-identity-per-minute'),
    ...(v.kubeconfig ? { kubeconfig: String(v.kubeconfig) } : {}),
    ...(v['mesh-config'] ? { meshConfigFile: String(v['mesh-config']) } : {}),
    ...(ext ? { externalCa: { kind: 'kubernetes' as const, signerName: String(v['signer-name']), timeoutMs: v['external-ca-timeout'] as number, ...(v['external-ca-kubeconfig'] || v.kubeconfig ? { kubeconfig: String(v['external-ca-kubeconfig'] ?? v.kubeconfig) } : {}) } } : {}),
    ...(v['extra-trust-roots'] ? { extraTrustRoots: String(v['extra-trust-roots']) } : {}),
    logLevel: level as MeshdOptions['logLevel'],
    xdsLimits: toXdsLimits(v),
    scoping: scopingOptions(v),
  };
}

/** --scoping, --scoping-window, --scoping-on-demand, --scoping-max-dependencies. */
function scopingOptions(v: FlagValues): ScopingOptions {
  const mode = String(v.scoping ?? 'full');
  if (mode !== 'full' && mode !== 'observed') throw new Error(`--scoping: must be full or observed, got ${mode}`);
  const windowMs = (v['scoping-window'] as number | undefined) ?? 600_000;
  if (!(windowMs >= 1000)) throw new Error('--scoping-window: must be at least 1s');
  return { mode, windowMs, onDemand: v['scoping-on-demand'] === undefined ? true : Boolean(v['scoping-on-demand']), maxPerWorkload: v['scoping-max-dependencies'] === undefined ? 256 : positive(v, 'scoping-max-dependencies') };
}

/** A flag that must be a positive whole number. */
function positive(v: FlagValues, name: string): number {
  const n = v[name] as number;
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: must be a positive whole number`);
  return n;
}

/** A flag that must be a whole number ≥ 0 (0 switches a limit off). */
function nonNegative(v: FlagValues, name: string): number {
  const n = v[name] as number;
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: must be a whole number, 0 or more`);
  return n;
}

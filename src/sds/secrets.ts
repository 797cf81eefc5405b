/**
 * Envoy `Secret` resources (envoy.extensions.transport_sockets.tls.v3.Secret) in Envoy JSON
 * form: `default` holds the workload's chain and key, `ROOTCA` the trust bundle. Objects
 * holding key material must only reach logs and dumps through `redactSecret`.
 */
import { SECRET_DEFAULT, SECRET_ROOTCA } from '../xds/names.js';
import type { EnvoyObject } from '../xds/resource-types.js';

export const REDACTED = '[redacted]';

/** Leaf and intermediates, without the root (peers hold the root; Envoy sends all of it). */
function chainWithoutRoot(certChainPem: readonly string[]): string {
  return (certChainPem.length > 1 ? certChainPem.slice(0, -1) : certChainPem).join('');
}

/** The `default` secret: tls_certificate with the chain (leaf first) and the private key. */
export function tlsCertificateSecret(certChainPem: readonly string[], privateKeyPem: string, name: string = SECRET_DEFAULT): EnvoyObject {
  return Object.freeze({
    name,
    tls_certificate: {
      certificate_chain: { inline_bytes: Buffer.from(chainWithoutRoot(certChainPem)).toString('base64') },
      private_key: { inline_bytes: Buffer.from(privateKeyPem).toString('base64') },
    },
  });
}

/** The `ROOTCA` secret: validation_context.trusted_ca with every root of the trust bundle. */
export function trustBundleSecret(rootsPem: readonly string[], name: string = SECRET_ROOTCA): EnvoyObject {
  return Object.freeze({
    name,
    validation_context: { trusted_ca: { inline_bytes: Buffer.from(rootsPem.join('')).toString('base64') } },
  });
}

const SECRET_FIELDS = new Set(['private_key', 'password', 'generic_secret', 'session_ticket_keys', 'private_key_provider']);

function redactDataSource(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactDataSource);
  if (typeof v !== 'object' || v === null) return REDACTED;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] = k === 'inline_bytes' || k === 'inline_string' || k === 'secret' || k === 'keys' ? REDACTED : typeof x === 'object' && x !== null ? redactDataSource(x) : x;
  }
  return out;
}

/**
 * A deep copy with private key bytes (and other secret data sources) replaced by
 * "[redacted]"; works on a Secret, a list of them, or any config dump containing them.
 */
export function redactSecret<T>(resource: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELDS.has(k) ? redactDataSource(x) : walk(x);
    return out;
  };
  return walk(resource) as T;
}

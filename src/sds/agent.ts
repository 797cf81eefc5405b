/**
 * The node agent: keeps its workload key in its own process, gets and renews its
 * certificate through meshd's CSR API (TLS, meshd verified against the root), and serves
 * `default` and `ROOTCA` to the Envoy beside it over SDS on a Unix socket. Every
 * `bundleRefreshMs` it asks again, so a root introduced on meshd reaches Envoy long before
 * it signs anything; it keeps that certificate only when the bundle or the signing root
 * changed. meshd is verified with the bundle learned from meshd (the `--ca-cert` file only
 * until then), so meshd's server certificate may move to a new root.
 * CLI: `meshctl agent --meshd HOST:PORT --token-file F --socket /path/sds.sock [--ca-cert root.pem]`.
 */
import { Client, credentials, Metadata, Server, ServerCredentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { caServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from '../ca/ca-proto.js';
import { createCsr, csrToPem } from '../ca/csr.js';
import { generateP256, p256PrivateKeyObject } from '../ca/keys.js';
import { parseCertificatesPem } from '../ca/pem.js';
import { renewalDelayMs, scheduleAfter, type RenewalPolicy } from '../ca/rotation-timing.js';
import { parseCertificate } from '../ca/x509.js';
import { SECRET_DEFAULT, SECRET_ROOTCA } from '../xds/names.js';
import type { EnvoyObject } from '../xds/resource-types.js';
import { addSdsService, type SecretSource } from './sds-server.js';
import { tlsCertificateSecret, trustBundleSecret } from './secrets.js';

export interface AgentOptions {
  /** meshd's CA address, `HOST:PORT` (its TLS port when `caCertFile` is given). */
  readonly meshd: string;
  /** File holding the bearer token (re-read at every renewal, so it may be rotated). */
  readonly tokenFile: string;
  /** Unix socket path Envoy connects to for SDS. */
  readonly socket: string;
  /** Root certificate(s) to verify meshd's TLS certificate; without it the agent uses plaintext. */
  readonly caCertFile?: string;
  /** TLS name to expect on meshd's certificate (default: the host in `meshd`). */
  readonly serverName?: string;
  readonly ttlSeconds?: number;
  readonly renewal?: RenewalPolicy;
  /** How often to re-read the trust bundle from meshd; default 30 s; 0 turns it off. */
  readonly bundleRefreshMs?: number;
  readonly log?: (line: string) => void;
}

export interface AgentHandle {
  /** The secrets served to Envoy (contain the private key: redact before printing). */
  readonly source: SecretSource;
  /** NotAfter of the current certificate. */
  notAfter(): Date | undefined;
  /** Gets a fresh certificate now. */
  renewNow(): Promise<void>;
  close(): Promise<void>;
}

/** A certificate request that failed; `permanent` when retrying cannot help (bad token, bad CSR). */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(message: string, readonly permanent: boolean) {
    super(message);
  }
}

/** Parses `meshctl agent` arguments; returns the options or an error message. */
export function parseAgentArgs(args: readonly string[]): AgentOptions | { error: string } {
  const v: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--(meshd|token-file|socket|ca-cert|server-name|bundle-refresh)(?:=(.*))?$/.exec(a);
    if (!m) return { error: `unknown argument ${a}` };
    const val = m[2] ?? args[++i];
    if (val === undefined) return { error: `${a} needs a value` };
    v[m[1]!] = val;
  }
  for (const k of ['meshd', 'token-file', 'socket']) if (!v[k]) return { error: `--${k} is required` };
  let bundleRefreshMs: number | undefined;
  if (v['bundle-refresh'] !== undefined) {
    const m = /^(\d+)(ms|s|m)$/.exec(v['bundle-refresh']);
    if (!m) return { error: `--bundle-refresh: not a duration: ${v['bundle-refresh']} (use e.g. 30s, 500ms, 0s to turn off)` };
    bundleRefreshMs = Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
  }
  return {
    meshd: v['meshd']!, tokenFile: v['token-file']!, socket: v['socket']!, caCertFile: v['ca-cert'], serverName: v['server-name'],
    ...(bundleRefreshMs !== undefined ? { bundleRefreshMs } : {}),
  };
}

interface Current {
  readonly chain: readonly string[];
  readonly bundle: readonly string[];
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Starts the agent: first certificate, then the SDS socket, then renewals. */
export async function runAgent(opts: AgentOptions): Promise<AgentHandle> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  if (!opts.caCertFile) log(`agent: no --ca-cert given: talking to ${opts.meshd} in plaintext, meshd is not verified`);
  // Short reconnect back-off: a pod started while meshd is down gets its certificate within
  // about a second of meshd's return (grpc-js would otherwise wait up to 120 s).
  const channelOptions = {
    'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 1000,
    ...(opts.serverName ? { 'grpc.ssl_target_name_override': opts.serverName, 'grpc.default_authority': opts.serverName } : {}),
  };
  // With TLS, meshd is verified against the bundle learned from it (the file until then).
  const connect = (bundle?: readonly string[]): Client => {
    const creds: ChannelCredentials = opts.caCertFile
      ? credentials.createSsl(bundle ? Buffer.from(bundle.join('')) : readFileSync(opts.caCertFile))
      : credentials.createInsecure();
    return new Client(opts.meshd, creds, channelOptions);
  };
  let client = connect();
  const def = caServiceDefinition().CreateCertificate;

  let current: Current | undefined;
  let generation = 0;
  let defaultSecret: EnvoyObject | undefined;
  let rootSecret: EnvoyObject | undefined;
  const listeners = new Set<() => void>();
  const source: SecretSource = {
    get: (name) => (name === SECRET_DEFAULT ? defaultSecret : name === SECRET_ROOTCA ? rootSecret : undefined),
    names: () => (current ? [SECRET_ROOTCA, SECRET_DEFAULT] : []),
    version: () => String(generation),
    onChange: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };

  const request = (req: IstioCertificateRequest, md: Metadata): Promise<IstioCertificateResponse> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, req, md, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res?: IstioCertificateResponse) => {
        if (err || !res) reject(new AgentError(`CreateCertificate: ${err?.details ?? 'no response'}`, err?.code === status.UNAUTHENTICATED || err?.code === status.INVALID_ARGUMENT || err?.code === status.PERMISSION_DENIED));
        else resolve(res);
      });
    });

  /** Gets a certificate; `onlyIfChanged` keeps the current one unless the bundle or signing root moved. */
  const fetchCertificate = async (onlyIfChanged = false): Promise<void> => {
    const token = readFileSync(opts.tokenFile, 'utf8').trim();
    const key = generateP256();
    const csr = csrToPem(createCsr(p256PrivateKeyObject(key), key.spki));
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    const res = await request({ csr, validity_duration: opts.ttlSeconds ?? 0 }, md);
    if (res.cert_chain.length === 0) throw new AgentError('CreateCertificate: empty certificate chain', false);
    const leafDer = parseCertificatesPem(res.cert_chain[0]!)[0];
    const leaf = leafDer ? parseCertificate(leafDer) : undefined;
    if (!leaf || !leaf.spki.equals(key.spki)) throw new AgentError('CreateCertificate: the certificate is not for the requested key', false);
    const bundle = res.trust_bundle.length > 0 ? res.trust_bundle : [res.cert_chain[res.cert_chain.length - 1]!];
    const bundleChanged = !current || !samePems(current.bundle, bundle);
    if (onlyIfChanged && current && !bundleChanged && samePems(current.chain.slice(1), res.cert_chain.slice(1))) return;
    if (bundleChanged && opts.caCertFile) {
      const old = client;
      client = connect(bundle);
      old.close();
    }
    current = { chain: res.cert_chain, bundle, keyPem: key.privateKeyPem, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
    defaultSecret = tlsCertificateSecret(current.chain, current.keyPem);
    rootSecret = trustBundleSecret(current.bundle);
    generation++;
    log(`agent: certificate serial ${leaf.serialHex} for ${leaf.uris.join(',')} valid until ${leaf.notAfter.toISOString()}${bundleChanged ? `, trust bundle of ${bundle.length}` : ''}`);
    for (const fn of [...listeners]) fn();
  };

  let closed = false;
  let cancel: (() => void) | undefined;
  let refreshing = false;
  const refreshEvery = opts.bundleRefreshMs ?? 30_000;
  const bundleTimer = refreshEvery > 0 ? setInterval(() => {
    if (closed || refreshing || !current) return;
    refreshing = true;
    fetchCertificate(true).catch((e: unknown) => log(`agent: trust bundle refresh: ${e instanceof Error ? e.message : String(e)}`)).finally(() => { refreshing = false; });
  }, refreshEvery) : undefined;
  bundleTimer?.unref();
  let failures = 0;
  const renewLoop = async (): Promise<void> => {
    if (closed) return;
    try {
      await fetchCertificate();
      failures = 0;
      cancel = scheduleAfter(renewalDelayMs(current!.notBefore, current!.notAfter, Date.now(), opts.renewal), () => void renewLoop());
    } catch (e) {
      failures++;
      // Without any certificate yet (a new pod waiting for meshd), retry every second: the pod's
      // start waits on it. With one in hand, back off up to 30 s: it stays valid for hours.
      const backoff = Math.min(current ? 30_000 : 1000, 1000 * 2 ** Math.min(failures - 1, 5));
      log(`agent: ${e instanceof Error ? e.message : String(e)}; retrying in ${backoff} ms`);
      cancel = scheduleAfter(backoff, () => void renewLoop());
    }
  };

  // The first certificate: permanent errors (bad token, rejected CSR) fail the start.
  try {
    await fetchCertificate();
    cancel = scheduleAfter(renewalDelayMs(current!.notBefore, current!.notAfter, Date.now(), opts.renewal), () => void renewLoop());
  } catch (e) {
    if (e instanceof AgentError && e.permanent) {
      if (bundleTimer) clearInterval(bundleTimer);
      client.close();
      throw e;
    }
    log(`agent: ${e instanceof Error ? e.message : String(e)}; retrying in the background`);
    cancel = scheduleAfter(1000, () => void renewLoop());
  }

  if (existsSync(opts.socket) && statSync(opts.socket).isSocket()) rmSync(opts.socket);
  const server = new Server();
  addSdsService(server, source, { log });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${opts.socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  log(`agent: serving SDS on ${opts.socket}`);

  return {
    source,
    notAfter: () => current?.notAfter,
    renewNow: () => fetchCertificate(),
    close: async () => {
      closed = true;
      cancel?.();
      if (bundleTimer) clearInterval(bundleTimer);
      client.close();
      // Envoy's SDS streams never end by themselves: give them a moment, then cut them.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 500);
        server.tryShutdown(() => { clearTimeout(force); resolve(); });
      });
      if (existsSync(opts.socket)) rmSync(opts.socket);
    },
  };
}

function samePems(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x.trim() === b[i]!.trim());
}

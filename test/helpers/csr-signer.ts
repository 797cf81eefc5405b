/**
 * A test signer for `certificates.k8s.io/v1` CertificateSigningRequests, as cert-manager or a
 * corporate CA controller would run: it watches (polls) the requests for its signerName,
 * approves them and signs them with its own CA (a different root than meshd's), writing
 * `status.certificate`. It can be told to deny, or to ignore requests (a signer that is down).
 */
import type { KubeClient } from '../../src/k8s/kube-client.js';
import { CertificateAuthority } from '../../src/ca/ca.js';
import { MemoryCaStore } from '../../src/ca/store.js';
import { parseSpiffeId } from '../../src/ca/spiffe.js';
import { parseCertificate } from '../../src/ca/x509.js';
import { parseCertificatesPem } from '../../src/ca/pem.js';
import { CsrWatch } from '../../src/ca/csr-watch.js';

export type SignerMode = 'sign' | 'deny' | 'ignore';

export interface TestSigner {
  readonly ca: CertificateAuthority;
  /** The signer's root (what `--extra-trust-roots` is given). */
  readonly rootPem: string;
  /** Subject of the root, as DER hex (to compare with an issued certificate's issuer). */
  readonly rootSubjectHex: string;
  mode: SignerMode;
  /** Requests signed and denied so far. */
  readonly signed: string[];
  readonly denied: string[];
  /** Serial numbers (hex) of the certificates it issued. */
  readonly serials: Set<string>;
  stop(): void;
}


const PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
type Raw = Record<string, unknown>;
const rec = (v: unknown): Raw => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Raw : {});

/** The SPIFFE URI a PEM CSR asks for (the IA5String after its DER length byte). */
function requestedUri(csrPem: string): string | undefined {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const at = der.indexOf('spiffe://');
  if (at < 1) return undefined;
  return der.subarray(at, at + der[at - 1]!).toString('latin1');
}

/** Starts the signer for `signerName`; certificates live `lifetimeSeconds` (the signer decides, as real ones do). */
export async function startTestSigner(client: KubeClient, signerName: string, o: { lifetimeSeconds?: number; pollMs?: number } = {}): Promise<TestSigner> {
  const ca = await CertificateAuthority.open(new MemoryCaStore(), { trustDomain: 'cluster.local', workloadCertTtlSeconds: o.lifetimeSeconds ?? 86_400 });
  const rootPem = ca.trustBundlePem()[0]!;
  const root = parseCertificate(parseCertificatesPem(rootPem)[0]!);
  let stopped = false;
  const seen = new Set<string>();
  const s: { -readonly [K in keyof TestSigner]: TestSigner[K] } = { ca, rootPem, rootSubjectHex: root.subject.toString('hex'), mode: 'sign', signed: [], denied: [], serials: new Set(), stop: () => { stopped = true; } };
  const handle = async (csr: Raw): Promise<void> => {
    const md = rec(csr.metadata);
    const spec = rec(csr.spec);
    const name = String(md.name);
    if (spec.signerName !== signerName || seen.has(name) || rec(csr.status).certificate) return;
    if (s.mode === 'ignore') return;
    seen.add(name);
    const pem = Buffer.from(String(spec.request), 'base64').toString('utf8');
    const uri = requestedUri(pem);
    const identity = uri ? parseSpiffeId(uri) : undefined;
    const approve = s.mode === 'sign' && identity !== undefined;
    const condition = approve
      ? { type: 'Approved', status: 'True', reason: 'TestSignerApproved', message: 'approved by the test signer' }
      : { type: 'Denied', status: 'True', reason: 'TestSignerDenied', message: identity ? 'the test signer denies every request now' : 'no SPIFFE id in the request' };
    const fresh = rec(await client.json('PUT', `${PATH}/${name}/approval`, { body: { ...csr, status: { ...rec(csr.status), conditions: [condition] } } }));
    if (!approve) { s.denied.push(name); return; }
    const issued = await ca.signCsr(pem, identity!, o.lifetimeSeconds);
    await client.json('PUT', `${PATH}/${name}/status`, { body: { ...fresh, status: { ...rec(fresh.status), certificate: Buffer.from(issued.certChainPem.slice(0, -1).join('')).toString('base64') } } });
    s.signed.push(name);
    s.serials.add(parseCertificate(parseCertificatesPem(issued.certChainPem[0]!)[0]!).serialHex);
  };
  // A controller's shape: a watch for new requests, and a slow resync list for anything missed
  // (and for requests that arrived while the signer was told to ignore them).
  const watch = new CsrWatch(client);
  const off = watch.subscribe((c) => { void handle(c).catch(() => undefined); });
  const resync = async (): Promise<void> => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, o.pollMs ?? 5000));
      try {
        const list = rec(await client.json('GET', PATH));
        await Promise.all((Array.isArray(list.items) ? list.items : []).map((c) => handle(rec(c)).catch(() => undefined)));
      } catch { /* the API server restarts in some tests: try again */ }
    }
  };
  void resync();
  s.stop = () => { stopped = true; off(); watch.stop(); };
  return s;
}

/**
 * Real traffic through two real Envoys configured with exactly what translation emits (made
 * static by inline.ts, with certificates from a throwaway openssl CA carrying SPIFFE URIs):
 * frontend → its outbound listener → mesh mTLS (auto, by endpoint metadata) → backend's
 * STRICT inbound chain (tls_inspector + mesh ALPN) → RBAC → app, which sees the caller's
 * SPIFFE id in x-forwarded-client-cert; plaintext to a workload outside the mesh; plaintext
 * into a STRICT port is refused. Addresses 127.0.77-79.x keep clear of the example mesh.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { translate } from '../../../src/xds/translate/index.js';
import { DEFAULT_MESH_CONFIG, type ProxyInfo } from '../../../src/model/types.js';
import { startEnvoy, stopAllEnvoys, type RunningEnvoy } from '../../helpers/envoy.js';
import { startEchoApp, httpCall, type RunningApp } from '../../helpers/apps.js';
import { freePort, waitFor } from '../../helpers/ports.js';
import { inlined } from './inline.js';

const dir = mkdtempSync(join(tmpdir(), 'meshd-translate-traffic-'));
const apps: RunningApp[] = [];
after(async () => {
  await stopAllEnvoys();
  await Promise.all(apps.map((a) => a.close()));
  rmSync(dir, { recursive: true, force: true });
});

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA and one leaf per service account, each with its SPIFFE URI SAN. */
function makeCerts(accounts: readonly string[]): { ca: string; leaf: Map<string, { cert: string; key: string }> } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', ca, '-days', '1', '-subj', '/O=meshd-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = new Map<string, { cert: string; key: string }>();
  for (const sa of accounts) {
    const key = join(dir, `${sa}-key.pem`);
    const csr = join(dir, `${sa}.csr`);
    const cert = join(dir, `${sa}.pem`);
    const ext = join(dir, `${sa}.ext`);
    writeFileSync(ext, `subjectAltName=URI:spiffe://cluster.local/ns/prod/sa/${sa}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyAgreement\n`);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/O=${sa}`]);
    openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext]);
    leaf.set(sa, { cert, key });
  }
  return { ca, leaf };
}

function objects(bp: number, lp: number): MeshObject[] {
  const raw: unknown[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'backend', namespace: 'prod' }, spec: { selector: { app: 'backend' }, ports: [{ name: 'http', port: bp }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'legacy', namespace: 'prod' }, spec: { selector: { app: 'legacy' }, ports: [{ name: 'http', port: lp }] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'frontend', namespace: 'prod', annotations: { 'meshd.dev/app-address': '127.0.78.1', 'meshd.dev/outbound-address': '127.0.79.1' } }, spec: { address: '127.0.77.1', labels: { app: 'frontend' }, serviceAccount: 'frontend' } },
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'backend', namespace: 'prod', annotations: { 'meshd.dev/app-address': '127.0.78.2', 'meshd.dev/outbound-address': '127.0.79.2' } }, spec: { address: '127.0.77.2', labels: { app: 'backend' }, serviceAccount: 'backend' } },
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'legacy', namespace: 'prod', annotations: { 'sidecar.istio.io/inject': 'false' } }, spec: { address: '127.0.77.3', labels: { app: 'legacy' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'prod' }, spec: { mtls: { mode: 'STRICT' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'backend', namespace: 'prod' }, spec: { selector: { matchLabels: { app: 'backend' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/prod/sa/frontend'] } }], to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }] }] } },
  ];
  return raw.map((r) => {
    const p = parseObject(r, { source: 'traffic-test', defaultNamespace: 'prod' });
    assert.equal(p.status, 'ok', JSON.stringify(p.diagnostics));
    return p.status === 'ok' ? p.object : undefined!;
  });
}

test('mesh mTLS, RBAC, XFCC and plaintext to an unmeshed workload through real Envoy', async () => {
  const bp = await freePort();
  const lp = await freePort();
  const snapshot = buildSnapshot(objects(bp, lp), DEFAULT_MESH_CONFIG, 1);
  const certs = makeCerts(['frontend', 'backend']);
  const proxy = (name: string, ip: string): ProxyInfo => ({ id: name, ip, workloadName: name, namespace: 'prod', labels: {}, interceptionMode: 'NONE', proxyless: false });
  const envoys: RunningEnvoy[] = [];
  for (const [name, ip] of [['frontend', '127.0.77.1'], ['backend', '127.0.77.2']] as const) {
    const r = translate(snapshot, proxy(name, ip));
    assert.deepEqual(r.diagnostics, []);
    const leaf = certs.leaf.get(name)!;
    const bootstrap = inlined(r.listeners.flat(), r.clusters.flat(), r.routes.flat(), r.endpoints.flat(),
      { certFile: leaf.cert, keyFile: leaf.key, caFile: certs.ca },
      { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } });
    envoys.push(await startEnvoy(name, bootstrap));
  }
  const [, backendEnvoy] = envoys;
  apps.push(await startEchoApp('backend', '127.0.78.2', bp));
  apps.push(await startEchoApp('legacy', '127.0.77.3', lp));

  const call = (port: number, path: string, hostHeader?: string) =>
    httpCall({ host: '127.0.79.1', port, path, ...(hostHeader ? { hostHeader } : {}) });
  let last = '';
  const ok = await waitFor('frontend → backend through the mesh', async () => {
    const r = await call(bp, '/api/hello', `backend.prod.svc.cluster.local:${bp}`);
    last = `${r.status} ${r.body}`;
    return r.status === 200 ? r : undefined;
  }, 20000, 200).catch(async (e: unknown) => {
    const st = [...(await envoys[1]!.stats()).entries()].filter(([k, v]) => v > 0 && /ssl|no_filter_chain|downstream_cx_total|rbac/.test(k)).map(([k, v]) => `${k}: ${v}`).join('\n');
    throw new Error(`${st}\n` + `${String(e)}; last reply: ${last}\n--- frontend ---\n${envoys[0]!.log().slice(-3000)}\n--- backend ---\n${envoys[1]!.log().slice(-3000)}`);
  });
  const body = JSON.parse(ok.body) as { app: string; xfcc?: string };
  assert.equal(body.app, 'backend');
  assert.match(body.xfcc ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/prod\/sa\/frontend/);

  // Short name from the same namespace, and the catch-all host (a single service on this port).
  assert.equal((await call(bp, '/api/x', 'backend')).status, 200);
  assert.equal((await call(bp, '/api/x', `127.0.79.1:${bp}`)).status, 200);
  // RBAC: the allow rule covers GET /api/* only.
  assert.equal((await call(bp, '/admin')).status, 403);

  // Unmeshed endpoint: plaintext, no client certificate to forward.
  const legacy = await call(lp, '/x', `legacy.prod.svc.cluster.local:${lp}`);
  assert.equal(legacy.status, 200, legacy.body);
  const lb = JSON.parse(legacy.body) as { app: string; xfcc?: string };
  assert.equal(lb.app, 'legacy');
  assert.equal(lb.xfcc, undefined);

  // STRICT: plaintext straight into backend's sidecar matches no filter chain.
  await assert.rejects(httpCall({ host: '127.0.77.2', port: bp, path: '/api/x', timeoutMs: 3000 }));

  const stats = await backendEnvoy!.stats(`meshd_inbound`);
  const mtlsRq = stats.get(`http.meshd_inbound_mtls_${bp}.downstream_rq_total`) ?? 0;
  assert.ok(mtlsRq >= 4, `mTLS requests counted on the mtls chain: ${mtlsRq}`);
  assert.equal(stats.get(`http.meshd_inbound_plaintext_${bp}.downstream_rq_total`), undefined, 'no plaintext chain in STRICT');
});

/**
 * External CA through the Kubernetes CSR API, on a real kube-apiserver with a test signer (its
 * own root) and real Envoy: meshd (`--external-ca kubernetes --signer-name example.com/meshd
 * --extra-trust-roots`) gets every workload certificate signed by the signer; Envoy's /certs
 * shows the signer's certificate and both roots; frontend → backend works over mTLS. When the
 * signer denies, or does not answer, renewals fail visibly (metrics) while the current
 * certificate stays in force; when it signs again, the certificate is renewed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeUp } from '../helpers/kube.js';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import { startTestSigner } from '../helpers/csr-signer.js';
import { parseCertificate } from '../../src/ca/x509.js';
import { parseCertificatesPem } from '../../src/ca/pem.js';

const SIGNER = 'example.com/meshd';
const norm = (hex: string): string => hex.toLowerCase().replace(/^0+/, '');

interface EnvoyCerts { certificates: { ca_cert: { serial_number: string }[]; cert_chain: { serial_number: string; subject_alt_names: { uri?: string }[] }[] }[] }

test('workload certificates come from the external signer; failures keep the current certificate and are counted', async (t) => {
  const kube = await kubeUp();
  t.after(() => kube.down());
  const signer = await startTestSigner(kube.client, SIGNER, { lifetimeSeconds: 60 });
  t.after(() => signer.stop());
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  const roots = join(mesh.dir, 'extra-roots.pem');
  writeFileSync(roots, signer.rootPem);
  mesh.writeConfig('20-strict.yaml', 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: production}\nspec: {mtls: {mode: STRICT}}\n');
  await mesh.startMeshd(['--external-ca', 'kubernetes', '--signer-name', SIGNER, '--external-ca-kubeconfig', kube.kubeconfig, '--extra-trust-roots', roots, '--external-ca-timeout', '3s']);
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend', 200);

  const backendCert = async (): Promise<{ serial: string; caSerials: string[]; uri?: string }> => {
    const c = await (await mesh.get('backend').envoy!.admin('/certs')).json() as EnvoyCerts;
    const withChain = c.certificates.find((x) => x.cert_chain.length > 0)!;
    return { serial: norm(withChain.cert_chain[0]!.serial_number), caSerials: withChain.ca_cert.map((x) => norm(x.serial_number)), uri: withChain.cert_chain[0]!.subject_alt_names[0]?.uri };
  };
  const first = await backendCert();
  assert.ok([...signer.serials].map(norm).includes(first.serial), 'backend\'s certificate was issued by the test signer');
  assert.equal(first.uri, 'spiffe://cluster.local/ns/production/sa/backend');
  const signerRoot = norm(parseCertificate(parseCertificatesPem(signer.rootPem)[0]!).serialHex);
  assert.ok(first.caSerials.includes(signerRoot), 'the extra root is in the trust bundle');
  assert.ok(first.caSerials.length >= 2, 'meshd\'s own root is still there');

  const metric = async (result: string): Promise<number> => {
    const text = await (await mesh.meshd!.admin('/metrics')).text();
    const m = new RegExp(`^meshd_ca_external_requests_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  assert.ok(await metric('issued') >= 2);

  // The signer denies: the renewal (at about half of 60 s) fails, is counted, and the current certificate stays.
  signer.mode = 'deny';
  await waitFor('a denied renewal', async () => (await metric('denied')) >= 1 || undefined, 60_000, 500);
  assert.equal((await backendCert()).serial, first.serial, 'the current certificate stays in force');
  assert.equal((await mesh.call('frontend', 'backend')).status, 200, 'traffic still flows on the current certificates');

  // The signer does not answer: the request times out, counted.
  signer.mode = 'ignore';
  await waitFor('a timed-out request', async () => (await metric('timeout')) >= 1 || undefined, 40_000, 500);
  assert.equal((await mesh.call('frontend', 'backend')).status, 200);
  assert.match(mesh.meshd!.log(), /did not sign within 3000 ms/);

  // The signer is back: certificates are renewed.
  signer.mode = 'sign';
  const renewed = await waitFor('a renewed backend certificate', async () => { const c = await backendCert(); return c.serial !== first.serial ? c : undefined; }, 40_000, 500);
  assert.ok([...signer.serials].map(norm).includes(renewed.serial));
  assert.equal((await mesh.call('frontend', 'backend')).status, 200);
});

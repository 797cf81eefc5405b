/**
 * Real Envoy, workload identity: two sidecars talk mTLS with SPIFFE certificates from
 * meshd's CA, and a stream cannot get another workload's identity by claiming it in its
 * node metadata.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CaStatus } from '../../src/ca/ca.js';
import { MeshFixture } from '../helpers/mesh.js';
import { startEnvoy } from '../helpers/envoy.js';
import { waitFor } from '../helpers/ports.js';
import { envoyCerts, envoySecrets, metric, normSerial, statSum, urisOf } from './identity-support.js';

const uri = (sa: string): string => `spiffe://cluster.local/ns/production/sa/${sa}`;

test('two workloads talk mTLS: /certs shows SPIFFE SAN, issuer and expiry; XFCC; handshake stats move', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  await mesh.startWorkloads();
  const ca = await mesh.meshd!.adminJson<CaStatus>('/ca/status');
  assert.equal(ca.roots.length, 1);
  const root = ca.roots[0]!;
  const backend = mesh.get('backend').envoy!;
  const frontend = mesh.get('frontend').envoy!;
  const handshakes = async (): Promise<number> => statSum(await backend.stats('ssl.handshake'), 'ssl.handshake') + statSum(await frontend.stats('ssl.handshake'), 'ssl.handshake');
  const handshakesBefore = await handshakes();
  await mesh.waitForCall('frontend', 'backend');

  for (let i = 0; i < 5; i++) {
    const r = await mesh.call('frontend', 'backend', { path: `/hello/${i}` });
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { app: string; xfcc?: string };
    assert.equal(body.app, 'backend');
    // The server app sees the caller's SPIFFE id, taken from the mTLS handshake.
    assert.match(body.xfcc ?? '', new RegExp(`URI=${uri('frontend').replace(/[/.]/g, '\\$&')}`));
  }

  for (const [name, envoy] of [['frontend', frontend], ['backend', backend]] as const) {
    const certs = await envoyCerts(envoy);
    const leaves = certs.map((c) => c.chain[0]).filter((d) => d?.uris.includes(uri(name)));
    assert.ok(leaves.length > 0, `${name}: /certs has a leaf with ${uri(name)}: ${JSON.stringify(certs)}`);
    for (const leaf of leaves) {
      assert.deepEqual(leaf!.uris, [uri(name)], 'exactly the SPIFFE URI SAN');
      const ttlH = (Date.parse(leaf!.expiration) - Date.now()) / 3_600_000;
      assert.ok(ttlH > 23.5 && ttlH <= 24.01, `${name}: expires in ~24 h (default --cert-ttl): ${leaf!.expiration}`);
    }
    // The trust anchor Envoy validates peers with is meshd's root (same serial).
    const cas = new Set(certs.flatMap((c) => c.ca.map((d) => d.serial)));
    assert.deepEqual([...cas], [normSerial(root.serial)], `${name}: CA in /certs is meshd's root`);
    // Issuer: the leaf Envoy holds (config_dump, key redacted) is signed by that root.
    const secrets = await envoySecrets(envoy);
    const def = secrets.find((s) => s.name === 'default');
    const rootCa = secrets.find((s) => s.name === 'ROOTCA');
    assert.ok(def?.leaf && rootCa?.cas.length === 1, `${name}: default and ROOTCA active: ${secrets.map((s) => s.name).join(',')}`);
    const rootCert = rootCa.cas[0]!;
    assert.equal(def.leaf.issuer, rootCert.subject, 'issuer is the root');
    assert.ok(def.leaf.verify(rootCert.publicKey), 'signature checks against the root');
    assert.equal(def.leaf.issuer.replace(/\n/g, ', '), root.subject);
    assert.equal(normSerial(def.leaf.serialNumber), leaves[0]!.serial, '/certs and config_dump agree on the serial');
    assert.doesNotMatch(def.privateKey ?? '', /PRIVATE KEY/, 'Envoy redacts the key in its dump');
    assert.deepEqual(urisOf(def.leaf), [uri(name)]);
  }

  const handshakesAfter = await handshakes();
  assert.ok(handshakesAfter > handshakesBefore, `handshakes ${handshakesBefore} → ${handshakesAfter}`);
  const inbound = await backend.stats('ssl.handshake');
  assert.ok(statSum(inbound, 'listener.', 'ssl.handshake') > 0, `backend's inbound listener counted TLS handshakes: ${[...inbound].join(' ')}`);
  const outbound = await frontend.stats('ssl.handshake');
  assert.ok(statSum(outbound, 'cluster.outbound', 'ssl.handshake') > 0, `frontend's outbound cluster counted TLS handshakes: ${[...outbound].join(' ')}`);
});

test('a stream claiming backend in its node metadata gets no secret of backend\'s identity', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  await mesh.startMeshd();
  const meshd = mesh.meshd!;
  const adminPorts = { xds: meshd.xdsPort, secureXds: meshd.secureXdsPort, admin: meshd.adminPort };

  // Node id and metadata say backend; the credential is frontend's join token.
  const spoof = await startEnvoy('spoof', mesh.bootstrap('backend', { token: mesh.token('production', 'frontend') }));
  t.after(() => spoof.stop());
  const secrets = await waitFor('spoof has its secrets', async () => {
    const s = await envoySecrets(spoof);
    return s.find((x) => x.name === 'default')?.leaf ? s : undefined;
  }, 20000);
  const sans = secrets.flatMap((s) => (s.leaf ? urisOf(s.leaf) : []));
  assert.deepEqual(sans, [uri('frontend')], 'the certificate follows the token, not the metadata');
  const allLeaves = (await envoyCerts(spoof)).flatMap((c) => c.chain.flatMap((d) => d.uris));
  assert.ok(!allLeaves.includes(uri('backend')), `no certificate of backend in /certs: ${allLeaves.join(',')}`);
  const syncz = await meshd.adminJson<{ proxies: { id?: string; proxyId?: string }[] }>('/debug/syncz');
  const id = JSON.stringify(syncz).match(/sidecar~[^"]*~backend\.production~[^"]*/)?.[0];
  assert.ok(id, `meshd lists the spoofing proxy: ${JSON.stringify(syncz).slice(0, 500)}`);
  const dump = await meshd.adminJson<{ identity?: { serviceAccount: string } }>(`/debug/config_dump?proxy=${encodeURIComponent(id)}`);
  assert.equal(dump.identity?.serviceAccount, 'frontend', 'meshd holds the identity from the token');
  // Nor does it get backend's inbound side: no listener on backend's address, no backend policy.
  const backendAddress = mesh.get('backend').address;
  const listeners = JSON.stringify(await spoof.configDump('dynamic_listeners'));
  assert.ok(!listeners.includes(backendAddress), `no inbound listener on ${backendAddress} for an impostor`);
  await waitFor('meshd warns about the impostor', () => meshd.logLines().some((l) => l.msg === 'translation' && /claims workload production\/backend/.test(String(l.problem))), 10000);
  await spoof.stop();

  // No token at all, no --allow-unauthenticated: the stream is refused with UNAUTHENTICATED.
  const failuresBefore = metric(await (await meshd.admin('/metrics')).text(), 'meshd_ca_auth_failures_total', { reason: 'no-credentials' });
  const anon = await startEnvoy('anon', mesh.bootstrap('backend', { token: null }));
  t.after(() => anon.stop());
  await waitFor('meshd refuses the stream', async () => metric(await (await meshd.admin('/metrics')).text(), 'meshd_ca_auth_failures_total', { reason: 'no-credentials' }) > failuresBefore, 15000);
  // grpc-status 16 = UNAUTHENTICATED, with meshd's explanation (percent-encoded on the wire).
  await waitFor('Envoy sees UNAUTHENTICATED (16)', () => /config stream to xds-grpc closed: 16, meshd:%20no%20credentials/.test(anon.log()), 15000);
  assert.ok(meshd.logLines().some((l) => l.msg === 'xds: stream refused' && l.reason === 'no-credentials'), 'meshd logs the refusal');
  const anonDump = JSON.stringify(await anon.configDump());
  assert.ok(!anonDump.includes('dynamic_active_secrets'), 'no secrets');
  assert.ok(!/"dynamic_listeners"/.test(anonDump), 'no listeners either');
  await anon.stop();

  // With --allow-unauthenticated: listeners and clusters, never a secret.
  await meshd.stop();
  const open = await mesh.startMeshd(['--allow-unauthenticated'], adminPorts);
  const anon2 = await startEnvoy('anon2', mesh.bootstrap('backend', { token: null }));
  t.after(() => anon2.stop());
  await waitFor('anonymous stream gets clusters', async () => JSON.stringify(await anon2.configDump()).includes('dynamic_active_clusters'), 20000);
  await waitFor('anonymous stream gets listeners', async () => JSON.stringify(await anon2.configDump()).includes('"dynamic_listeners"'), 20000);
  const served = await envoySecrets(anon2);
  assert.deepEqual(served.filter((s) => s.leaf || s.cas.length > 0).map((s) => s.name), [], 'no secret content');
  assert.ok(open.logLines().some((l) => String(l.msg).includes('served without secrets')));
});

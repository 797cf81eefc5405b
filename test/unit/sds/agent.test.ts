import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata, Server, status, type ServiceError } from '@grpc/grpc-js';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { chainAuthenticators, clientCertificateAuthenticator, joinTokenAuthenticator } from '../../../src/ca/auth.js';
import { addCaService } from '../../../src/ca/csr-service.js';
import { caServiceDefinition, type IstioCertificateResponse } from '../../../src/ca/ca-proto.js';
import { MeshdServerCertificates } from '../../../src/ca/server-cert.js';
import { mintJoinToken } from '../../../src/ca/tokens.js';
import { createCsr, csrToPem } from '../../../src/ca/csr.js';
import { generateP256, p256PrivateKeyObject } from '../../../src/ca/keys.js';
import { runAgent, AgentError } from '../../../src/sds/agent.js';
import { sdsServiceDefinitions, type DiscoveryResponse } from '../../../src/sds/sds-server.js';
import { decodeResource, ResourceType } from '../../../src/xds/resource-types.js';

const tokenKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function startMeshd(): Promise<{ ca: CertificateAuthority; port: number; stop: () => Promise<void> }> {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const certs = new MeshdServerCertificates(ca);
  const server = new Server();
  addCaService(server, { ca, authenticator: chainAuthenticators([joinTokenAuthenticator(tokenKey.publicKey), clientCertificateAuthenticator(ca)]) });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', certs.serverCredentials(), (e, p) => (e ? rej(e) : res(p))));
  return { ca, port, stop: async () => { certs.close(); await new Promise<void>((r) => server.tryShutdown(() => r())); } };
}

/** Reads SDS responses from a stream into a queue. */
function sdsStream(socket: string): { send: (names: string[], nonce?: string, version?: string) => void; next: () => Promise<DiscoveryResponse>; close: () => void } {
  const def = sdsServiceDefinitions().sds.StreamSecrets;
  const client = new Client(`unix:${socket}`, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize);
  const queue: DiscoveryResponse[] = [];
  const waiters: ((r: DiscoveryResponse) => void)[] = [];
  call.on('data', (r: DiscoveryResponse) => { const w = waiters.shift(); if (w) w(r); else queue.push(r); });
  call.on('error', () => {});
  return {
    send: (names, nonce = '', version = '') => call.write({ resource_names: names, type_url: ResourceType.Secret, response_nonce: nonce, version_info: version }),
    next: () => new Promise((resolve, reject) => {
      const q = queue.shift();
      if (q) return resolve(q);
      const t = setTimeout(() => reject(new Error('no SDS response in 5 s')), 5000);
      waiters.push((r) => { clearTimeout(t); resolve(r); });
    }),
    close: () => { call.cancel(); client.close(); },
  };
}

function secretOf(r: DiscoveryResponse, i = 0): Record<string, unknown> {
  return decodeResource(ResourceType.Secret, r.resources[i]!.value);
}

test('agent: CSR over TLS (meshd verified), SDS over a Unix socket, renewal pushes a new default', { timeout: 30_000 }, async () => {
  const meshd = await startMeshd();
  const dir = mkdtempSync(join(tmpdir(), 'meshd-agent-'));
  writeFileSync(join(dir, 'root.pem'), meshd.ca.trustBundlePem().join(''));
  writeFileSync(join(dir, 'token'), mintJoinToken({ namespace: 'shop', serviceAccount: 'cart', ttlSeconds: 600 }, tokenKey.privateKey) + '\n');
  const logs: string[] = [];
  const agent = await runAgent({ meshd: `localhost:${meshd.port}`, tokenFile: join(dir, 'token'), socket: join(dir, 'sds.sock'), caCertFile: join(dir, 'root.pem'), log: (l) => logs.push(l) });
  try {
    const s = sdsStream(join(dir, 'sds.sock'));
    s.send(['default']);
    const first = await s.next();
    assert.equal(first.type_url, ResourceType.Secret);
    assert.equal(first.resources.length, 1);
    const def = secretOf(first) as { name: string; tls_certificate: { certificate_chain: { inline_bytes: string }; private_key: { inline_bytes: string } } };
    assert.equal(def.name, 'default');
    const leaf = new X509Certificate(Buffer.from(def.tls_certificate.certificate_chain.inline_bytes, 'base64'));
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/cart');
    assert.ok(leaf.verify(new X509Certificate(meshd.ca.trustBundlePem()[0]!).publicKey));
    s.send(['default'], first.nonce, first.version_info); // ACK: nothing comes back
    s.send(['ROOTCA', 'default'], first.nonce, first.version_info);
    const both = await s.next();
    assert.deepEqual(both.resources.map((_, i) => secretOf(both, i)['name']).sort(), ['ROOTCA', 'default']);
    s.send(['ROOTCA', 'default'], both.nonce, both.version_info);

    await agent.renewNow();
    const pushed = await s.next();
    assert.notEqual(pushed.version_info, both.version_info);
    const renewed = pushed.resources.map((_, i) => secretOf(pushed, i)).find((x) => x['name'] === 'default') as typeof def;
    assert.notEqual(renewed.tls_certificate.private_key.inline_bytes, def.tls_certificate.private_key.inline_bytes, 'new key');
    assert.ok(!logs.join('\n').includes('PRIVATE KEY'), 'no key material in logs');
    s.close();

    // Client-certificate authentication: the agent's certificate alone authenticates a CSR.
    const key = Buffer.from(renewed.tls_certificate.private_key.inline_bytes, 'base64');
    const chain = Buffer.from(renewed.tls_certificate.certificate_chain.inline_bytes, 'base64');
    const mtls = new Client(`localhost:${meshd.port}`, credentials.createSsl(Buffer.from(meshd.ca.trustBundlePem().join('')), key, chain));
    const def2 = caServiceDefinition().CreateCertificate;
    const k = generateP256();
    const res = await new Promise<IstioCertificateResponse>((resolve, reject) =>
      mtls.makeUnaryRequest(def2.path, def2.requestSerialize, def2.responseDeserialize, { csr: csrToPem(createCsr(p256PrivateKeyObject(k), k.spki)), validity_duration: 0 }, new Metadata(), (e: ServiceError | null, r?: IstioCertificateResponse) => (e ? reject(e) : resolve(r!))));
    assert.equal(new X509Certificate(res.cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/cart');
    mtls.close();
  } finally {
    await agent.close();
    await meshd.stop();
  }
});

test('agent: a rejected token fails the start; a wrong root fails TLS', { timeout: 30_000 }, async () => {
  const meshd = await startMeshd();
  const dir = mkdtempSync(join(tmpdir(), 'meshd-agent-'));
  writeFileSync(join(dir, 'root.pem'), meshd.ca.trustBundlePem().join(''));
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'token'), mintJoinToken({ namespace: 'shop', serviceAccount: 'cart', ttlSeconds: 600 }, other.privateKey));
  try {
    await assert.rejects(runAgent({ meshd: `localhost:${meshd.port}`, tokenFile: join(dir, 'token'), socket: join(dir, 'sds.sock'), caCertFile: join(dir, 'root.pem'), log: () => {} }), (e: unknown) => e instanceof AgentError && e.permanent && /signature/.test(e.message));
    const stranger = await CertificateAuthority.open(new MemoryCaStore());
    writeFileSync(join(dir, 'wrong-root.pem'), stranger.trustBundlePem().join(''));
    writeFileSync(join(dir, 'token'), mintJoinToken({ namespace: 'shop', serviceAccount: 'cart', ttlSeconds: 600 }, tokenKey.privateKey));
    const logs: string[] = [];
    const agent = await runAgent({ meshd: `localhost:${meshd.port}`, tokenFile: join(dir, 'token'), socket: join(dir, 'sds2.sock'), caCertFile: join(dir, 'wrong-root.pem'), log: (l) => logs.push(l) });
    assert.equal(agent.notAfter(), undefined, 'no certificate from an unverified server');
    assert.match(logs.join('\n'), /retrying/);
    await agent.close();
  } finally {
    await meshd.stop();
  }
  void status;
});

/**
 * Bad input through a real meshd process: expired or foreign tokens, unsupported and
 * malformed CSRs, a lifetime over the maximum, a CA key readable by others, a corrupt state
 * dir. Each gives a clear gRPC status or start-up message naming the file, is counted, issues
 * nothing and overwrites nothing; key material never shows in logs or debug output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { caServiceDefinition, type IstioCertificateResponse } from '../../src/ca/ca-proto.js';
import { createCsr, csrToPem } from '../../src/ca/csr.js';
import { generateP256, p256PrivateKeyObject, spkiOf } from '../../src/ca/keys.js';
import { mintJoinToken } from '../../src/ca/tokens.js';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT } from '../helpers/meshd.js';
import { startEnvoy } from '../helpers/envoy.js';
import { waitFor } from '../helpers/ports.js';
import { metric, withBase64Decoded } from './identity-support.js';

type Outcome = { code: number; details: string; chain?: readonly string[] };

function createCertificate(addr: string, csr: string, token: string | undefined, ttl = 0): Promise<Outcome> {
  const client = new Client(addr, credentials.createInsecure());
  const def = caServiceDefinition().CreateCertificate;
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { csr, validity_duration: ttl }, md, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res?: IstioCertificateResponse) => {
      client.close();
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: 'OK', chain: res!.cert_chain });
    });
  });
}

function p256Csr(): string {
  const k = generateP256();
  return csrToPem(createCsr(p256PrivateKeyObject(k), k.spki));
}

test('bad requests to the CSR API: clear gRPC status, counted, nothing issued', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }]);
  t.after(() => mesh.close());
  const meshd = await mesh.startMeshd();
  const addr = `127.0.0.1:${meshd.xdsPort}`;
  const metrics = async (): Promise<string> => (await meshd.admin('/metrics')).text();
  const good = mesh.token('production', 'frontend');
  const issued0 = metric(await metrics(), 'meshd_ca_issuance_seconds_count');

  const expired = mintJoinToken({ namespace: 'production', serviceAccount: 'frontend', ttlSeconds: 60 }, (await import('../../src/ca/tokens.js')).loadOrCreateTokenSigningKey(mesh.stateDir).privateKey, Date.now() - 3_600_000);
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const foreign = mintJoinToken({ namespace: 'production', serviceAccount: 'frontend', ttlSeconds: 600 }, other.privateKey);
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const p384Csr = csrToPem(createCsr(p384.privateKey, spkiOf(p384.privateKey)));
  const cases: { name: string; csr: string; token?: string; ttl?: number; code: number; details: RegExp; metric: [string, Record<string, string>] }[] = [
    { name: 'expired token', csr: p256Csr(), token: expired, code: 16, details: /token expired at/, metric: ['meshd_ca_auth_failures_total', { reason: 'expired' }] },
    { name: 'token signed by another key', csr: p256Csr(), token: foreign, code: 16, details: /signature/i, metric: ['meshd_ca_auth_failures_total', { reason: 'bad-signature' }] },
    { name: 'no token', csr: p256Csr(), code: 16, details: /no credentials/, metric: ['meshd_ca_auth_failures_total', { reason: 'no-credentials' }] },
    { name: 'CSR for an unsupported key type (P-384)', csr: p384Csr, token: good, code: 3, details: /unsupported key type/, metric: ['meshd_ca_signing_errors_total', {}] },
    { name: 'malformed CSR', csr: '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n', token: good, code: 3, details: /./, metric: ['meshd_ca_signing_errors_total', {}] },
  ];
  for (const c of cases) {
    const before = metric(await metrics(), c.metric[0], c.metric[1]);
    const r = await createCertificate(addr, c.csr, c.token, c.ttl);
    assert.equal(r.code, c.code, `${c.name}: ${r.code} ${r.details}`);
    assert.match(r.details, c.details, c.name);
    assert.equal(metric(await metrics(), c.metric[0], c.metric[1]), before + 1, `${c.name}: counted in ${c.metric[0]}`);
  }
  assert.equal(metric(await metrics(), 'meshd_ca_issuance_seconds_count'), issued0, 'nothing issued');
  // A lifetime over the maximum is capped, not honoured (90 days).
  const long = await createCertificate(addr, p256Csr(), good, 365 * 86_400);
  assert.equal(long.code, 0, long.details);
  const { X509Certificate } = await import('node:crypto');
  const leaf = new X509Certificate(long.chain![0]!);
  assert.ok(Date.parse(leaf.validTo) - Date.now() <= 90 * 86_400_000 + 60_000, `capped at 90 days: ${leaf.validTo}`);
  // The good token still works (failures did not poison anything).
  assert.equal((await createCertificate(addr, p256Csr(), good)).code, 0);

  // Key material never in meshd's log, /debug/config_dump or /metrics, with a sidecar holding secrets.
  const envoy = await startEnvoy('frontend', mesh.bootstrap('frontend'));
  t.after(() => envoy.stop());
  const id = await waitFor('sidecar connected', async () => JSON.stringify(await meshd.adminJson('/debug/syncz')).match(/sidecar~[^"]*~frontend\.production~[^"]*/)?.[0], 20000);
  const dump = await waitFor('dump with secrets', async () => {
    const d = JSON.stringify(await meshd.adminJson(`/debug/config_dump?proxy=${encodeURIComponent(id)}`));
    return d.includes('tls_certificate') ? d : undefined;
  }, 20000);
  // Certificates travel encoded in inline_bytes (base64, or a Buffer's bytes in meshd's dump): grep the decoded text too.
  const plainDump = withBase64Decoded(dump);
  assert.match(plainDump, /BEGIN CERTIFICATE/, 'the dump does show certificates (so the grep below means something)');
  assert.match(dump, /"private_key":\{"inline_bytes":"\[redacted\]"\}/, 'the key is redacted in place');
  assert.doesNotMatch(plainDump, /PRIVATE KEY/);
  assert.doesNotMatch(withBase64Decoded(meshd.log()), /PRIVATE KEY/);
  assert.doesNotMatch(withBase64Decoded(await metrics()), /PRIVATE KEY/);
  assert.doesNotMatch(withBase64Decoded(JSON.stringify(await meshd.adminJson('/ca/status'))), /PRIVATE KEY/);
});

function startFails(configDir: string, stateDir: string): { code: number; out: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshd'), '--config-dir', configDir, '--state-dir', stateDir, '--xds-port', '0', '--secure-xds-port', '0', '--admin-port', '0'], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

test('bad state at start-up: a CA key readable by others, a corrupt state file: message names the file, nothing overwritten', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }]);
  t.after(() => mesh.close());
  const first = await mesh.startMeshd();
  await first.stop();
  const caDir = join(mesh.stateDir, 'ca');
  const snapshot = (): Record<string, string> => Object.fromEntries(readdirSync(caDir).sort().map((f) => [f, readFileSync(join(caDir, f), 'utf8')]));
  const keyFile = join(caDir, 'root-1-key.pem');

  const original = snapshot();
  chmodSync(keyFile, 0o644);
  const loose = startFails(mesh.configDir, mesh.stateDir);
  assert.notEqual(loose.code, 0);
  assert.ok(loose.out.includes(keyFile), `names the key file: ${loose.out}`);
  assert.match(loose.out, /accessible by group or others \(mode 0644\); run: chmod 600/);
  assert.deepEqual(snapshot(), original, 'nothing rewritten');
  assert.doesNotMatch(loose.out, /PRIVATE KEY/);
  chmodSync(keyFile, 0o600);

  const stateFile = join(caDir, 'state.json');
  writeFileSync(stateFile, '{"version": 1, "phase": "steady", "roo');
  const corrupt = snapshot();
  const bad = startFails(mesh.configDir, mesh.stateDir);
  assert.notEqual(bad.code, 0);
  assert.ok(bad.out.includes(`corrupt CA state file ${stateFile}`), `names the state file: ${bad.out}`);
  assert.deepEqual(snapshot(), corrupt, 'the corrupt file is left for the operator, no new root generated');

  writeFileSync(stateFile, JSON.stringify({ version: 1, phase: 'steady', signingRootId: 'root-1', roots: ['root-1'] }));
  writeFileSync(join(caDir, 'root-1-cert.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const badCert = startFails(mesh.configDir, mesh.stateDir);
  assert.notEqual(badCert.code, 0);
  assert.ok(badCert.out.includes(join(caDir, 'root-1-cert.pem')), `names the certificate file: ${badCert.out}`);
  assert.equal(readFileSync(keyFile, 'utf8'), original['root-1-key.pem'], 'the root key is never overwritten');
});

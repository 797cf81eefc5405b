import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { MemoryCaStore } from '../../../src/ca/store.js';
import { redactSecret, tlsCertificateSecret, trustBundleSecret, REDACTED } from '../../../src/sds/secrets.js';
import { decodeResource, encodeResource, ResourceType, typed, messageNameOf } from '../../../src/xds/resource-types.js';

const ALICE = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'alice' };

test('default and ROOTCA secrets encode as Envoy Secret resources', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const c = ca.issueWorkload(ALICE);
  const def = tlsCertificateSecret(c.certChainPem, c.privateKeyPem);
  const decoded = decodeResource(ResourceType.Secret, encodeResource(ResourceType.Secret, def)) as { name: string; tls_certificate: { certificate_chain: { inline_bytes: string }; private_key: { inline_bytes: string } } };
  assert.equal(decoded.name, 'default');
  assert.equal(Buffer.from(decoded.tls_certificate.certificate_chain.inline_bytes, 'base64').toString(), c.certChainPem[0], 'leaf without the root');
  assert.equal(Buffer.from(decoded.tls_certificate.private_key.inline_bytes, 'base64').toString(), c.privateKeyPem);
  const root = trustBundleSecret(['A\n', 'B\n']);
  const r = decodeResource(ResourceType.Secret, encodeResource(ResourceType.Secret, root)) as { name: string; validation_context: { trusted_ca: { inline_bytes: string } } };
  assert.equal(r.name, 'ROOTCA');
  assert.equal(Buffer.from(r.validation_context.trusted_ca.inline_bytes, 'base64').toString(), 'A\nB\n');
});

test('redactSecret replaces private key bytes anywhere, leaves the rest, does not mutate', async () => {
  const ca = await CertificateAuthority.open(new MemoryCaStore());
  const c = ca.issueWorkload(ALICE);
  const def = tlsCertificateSecret(c.certChainPem, c.privateKeyPem);
  const dump = { configs: [typed(messageNameOf(ResourceType.Secret), def), { name: 'x', tls_certificate: { private_key: { inline_string: c.privateKeyPem } } }] };
  const red = redactSecret(dump);
  const text = JSON.stringify(red);
  assert.ok(!text.includes(Buffer.from(c.privateKeyPem).toString('base64')));
  assert.ok(!text.includes('PRIVATE KEY'));
  assert.equal((red.configs[0] as { tls_certificate: { private_key: { inline_bytes: string } } }).tls_certificate.private_key.inline_bytes, REDACTED);
  assert.deepEqual((red.configs[0] as { tls_certificate: { certificate_chain: unknown } }).tls_certificate.certificate_chain, (def as { tls_certificate: { certificate_chain: unknown } }).tls_certificate.certificate_chain);
  assert.ok(JSON.stringify(dump).includes('PRIVATE KEY') || JSON.stringify(dump).includes(Buffer.from(c.privateKeyPem).toString('base64')), 'input untouched');
});

/** `/debug/connections`: the chain meshd holds (never the key), and ADMIN_ADDRESS passed on only when it is loopback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connections } from '../../../src/meshd/admin-wiring.js';
import { CertificateAuthority } from '../../../src/ca/ca.js';
import { FileCaStore } from '../../../src/ca/store.js';
import { tempDir } from '../ca/helpers.js';
import type { ConnectedProxy } from '../../../src/xds/server/index.js';
import type { XdsServer } from '../../../src/xds/server/index.js';
import type { WorkloadCertManager } from '../../../src/sds/cert-manager.js';

test('connections: identity, chain summary, loopback-only admin address', async () => {
  const ca = await CertificateAuthority.open(new FileCaStore(tempDir()));
  const identity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
  const issued = ca.issueWorkload(identity);
  const proxy = (id: string, admin: string): ConnectedProxy => ({
    connectionId: id, identity, protocol: 'sotw', peer: '127.0.0.1:1', connectedAt: 0,
    info: { id: `sidecar~10.0.0.1~web.shop~shop.svc.cluster.local`, ip: '10.0.0.1', workloadName: 'web', namespace: 'shop', labels: {}, interceptionMode: 'NONE', proxyless: false },
    node: { id: 'x', cluster: '', metadata: { ADMIN_ADDRESS: admin }, userAgentName: 'envoy', userAgentVersion: '1.40.0' },
  });
  const xds = { connectedProxies: () => [proxy('c1', '127.0.0.1:15000'), proxy('c2', '10.1.2.3:15000')] } as unknown as XdsServer;
  const certs = { certificate: (id: string) => (id === 'c1' ? { certChainPem: issued.certChainPem, notBefore: issued.notBefore, notAfter: issued.notAfter } : undefined) } as unknown as WorkloadCertManager;
  const [a, b] = connections({ xds, certs }, true) as Record<string, unknown>[];
  assert.equal(a!.adminAddress, '127.0.0.1:15000');
  assert.equal(b!.adminAddress, null, 'a non-loopback address from node metadata is not passed on');
  assert.equal(a!.identity, 'spiffe://cluster.local/ns/shop/sa/web');
  const chain = a!.certificate as { spiffeId?: string; isCa: boolean }[];
  assert.equal(chain[0]!.spiffeId, 'spiffe://cluster.local/ns/shop/sa/web');
  assert.equal(chain[1]!.isCa, true);
  assert.equal(b!.certificate, null);
  assert.doesNotMatch(JSON.stringify([a, b]), /PRIVATE KEY/);
  assert.match(JSON.stringify(a), /BEGIN CERTIFICATE/, '?pem=true adds the public chain');
});

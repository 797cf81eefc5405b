import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allHosts, lookupHost, outboundPolicy, proxyScope, sidecarFor, visibleHosts } from '../../../src/xds/translate/registry.js';
import { proxy, snap, svc } from './snap.js';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
---
`;

test('the registry holds Services and ServiceEntry hosts, sorted', () => {
  const s = snap(svc('a', 'ns1') + svc('b', 'ns2') + SE);
  assert.deepEqual(allHosts(s).map((h) => `${h.origin}:${h.hostname}:${h.resolution}:${h.location}`), [
    'Service:a.ns1.svc.cluster.local:EDS:MESH_INTERNAL', 'ServiceEntry:api.example.com:DNS:MESH_EXTERNAL', 'Service:b.ns2.svc.cluster.local:EDS:MESH_INTERNAL',
  ]);
});

test('without a Sidecar every proxy sees everything, and shares one scope', () => {
  const s = snap(svc('a', 'ns1') + svc('b', 'ns2'));
  const p1 = proxyScope(s, proxy({ namespace: 'ns1' }));
  const p2 = proxyScope(s, proxy({ namespace: 'ns2' }));
  assert.equal(p1.key, 'all');
  assert.equal(p1.hosts, p2.hosts);
  assert.equal(outboundPolicy(s, proxy()), 'ALLOW_ANY');
});

test('exportTo on a Service annotation and on a ServiceEntry hides hosts from other namespaces', () => {
  const s = snap(svc('a', 'ns1', [80], ', annotations: {networking.istio.io/exportTo: "."}') + svc('b', 'ns2') + SE.replace('resolution: DNS', 'resolution: DNS\n  exportTo: [ns2]'));
  assert.deepEqual(visibleHosts(s, proxy({ namespace: 'ns1' })).map((h) => h.hostname), ['a.ns1.svc.cluster.local', 'b.ns2.svc.cluster.local']);
  assert.deepEqual(visibleHosts(s, proxy({ namespace: 'ns2' })).map((h) => h.hostname), ['api.example.com', 'b.ns2.svc.cluster.local']);
  assert.deepEqual(visibleHosts(s, proxy({ namespace: 'ns3' })).map((h) => h.hostname), ['b.ns2.svc.cluster.local']);
  assert.notEqual(proxyScope(s, proxy({ namespace: 'ns1' })).key, proxyScope(s, proxy({ namespace: 'ns3' })).key);
});

test('Sidecar selection: selector in the namespace, else the namespace default, else the root namespace default', () => {
  const sc = (name: string, ns: string, sel: string, hosts: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: ${ns}}
spec:
${sel}  egress: [{hosts: [${hosts}]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
`;
  const s = snap(svc('a', 'ns1') + svc('b', 'ns2') + SE
    + sc('only-own', 'ns1', '', '"./*"')
    + sc('picky', 'ns1', '  workloadSelector: {labels: {app: picky}}\n', '"ns2/b.ns2.svc.cluster.local"')
    + sc('root', 'istio-system', '', '"*/*.example.com"'));
  assert.equal(sidecarFor(s, proxy({ namespace: 'ns1' }))?.meta.name, 'only-own');
  assert.equal(sidecarFor(s, proxy({ namespace: 'ns1', labels: { app: 'picky' } }))?.meta.name, 'picky');
  assert.equal(sidecarFor(s, proxy({ namespace: 'ns2' }))?.meta.name, 'root');
  assert.deepEqual(visibleHosts(s, proxy({ namespace: 'ns1' })).map((h) => h.hostname), ['a.ns1.svc.cluster.local']);
  assert.deepEqual(visibleHosts(s, proxy({ namespace: 'ns1', labels: { app: 'picky' } })).map((h) => h.hostname), ['b.ns2.svc.cluster.local']);
  assert.deepEqual(visibleHosts(s, proxy({ namespace: 'ns2' })).map((h) => h.hostname), ['api.example.com']);
  assert.equal(outboundPolicy(s, proxy({ namespace: 'ns2' })), 'REGISTRY_ONLY');
  assert.equal(lookupHost(s, proxy({ namespace: 'ns2' }), 'api.example.com')?.origin, 'ServiceEntry');
  assert.equal(lookupHost(s, proxy({ namespace: 'ns2' }), 'a.ns1.svc.cluster.local'), undefined);
});

test('mesh-wide REGISTRY_ONLY applies without a Sidecar; a wildcard ServiceEntry host covers names under it', () => {
  const s = snap(SE.replace('api.example.com', '"*.example.com"').replace('resolution: DNS', 'resolution: NONE'), { outboundTrafficPolicy: 'REGISTRY_ONLY' });
  assert.equal(outboundPolicy(s, proxy()), 'REGISTRY_ONLY');
  assert.equal(lookupHost(s, proxy(), 'x.example.com')?.hostname, '*.example.com');
  assert.equal(lookupHost(s, proxy(), 'example.org'), undefined);
});

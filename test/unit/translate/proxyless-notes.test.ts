/**
 * Proxyless gRPC clients get plain routing to each Service: what they do not get (a
 * VirtualService's routes, a DestinationRule, a ServiceEntry) is named, never silently skipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type ProxyInfo } from '../../../src/model/types.js';
import { translate } from '../../../src/xds/translate/index.js';

const SERVICE = `
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: grpc}
spec: {selector: {app: greeter}, ports: [{name: grpc, port: 50051}]}
`;
const TRAFFIC = `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: grpc}
spec:
  hosts: [greeter]
  http: [{route: [{destination: {host: greeter, subset: v1}}], timeout: 2s}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: grpc}
spec: {host: greeter.grpc.svc.cluster.local, subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: grpc}
spec: {hosts: [api.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS}
`;

function notes(yaml: string): string[] {
  const objects: MeshObject[] = [];
  for (const d of YAML.parseAllDocuments(yaml).map((x) => x.toJS() as unknown).filter((x) => x !== null)) {
    const r = parseObject(d, { source: 'in.yaml', defaultNamespace: 'default' });
    assert.equal(r.status, 'ok', JSON.stringify(r.diagnostics));
    if (r.status === 'ok') objects.push(r.object);
  }
  const snapshot = buildSnapshot(objects, DEFAULT_MESH_CONFIG, 1);
  const proxy: ProxyInfo = { id: 'grpc-client', ip: '', workloadName: '', namespace: 'grpc', labels: {}, interceptionMode: 'NONE', proxyless: true };
  return translate(snapshot, proxy).diagnostics.map((d) => `${d.kind} ${d.namespace}/${d.name} ${d.field}`);
}

test('a proxyless client is told which VirtualService, DestinationRule and ServiceEntry it does not get', () => {
  assert.deepEqual(notes(SERVICE), []);
  assert.deepEqual(notes(SERVICE + TRAFFIC), ['VirtualService grpc/greeter spec.http', 'DestinationRule grpc/greeter spec', 'ServiceEntry grpc/ext spec.hosts']);
});

/**
 * CUSTOM AuthorizationPolicies on real Envoy with real external authorizers: the mesh config
 * names a gRPC provider (`envoyExtAuthzGrpc`, a real `envoy.service.auth.v3.Authorization`
 * server) and an HTTP one (`envoyExtAuthzHttp`); requests the policy matches are checked by the
 * authorizer, which allows or denies them (its headers reach the upstream or the caller), and
 * requests it does not match never reach the authorizer. A stopped authorizer fails closed. A
 * malformed mesh config is reported and the last good one stays in force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeshFixture } from '../helpers/mesh.js';
import { waitFor } from '../helpers/ports.js';
import { startGrpcAuthorizer, startHttpAuthorizer } from '../helpers/ext-authz.js';
import type { EchoReply } from '../helpers/apps.js';

const FRONTEND_ID = 'spiffe://cluster.local/ns/production/sa/frontend';

function meshConfigYaml(grpcPort: number, httpPort: number, statusOnError = '403'): string {
  return `
extensionProviders:
- name: grpc-authz
  envoyExtAuthzGrpc: {service: grpc-authz.authz.svc.cluster.local, port: ${grpcPort}, timeout: 2s, statusOnError: "${statusOnError}"}
- name: http-authz
  envoyExtAuthzHttp:
    service: authz/http-authz.authz.svc.cluster.local
    port: ${httpPort}
    timeout: 2s
    pathPrefix: /check
    includeRequestHeadersInCheck: [x-ext-authz, x-user]
    includeAdditionalHeadersInCheck: {x-meshd-checked-by: meshd}
    headersToUpstreamOnAllow: [x-authz-user]
    headersToDownstreamOnDeny: [x-authz-reason]
`;
}

function policy(provider: string): string {
  return `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: production}
spec:
  selector: {matchLabels: {app: backend}}
  action: CUSTOM
  provider: {name: ${provider}}
  rules:
  - to: [{operation: {paths: ["/secure/*"]}}]
`;
}

test('a CUSTOM policy sends matching requests to a real gRPC and a real HTTP ext_authz server, which allow and deny them', async (t) => {
  const grpcAuthz = await startGrpcAuthorizer('127.0.0.1');
  let grpcClosed = false;
  t.after(() => (grpcClosed ? undefined : grpcAuthz.close()));
  const httpAuthz = await startHttpAuthorizer('127.0.0.1', '/check');
  t.after(() => httpAuthz.close());
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
  t.after(() => mesh.close());
  const meshConfig = join(mesh.dir, 'mesh.yaml');
  writeFileSync(meshConfig, meshConfigYaml(grpcAuthz.port, httpAuthz.port));
  mesh.writeConfig('05-authorizers.yaml', `
apiVersion: v1
kind: Service
metadata: {name: grpc-authz, namespace: authz}
spec:
  selector: {app: grpc-authz}
  ports: [{name: grpc, port: ${grpcAuthz.port}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: grpc-authz, namespace: authz, labels: {sidecar.istio.io/inject: "false"}}
spec: {address: 127.0.0.1, labels: {app: grpc-authz}, serviceAccount: grpc-authz, ports: {grpc: ${grpcAuthz.port}}}
---
apiVersion: v1
kind: Service
metadata: {name: http-authz, namespace: authz}
spec:
  selector: {app: http-authz}
  ports: [{name: http, port: ${httpAuthz.port}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: http-authz, namespace: authz, labels: {sidecar.istio.io/inject: "false"}}
spec: {address: 127.0.0.1, labels: {app: http-authz}, serviceAccount: http-authz, ports: {http: ${httpAuthz.port}}}
`);
  mesh.writeConfig('10-ext-authz.yaml', policy('grpc-authz'));
  await mesh.startMeshd(['--mesh-config', meshConfig]);
  await mesh.startWorkloads();

  // gRPC authorizer: allowed with its header for the upstream, with the caller's mTLS identity.
  const allowed = await mesh.waitForCall('frontend', 'backend', 200, { path: '/secure/a', headers: { 'x-ext-authz': 'allow', 'x-user': 'alice' } });
  assert.equal((JSON.parse(allowed.body) as EchoReply).authz?.['x-authz-user'], 'alice', 'the authorizer\'s ok_response header reaches the app');
  const check = grpcAuthz.checks.find((c) => c.path === '/secure/a');
  assert.ok(check, `the gRPC authorizer saw the request: ${JSON.stringify(grpcAuthz.checks)}`);
  assert.equal(check.method, 'GET');
  assert.equal(check.sourcePrincipal, FRONTEND_ID, 'Envoy tells the authorizer the mTLS peer identity');

  // Denied: the authorizer's status, header and body reach the caller; the app never sees it.
  const before = mesh.get('backend').app!.requests.length;
  const denied = await mesh.call('frontend', 'backend', { path: '/secure/b' });
  assert.equal(denied.status, 403);
  assert.equal(denied.headers['x-authz-reason'], 'grpc-authorizer says no');
  assert.match(denied.body, /denied by the gRPC authorizer/);
  assert.equal(mesh.get('backend').app!.requests.length, before, 'a denied request does not reach the app');

  // A request the policy does not match is never sent to the authorizer.
  const checksBefore = grpcAuthz.checks.length;
  assert.equal((await mesh.call('frontend', 'backend', { path: '/open' })).status, 200);
  assert.equal(grpcAuthz.checks.length, checksBefore, '/open is outside the CUSTOM rule');

  // The authorizer goes away: fail closed (failOpen is not set).
  await grpcAuthz.close();
  grpcClosed = true;
  const down = await mesh.call('frontend', 'backend', { path: '/secure/c', headers: { 'x-ext-authz': 'allow' } });
  assert.equal(down.status, 403, 'no authorizer → denied');
  assert.equal((await mesh.call('frontend', 'backend', { path: '/open' })).status, 200, 'unmatched requests still pass');

  // The policy switches to the HTTP authorizer.
  mesh.writeConfig('10-ext-authz.yaml', policy('http-authz'));
  const httpDenied = await waitFor('the HTTP authorizer denying', async () => {
    const r = await mesh.call('frontend', 'backend', { path: '/secure/d' });
    return r.status === 403 && r.headers['x-authz-reason'] === 'http-authorizer says no' ? r : undefined;
  }, 20000, 300);
  assert.match(httpDenied.body, /denied by the HTTP authorizer/);
  const ok = await mesh.call('frontend', 'backend', { path: '/secure/e', headers: { 'x-ext-authz': 'allow', 'x-user': 'bob' } });
  assert.equal(ok.status, 200, ok.body);
  assert.equal((JSON.parse(ok.body) as EchoReply).authz?.['x-authz-user'], 'bob', 'headersToUpstreamOnAllow');
  const httpCheck = httpAuthz.checks.find((c) => c.path === '/secure/e');
  assert.ok(httpCheck, `the HTTP authorizer saw the check under its pathPrefix: ${JSON.stringify(httpAuthz.checks.map((c) => c.path))}`);
  assert.equal(httpCheck.headers['x-user'], 'bob', 'includeRequestHeadersInCheck');
  assert.equal(httpCheck.headers['x-meshd-checked-by'], 'meshd', 'includeAdditionalHeadersInCheck');

  // A malformed mesh config: named, and the last good one (with the HTTP provider) stays.
  writeFileSync(meshConfig, meshConfigYaml(grpcAuthz.port, httpAuthz.port, '299'));
  const problem = await waitFor('the mesh config diagnostic', async () => {
    const d = await (await fetch(`http://127.0.0.1:${mesh.meshd!.adminPort}/debug/diagnostics`)).text();
    return d.includes('statusOnError') ? d : undefined;
  }, 20000, 200);
  assert.match(problem, /extensionProviders\[0\]\.envoyExtAuthzGrpc\.statusOnError/);
  const still = await mesh.call('frontend', 'backend', { path: '/secure/f', headers: { 'x-ext-authz': 'allow', 'x-user': 'carol' } });
  assert.equal(still.status, 200, 'the last good mesh config stays in force');
});

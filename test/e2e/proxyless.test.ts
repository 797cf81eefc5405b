/**
 * A proxyless gRPC client (@grpc/grpc-js-xds, a real xDS client) resolves an `xds:///`
 * target through meshd and calls the service's endpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { MeshFixture } from '../helpers/mesh.js';

const run = promisify(execFile);

test('proxyless gRPC client resolves xds:/// through meshd and calls the service', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'echo', portName: 'grpc', noSidecar: true }]);
  t.after(() => mesh.close());
  const w = mesh.get('echo');
  const server = new grpc.Server();
  server.addService({
    Say: { path: '/meshd.test.Echo/Say', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b },
  } as grpc.ServiceDefinition, {
    Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`echo says ${call.request.toString()}`)),
  });
  await new Promise<void>((res, rej) => server.bindAsync(`${w.appAddress}:${w.port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  t.after(() => server.forceShutdown());
  // Proxyless clients present no credential here; they get plaintext config, never secrets.
  await mesh.startMeshd(['--allow-unauthenticated']);
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${mesh.meshd!.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'proxyless~test-client', locality: {}, metadata: { NAMESPACE: 'production', PROXYLESS: 'true' } },
  };
  const target = `echo.production.svc.cluster.local:${w.port}`;
  const { stdout } = await run(process.execPath, [join(import.meta.dirname, 'fixtures', 'proxyless-client.js'), target], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) }, timeout: 30000,
  }).catch((e: { stdout?: string; stderr?: string; message: string }) => { throw new Error(`client failed: ${e.stdout ?? ''} ${e.stderr ?? ''} ${e.message}`); });
  assert.match(stdout, /REPLY echo says hello/);
  const syncz = await mesh.meshd!.adminJson<{ proxies: { proxyId: string }[] }>('/debug/syncz');
  void syncz;
});

/**
 * Real Envoy: app A → A's sidecar → (mTLS) → B's sidecar → app B, over SotW and Delta ADS.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MeshFixture } from '../helpers/mesh.js';

for (const delta of [false, true]) {
  test(`frontend reaches backend through two sidecars (${delta ? 'Delta' : 'SotW'})`, async (t) => {
    const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }]);
    t.after(() => mesh.close());
    await mesh.startMeshd();
    await mesh.startWorkloads({ delta });
    const r = await mesh.waitForCall('frontend', 'backend', 200, { path: '/api/users' });
    const body = JSON.parse(r.body) as { app: string; path: string; xfcc?: string };
    assert.equal(body.app, 'backend');
    assert.equal(body.path, '/api/users');
    // The server side sees the caller's SPIFFE identity, from the mTLS handshake.
    assert.match(body.xfcc ?? '', /URI=spiffe:\/\/cluster\.local\/ns\/production\/sa\/frontend/);
    const stats = await mesh.get('backend').envoy!.stats('ssl.handshake');
    assert.ok([...stats.entries()].some(([k, v]) => k.includes('ssl.handshake') && v > 0), `TLS handshakes counted: ${[...stats.entries()].join(', ')}`);
  });
}
after(() => undefined);

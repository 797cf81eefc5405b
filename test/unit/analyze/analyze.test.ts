/** The policy analyzers over small meshes: each finding names the object, the field and the analyzer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, ANALYZERS } from '../../../src/analyze/index.js';
import type { PlaintextReport } from '../../../src/telemetry/index.js';
import { loadCase } from '../authz/fixtures.js';

const BASE = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec: { selector: { app: db }, ports: [{ name: tcp-pg, port: 5432 }] }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: web, namespace: shop }
spec: { address: 10.0.0.1, labels: { app: web }, serviceAccount: web, ports: { http: 8080 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: db, namespace: shop }
spec: { address: 10.0.0.2, labels: { app: db }, serviceAccount: db, ports: { tcp-pg: 5432 } }
`;

const run = (yaml: string, plaintext?: PlaintextReport): ReturnType<typeof analyze> => {
  const { snapshot, diagnostics } = loadCase(BASE + yaml);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), [], 'the case parses');
  return analyze({ snapshot, ...(plaintext ? { plaintext } : {}) });
};
const lines = (f: ReturnType<typeof analyze>): string[] => f.map((x) => `${x.analyzer} ${x.kind} ${x.namespace}/${x.name} ${x.field}`);

test('analyzers are an explicit ordered list with names and descriptions', () => {
  assert.deepEqual(ANALYZERS.map((a) => a.name), ['policy-selectors', 'deny-hits-tcp', 'strict-breaks-plaintext', 'shadowed-policies',
    'missing-subset', 'unknown-destination-host', 'conflicting-virtualservices', 'route-weights', 'destination-rule-host', 'subset-selects-nothing', 'sidecar-hides-called-service', 'traffic-config', 'learned-scope']);
  for (const a of ANALYZERS) assert.ok(a.description.length > 20, a.name);
});

test('a clean mesh has no findings', () => {
  assert.deepEqual(run(`
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: web-get, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, action: ALLOW, rules: [{ to: [{ operation: { methods: [GET] } }] }] }
`), []);
});

test('selectors that match nothing', () => {
  const f = run(`
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ghost, namespace: shop }
spec: { selector: { matchLabels: { app: ghost } }, action: ALLOW, rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ghost-pa, namespace: shop }
spec: { selector: { matchLabels: { app: nope } }, mtls: { mode: STRICT } }
`);
  assert.deepEqual(lines(f).sort(), ['policy-selectors AuthorizationPolicy shop/ghost spec.selector', 'policy-selectors PeerAuthentication shop/ghost-pa spec.selector']);
  for (const x of f) assert.match(x.message, /selects no workload/);
});

test('a DENY with HTTP-only fields and no ports hits the TCP workload it selects', () => {
  const f = run(`
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-delete, namespace: shop }
spec: { action: DENY, rules: [{ to: [{ operation: { methods: [DELETE] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-delete-http, namespace: shop }
spec: { action: DENY, rules: [{ to: [{ operation: { methods: [DELETE], ports: ["8080"] } }] }] }
`);
  assert.deepEqual(lines(f), ['deny-hits-tcp AuthorizationPolicy shop/no-delete spec.rules[0]']);
  assert.match(f[0]!.message, /methods.*shop\/db:5432/);
});

test('STRICT in front of clients seen sending plaintext names the PeerAuthentication and the clients', () => {
  const report: PlaintextReport = {
    windowSeconds: 600, observedSeconds: 600, complete: true,
    namespaces: [{ namespace: 'shop', readyForStrict: false, workloads: [
      { workload: 'web', mode: 'STRICT', readyForStrict: false, clients: [{ source: '10.9.9.9', sourceAddress: '10.9.9.9', namespace: '', requests: 3, connections: 1, inWindow: 4, ports: [8080], lastSeen: '' }] },
      { workload: 'db', mode: 'STRICT', readyForStrict: true, clients: [] },
    ] }],
  };
  const yaml = `
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
`;
  const f = run(yaml, report);
  assert.deepEqual(lines(f), ['strict-breaks-plaintext PeerAuthentication shop/default spec.mtls.mode']);
  assert.match(f[0]!.message, /shop\/web port 8080 refuses 1 client seen sending plaintext: 10\.9\.9\.9/);
  assert.deepEqual(run(yaml), [], 'offline (no telemetry): nothing to say');
});

test('shadowed policies: ALLOW under a DENY-all, narrower ALLOW beside an allow-all, repeated rules', () => {
  const f = run(`
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-all, namespace: shop }
spec: { selector: { matchLabels: { app: db } }, action: DENY, rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db-allow, namespace: shop }
spec: { selector: { matchLabels: { app: db } }, action: ALLOW, rules: [{ from: [{ source: { principals: [cluster.local/ns/shop/sa/web] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: a-allow-all, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, action: ALLOW, rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: b-web-get, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, action: ALLOW, rules: [{ to: [{ operation: { methods: [GET] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: c-web-get-again, namespace: shop }
spec: { selector: { matchLabels: { app: web } }, action: ALLOW, rules: [{ to: [{ operation: { methods: [GET] } }] }] }
`);
  assert.deepEqual(lines(f).sort(), [
    'shadowed-policies AuthorizationPolicy shop/b-web-get spec.rules',
    'shadowed-policies AuthorizationPolicy shop/c-web-get-again spec.rules',
    'shadowed-policies AuthorizationPolicy shop/c-web-get-again spec.rules[0]',
    'shadowed-policies AuthorizationPolicy shop/db-allow spec',
  ]);
  assert.match(f.find((x) => x.name === 'db-allow')!.message, /DENY policy shop\/deny-all matches every request/);
});

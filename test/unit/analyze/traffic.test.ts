/**
 * The traffic analyzers as a table: each case adds objects to a small mesh and lists the
 * findings (analyzer, kind, namespace/name, field) it must produce, and no others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { analyze } from '../../../src/analyze/index.js';
import { TRAFFIC_ANALYZERS } from '../../../src/analyze/traffic.js';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { buildSnapshot, deepFreeze } from '../../../src/config/snapshot.js';
import { DEFAULT_MESH_CONFIG, type Diagnostic, type MeshSnapshot } from '../../../src/model/types.js';
import type { EdgeRow } from '../../../src/telemetry/index.js';

const BASE = `
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: data }
spec: { selector: { app: ratings }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 8080 }] }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v1, namespace: shop }
spec: { address: 10.0.0.1, labels: { app: reviews, version: v1 }, serviceAccount: reviews, ports: { http: 9080 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v2, namespace: shop }
spec: { address: 10.0.0.2, labels: { app: reviews, version: v2 }, serviceAccount: reviews, ports: { http: 9080 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ratings, namespace: data }
spec: { address: 10.0.0.3, labels: { app: ratings }, serviceAccount: ratings, ports: { http: 9080 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: web, namespace: shop }
spec: { address: 10.0.0.4, labels: { app: web }, serviceAccount: web, ports: { http: 8080 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec: { host: reviews, subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }] }
`;

/** Parses YAML with the real parsers; returns the frozen snapshot and the parse diagnostics. */
function load(yaml: string): { snapshot: MeshSnapshot; diagnostics: Diagnostic[] } {
  const objects: MeshObject[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const doc of YAML.parseAllDocuments(yaml)) {
    const raw: unknown = doc.toJS();
    if (!raw) continue;
    const r = parseObject(raw, { source: 'case.yaml', defaultNamespace: 'default' });
    diagnostics.push(...r.diagnostics);
    if (r.status === 'ok') objects.push(r.object);
  }
  return { snapshot: deepFreeze(buildSnapshot(objects, DEFAULT_MESH_CONFIG, 1)), diagnostics };
}

const traffic = new Set(TRAFFIC_ANALYZERS.map((a) => a.name));
const lines = (yaml: string, edges?: EdgeRow[]): string[] => {
  const { snapshot, diagnostics } = load(BASE + yaml);
  return analyze({ snapshot, diagnostics, ...(edges ? { edges } : {}) }, TRAFFIC_ANALYZERS)
    .filter((f) => traffic.has(f.analyzer)).map((f) => `${f.analyzer} ${f.kind} ${f.namespace}/${f.name} ${f.field}`);
};

const vs = (name: string, spec: string, ns = 'shop', meta = ''): string => `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${ns}${meta} }
spec: ${spec}`;

const edge = (src: string, dst: string): EdgeRow => {
  const [sn, s] = src.split('/') as [string, string];
  const [dn, d] = dst.split('/') as [string, string];
  return { src: s, dst: d, srcNamespace: sn, dstNamespace: dn, clientId: '', serverId: '', secured: true, denied: 0, requests: 7, lastSeen: '2026-01-01T00:00:00.000Z' };
};

test('the base mesh has no traffic findings', () => {
  assert.deepEqual(lines(''), []);
  assert.deepEqual(lines(vs('reviews', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 }, weight: 90 }, { destination: { host: reviews, subset: v2 }, weight: 10 }] }] }')), []);
});

const TABLE: { name: string; yaml: string; edges?: EdgeRow[]; want: string[] }[] = [
  {
    name: 'a subset no DestinationRule defines (503 NR)',
    yaml: vs('reviews', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 }, weight: 50 }, { destination: { host: reviews, subset: v3 }, weight: 50 }] }] }'),
    want: ['missing-subset VirtualService shop/reviews spec.http[0].route[1].destination.subset'],
  },
  {
    name: 'a subset of a host without any DestinationRule, in a mirror',
    yaml: vs('web', '{ hosts: [web], http: [{ route: [{ destination: { host: web } }], mirror: { host: ratings.data.svc.cluster.local, subset: canary } }] }'),
    want: ['missing-subset VirtualService shop/web spec.http[0].mirror.subset'],
  },
  {
    name: 'a destination host that resolves to nothing (short name in the wrong namespace)',
    yaml: vs('web', '{ hosts: [web], http: [{ route: [{ destination: { host: ratings } }] }], tcp: [{ route: [{ destination: { host: db.example.com } }] }] }'),
    want: ['unknown-destination-host VirtualService shop/web spec.http[0].route[0].destination.host', 'unknown-destination-host VirtualService shop/web spec.tcp[0].route[0].destination.host'],
  },
  {
    name: 'a ServiceEntry host (wildcard) resolves',
    yaml: vs('ext', '{ hosts: [api.example.com], http: [{ route: [{ destination: { host: api.example.com } }] }] }') + `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: shop }
spec: { hosts: ['*.example.com'], ports: [{ number: 443, name: https, protocol: HTTPS }], resolution: NONE, location: MESH_EXTERNAL }`,
    want: [],
  },
  {
    name: 'two VirtualServices for one host: the younger one loses',
    yaml: vs('reviews-new', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }', 'shop', ', creationTimestamp: "2026-02-01T00:00:00Z"')
      + vs('reviews-old', '{ hosts: [reviews.shop.svc.cluster.local], http: [{ route: [{ destination: { host: reviews } }] }] }', 'shop', ', creationTimestamp: "2026-01-01T00:00:00Z"'),
    want: ['conflicting-virtualservices VirtualService shop/reviews-new spec.hosts'],
  },
  {
    name: 'two VirtualServices for one host, no timestamps: namespace/name order decides',
    yaml: vs('b', '{ hosts: [reviews.shop.svc.cluster.local], http: [{ route: [{ destination: { host: reviews.shop.svc.cluster.local } }] }] }', 'data')
      + vs('a', '{ hosts: [reviews.shop.svc.cluster.local], http: [{ route: [{ destination: { host: reviews.shop.svc.cluster.local } }] }] }', 'web'),
    want: ['conflicting-virtualservices VirtualService web/a spec.hosts'],
  },
  {
    name: 'one VirtualService without creationTimestamp (a hand-written file) loses to a dated one, as translation orders them',
    yaml: vs('a-undated', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }')
      + vs('z-dated', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }', 'shop', ', creationTimestamp: "2026-01-01T00:00:00Z"'),
    want: ['conflicting-virtualservices VirtualService shop/a-undated spec.hosts'],
  },
  {
    name: 'two VirtualServices exported to disjoint namespaces do not conflict',
    yaml: vs('a', '{ hosts: [reviews.shop.svc.cluster.local], exportTo: [.], http: [{ route: [{ destination: { host: reviews.shop.svc.cluster.local } }] }] }', 'data')
      + vs('b', '{ hosts: [reviews.shop.svc.cluster.local], exportTo: [.], http: [{ route: [{ destination: { host: reviews.shop.svc.cluster.local } }] }] }', 'web'),
    want: [],
  },
  {
    name: 'weights that do not sum to 100: the parser rejects the VirtualService; analyze says why',
    yaml: vs('reviews', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 }, weight: 90 }, { destination: { host: reviews, subset: v2 }, weight: 20 }] }] }'),
    want: ['traffic-config VirtualService shop/reviews spec.http[0].route'],
  },
  {
    name: 'a DestinationRule whose host matches nothing',
    yaml: `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ghost, namespace: shop }
spec: { host: ratings, trafficPolicy: { loadBalancer: { simple: RANDOM } } }`,
    want: ['destination-rule-host DestinationRule shop/ghost spec.host'],
  },
  {
    name: 'a subset whose labels select no workload',
    yaml: `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings, namespace: data }
spec: { host: ratings, subsets: [{ name: v1, labels: { app: ratings } }, { name: v9, labels: { version: v9 } }] }`,
    want: ['subset-selects-nothing DestinationRule data/ratings spec.subsets[1].labels'],
  },
  {
    name: 'a Sidecar that hides a service its workload was seen calling',
    yaml: `
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec: { egress: [{ hosts: ['./*'] }] }`,
    edges: [edge('shop/web', 'data/ratings'), edge('shop/web', 'shop/reviews-v1'), edge('data/ratings', 'shop/web')],
    want: ['sidecar-hides-called-service Sidecar shop/default spec.egress'],
  },
  {
    name: 'a Sidecar with a workload selector takes precedence over the namespace one',
    yaml: `
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec: { egress: [{ hosts: ['./*'] }] }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: web, namespace: shop }
spec: { workloadSelector: { labels: { app: web } }, egress: [{ hosts: ['./*', 'data/*'] }] }`,
    edges: [edge('shop/web', 'data/ratings'), edge('shop/reviews-v2', 'data/ratings')],
    want: ['sidecar-hides-called-service Sidecar shop/default spec.egress'],
  },
  {
    name: 'gateways other than mesh are named (spec.gateways and a match bound to a gateway only)',
    yaml: vs('web', '{ hosts: [web], gateways: [mesh, istio-system/edge], http: [{ match: [{ uri: { prefix: /a }, gateways: [istio-system/edge] }], route: [{ destination: { host: web } }] }, { route: [{ destination: { host: web } }] }] }'),
    want: ['traffic-config VirtualService shop/web spec.gateways[1]', 'traffic-config VirtualService shop/web spec.http[0].match[0].gateways'],
  },
  {
    name: 'a VirtualService bound only to gateways is named, not silently dropped',
    yaml: vs('edge', '{ hosts: [web], gateways: [istio-system/edge], http: [{ route: [{ destination: { host: web } }] }] }'),
    want: ['traffic-config VirtualService shop/edge spec.gateways'],
  },
];

for (const c of TABLE) {
  test(`traffic analyzers: ${c.name}`, () => {
    assert.deepEqual(lines(c.yaml, c.edges), c.want);
  });
}

test('weights not summing to 100 in the model (a route set built by other means) are named', () => {
  const { snapshot } = load(BASE + vs('reviews', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 }, weight: 90 }, { destination: { host: reviews, subset: v2 }, weight: 10 }] }] }'));
  const set = snapshot.routeSets[0]!;
  const rule = set.http[0]!;
  assert.equal(rule.action.kind, 'route');
  const bad = { ...snapshot, routeSets: [{ ...set, http: [{ ...rule, action: { kind: 'route' as const, destinations: rule.action.kind === 'route' ? rule.action.destinations.map((d, i) => ({ ...d, weight: i === 0 ? 80 : 10 })) : [] } }] }] };
  const f = analyze({ snapshot: bad }, TRAFFIC_ANALYZERS).filter((x) => x.analyzer === 'route-weights');
  assert.deepEqual(f.map((x) => `${x.kind} ${x.namespace}/${x.name} ${x.field}`), ['VirtualService shop/reviews spec.http[0].route']);
  assert.match(f[0]!.message, /weights sum to 90, not 100 \(reviews\.shop\.svc\.cluster\.local\/v1=80, reviews\.shop\.svc\.cluster\.local\/v2=10\)/);
});

test('messages say what happens and name the other object', () => {
  const { snapshot, diagnostics } = load(BASE + vs('reviews', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v3 } }] }] }', 'shop', ', creationTimestamp: "2026-01-01T00:00:00Z"')
    + vs('reviews-2', '{ hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }', 'shop', ', creationTimestamp: "2026-02-01T00:00:00Z"'));
  const f = analyze({ snapshot, diagnostics }, TRAFFIC_ANALYZERS);
  const by = (a: string): string => f.find((x) => x.analyzer === a)?.message ?? '';
  assert.match(by('missing-subset'), /subset "v3" of reviews\.shop\.svc\.cluster\.local is defined by no DestinationRule \(DestinationRule for it: shop\/reviews \(subsets: v1, v2\)\): requests routed here get 503/);
  assert.match(by('conflicting-virtualservices'), /also routed by VirtualService shop\/reviews, which wins \(it is older: created 2026-01-01T00:00:00Z, this one 2026-02-01T00:00:00Z\)/);
  const sc = load(BASE + `
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec: { egress: [{ hosts: ['./*'] }], outboundTrafficPolicy: { mode: REGISTRY_ONLY } }`);
  const hide = analyze({ snapshot: sc.snapshot, edges: [edge('shop/web', 'data/ratings')] }, TRAFFIC_ANALYZERS);
  assert.match(hide[0]!.message, /hides ratings\.data\.svc\.cluster\.local from shop\/web, which telemetry saw calling data\/ratings \(7 requests.*REGISTRY_ONLY those calls now fail.*add "data\/ratings\.data\.svc\.cluster\.local" to egress\.hosts/);
});

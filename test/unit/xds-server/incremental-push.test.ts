/**
 * An endpoint change through meshd's real translation and the incremental memo: SotW and
 * Delta clients get one EDS response holding only the changed ClusterLoadAssignment (no CDS,
 * LDS or RDS), a client not subscribed to it gets nothing, and the server encodes one
 * resource for the whole push.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSnapshot } from '../../../src/config/snapshot.js';
import { parseObject, type MeshObject } from '../../../src/config/parse.js';
import { DEFAULT_MESH_CONFIG, type MeshSnapshot } from '../../../src/model/types.js';
import { TranslationMemo, byTypeUrl } from '../../../src/xds/incremental/translation-memo.js';
import { AdsClient, T, sleep, startServer, type Decoded } from './helpers.js';

function obj(raw: unknown): MeshObject {
  const r = parseObject(raw, { source: 'test', defaultNamespace: 'default' });
  if (r.status !== 'ok') throw new Error(JSON.stringify(r.diagnostics));
  return r.object;
}
const service = (name: string): MeshObject => obj({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
const entry = (name: string, app: string, address: string): MeshObject => obj({
  apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name, namespace: 'shop' },
  spec: { address, labels: { app }, serviceAccount: app, ports: { http: 8080 } },
});

const APPS = ['a', 'b', 'c'];
const objects = new Map<string, MeshObject>();
for (const a of APPS) {
  objects.set(`s/${a}`, service(a));
  objects.set(`w/${a}`, entry(`${a}-0`, a, `10.7.0.${APPS.indexOf(a) + 1}`));
}
let gen = 0;
const build = (): MeshSnapshot => buildSnapshot([...objects.values()], DEFAULT_MESH_CONFIG, ++gen);

const node = (app: string): Record<string, unknown> => ({ id: `sidecar~10.7.0.${APPS.indexOf(app) + 1}~${app}-0.shop~shop.svc.cluster.local`, metadata: {} });
const CLA_C = 'outbound|80||c.shop.svc.cluster.local';

/** Subscribes like Envoy (SotW or Delta): CDS, then EDS for every cluster, LDS, then RDS; ACKs each. */
async function converge(c: AdsClient, delta: boolean, app: string, edsNames?: (names: string[]) => string[]): Promise<void> {
  const ack = (d: Decoded, names?: string[]): void =>
    delta ? c.send({ type_url: d.typeUrl, response_nonce: d.nonce }) : c.ack(d, names);
  c.send({ node: node(app), type_url: T.Cluster });
  const cds = await c.next();
  ack(cds);
  const eds = (edsNames ?? ((n) => n))(cds.resources.flatMap((r) => (r['type'] === 'EDS' ? [String(r['name'])] : [])));
  c.send(delta ? { type_url: T.Endpoint, resource_names_subscribe: eds } : { type_url: T.Endpoint, resource_names: eds });
  ack(await c.next(), eds);
  c.send({ type_url: T.Listener });
  const lds = await c.next();
  ack(lds);
  const routes = ['80'];
  c.send(delta ? { type_url: T.Route, resource_names_subscribe: routes } : { type_url: T.Route, resource_names: routes });
  ack(await c.next(), routes);
  assert.equal(await c.none(200), undefined, 'converged: nothing more is sent');
}

test('an endpoint change sends only the changed ClusterLoadAssignment, in SotW and Delta, and encodes one resource', async () => {
  let snapshot = build();
  const memo = new TranslationMemo();
  const { server, address } = await startServer({
    generate: (p) => byTypeUrl(memo.translate(p, snapshot, p.info)),
  });
  const sotw = new AdsClient(address);
  const delta = new AdsClient(address, true);
  const notC = new AdsClient(address);
  try {
    await converge(sotw, false, 'a');
    await converge(delta, true, 'b');
    await converge(notC, false, 'c', (n) => n.filter((x) => x !== CLA_C));

    // c's only workload moves (a pod replaced): notC runs as it.
    const encodes = server.cache.encodeCount;
    const translated = memo.stats.translated;
    objects.set('w/c', entry('c-0', 'c', '10.7.9.9'));
    snapshot = build();
    const push = server.push();
    for (const [c, isDelta] of [[sotw, false], [delta, true]] as const) {
      const r = await c.next();
      assert.equal(r.typeUrl, T.Endpoint, 'only EDS is sent');
      assert.deepEqual(r.names, [CLA_C], 'only the changed ClusterLoadAssignment');
      assert.match(JSON.stringify(r.resources[0]), /10\.7\.9\.9/);
      if (isDelta) c.send({ type_url: r.typeUrl, response_nonce: r.nonce });
      else c.ack(r, [CLA_C, 'outbound|80||a.shop.svc.cluster.local', 'outbound|80||b.shop.svc.cluster.local']);
    }
    const outcome = await push;
    assert.equal(outcome.converged, true);
    // notC runs as c-0: its own inbound config changed (its address), so it gets its listeners; never the EDS it does not subscribe.
    for (let r = await notC.none(300); r; r = await notC.none(300)) {
      assert.notEqual(r.typeUrl, T.Endpoint, 'an unsubscribed ClusterLoadAssignment is not sent');
      notC.ack(r, r.typeUrl === T.Route ? ['80'] : []);
    }
    assert.equal(await sotw.none(200), undefined);
    assert.equal(await delta.none(200), undefined);
    // One new ClusterLoadAssignment, plus c-0's own changed inbound resources; nothing else is encoded again.
    const newEncodes = server.cache.encodeCount - encodes;
    assert.ok(newEncodes >= 1 && newEncodes <= 4, `encoded ${newEncodes} resources for the push (one CLA and c-0's own resources)`);
    assert.equal(memo.stats.translated - translated, 2, 'translated again: c-0 (its workload changed) and the first proxy, which builds the shared chunks');
  } finally {
    sotw.close();
    delta.close();
    notC.close();
    await server.close();
  }
});

test('a change every proxy depends on (a new service) is translated for each and sends CDS in full in SotW', async () => {
  let snapshot = build();
  const memo = new TranslationMemo();
  const { server, address } = await startServer({ generate: (p) => byTypeUrl(memo.translate(p, snapshot, p.info)) });
  const c = new AdsClient(address);
  try {
    await converge(c, false, 'a');
    objects.set('s/d', service('d'));
    snapshot = build();
    void server.push();
    const cds = await c.next();
    assert.equal(cds.typeUrl, T.Cluster);
    assert.ok(cds.names.length >= 4, 'SotW CDS carries every cluster');
    await sleep(10);
  } finally {
    objects.delete('s/d');
    c.close();
    await server.close();
  }
});

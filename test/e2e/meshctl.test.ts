/**
 * meshctl's operator commands against a running meshd with real Envoys: proxy-status,
 * proxy-config (every kind; secret compared with Envoy's own /certs), describe, identity,
 * check, analyze, version; table, JSON and YAML; and the bad input: an unknown proxy or
 * workload, meshd unreachable, a flag of the wrong type, each one clear line and a non-zero
 * exit, never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import YAML from 'yaml';
import { MeshFixture } from '../helpers/mesh.js';
import { REPO_ROOT } from '../helpers/meshd.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { envoyCerts } from './identity-support.js';
import { assertCleanLog } from '../helpers/log-hygiene.js';

interface Run { status: number | null; stdout: string; stderr: string }

test('meshctl operator commands on a live mesh', async (t) => {
  const mesh = await MeshFixture.create([{ name: 'frontend' }, { name: 'backend' }, { name: 'db', portName: 'tcp-pg' }]);
  t.after(() => mesh.close());
  mesh.writeConfig('30-security.yaml', [
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'production' }, spec: { mtls: { mode: 'STRICT' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'backend-access', namespace: 'production' }, spec: { selector: { matchLabels: { app: 'backend' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/production/sa/frontend'] } }] }] } },
    // A DENY with an HTTP-only field and no ports: on db's TCP port it denies every connection.
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'no-delete', namespace: 'production' }, spec: { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] } },
  ]);
  const m = await mesh.startMeshd();
  await mesh.startWorkloads();
  await mesh.waitForCall('frontend', 'backend');
  const env = { MESHD_ADDR: `http://127.0.0.1:${m.adminPort}`, MESHD_STATE_DIR: mesh.stateDir };
  const run = (...args: string[]): Run => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const ok = (...args: string[]): string => { const r = run(...args); assert.equal(r.status, 0, `meshctl ${args.join(' ')}: ${r.stderr}`); return r.stdout; };

  // proxy-status: table, one proxy, JSON and YAML.
  await waitFor('every type SYNCED', () => /^backend\.production\s+SotW(\s+SYNCED){5}/m.test(run('proxy-status').stdout), 20_000, 300);
  const ps = ok('proxy-status');
  assert.match(ps, /^NAME\s+XDS\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION$/m);
  assert.match(ps, /^frontend\.production\s+SotW(\s+SYNCED){5}\s+\S+$/m);
  assert.match(ok('proxy-status', 'production/backend'), /^LDS\s+SYNCED\s+(\S+)\s+\1\s/m);
  const psJson = JSON.parse(ok('proxy-status', '-o', 'json')) as { proxyId: string; types: Record<string, { state: string }> }[];
  assert.equal(psJson.filter((p) => p.proxyId.includes('.production~')).length, 3);
  assert.ok((YAML.parse(ok('proxy-status', '-o=yaml')) as unknown[]).length === 3);

  // proxy-config: the summary tables, and the whole resources.
  const listeners = ok('proxy-config', 'listeners', 'backend.production');
  const be = mesh.get('backend');
  assert.match(listeners, new RegExp(`^${be.address.replace(/\./g, '\\.')}_${be.port}\\s+${be.address.replace(/\./g, '\\.')}\\s+${be.port}\\s+inbound\\|${be.port}\\|mtls\\s+tls; ALPN meshd-mtls\\s+Inline Route: inbound\\|${be.port}\\|\\|$`, 'm'));
  assert.match(ok('proxy-config', 'clusters', 'frontend.production'), new RegExp(`^backend\\.production\\.svc\\.cluster\\.local\\s+${be.port}\\s+-\\s+outbound\\s+EDS$`, 'm'));
  assert.match(ok('proxy-config', 'routes', 'frontend.production'), new RegExp(`^${be.port}\\s+backend\\.production\\.svc\\.cluster\\.local:${be.port}\\s+.*outbound\\|${be.port}\\|\\|backend`, 'm'));
  assert.match(ok('proxy-config', 'endpoints', 'frontend.production'), new RegExp(`^${be.address.replace(/\./g, '\\.')}:${be.port}\\s+HEALTHY\\s+istio\\s+outbound\\|${be.port}\\|\\|backend`, 'm'));
  const clustersJson = JSON.parse(ok('proxy-config', 'clusters', 'frontend.production', '-o', 'json')) as { name: string }[];
  assert.ok(clustersJson.some((c) => c.name === `outbound|${be.port}||backend.production.svc.cluster.local`));
  assert.match(ok('proxy-config', 'all', 'backend.production'), /LISTENERS[\s\S]*CLUSTERS[\s\S]*ROUTES[\s\S]*ENDPOINTS[\s\S]*SECRETS/);

  // secret: meshd's certificate, the one Envoy uses (its /certs), never a key.
  const envoyLeaf = (await envoyCerts(be.envoy!)).flatMap((c) => c.chain.slice(0, 1)).find((c) => c.uris.includes('spiffe://cluster.local/ns/production/sa/backend'))!;
  const secret = ok('proxy-config', 'secret', 'backend.production', '--proxy-admin', `http://127.0.0.1:${be.envoy!.adminPort}`);
  assert.match(secret, /^RESOURCE NAME\s+TYPE\s+SERIAL\s+SPIFFE ID\s+NOT BEFORE\s+NOT AFTER\s+ISSUER\s+IN ENVOY$/m);
  assert.match(secret, new RegExp(`^default\\s+Cert Chain\\s+${envoyLeaf.serial}\\s+spiffe://cluster\\.local/ns/production/sa/backend\\s+\\S+Z\\s+\\S+Z\\s+O=cluster\\.local, CN=meshd root-1\\s+yes$`, 'm'));
  assert.match(secret, /^ROOTCA\s+CA\s+[0-9a-f]+\s+-\s+\S+Z\s+\S+Z\s+O=cluster\.local, CN=meshd root-1\s+yes$/m);
  const noAdmin = ok('proxy-config', 'secret', 'backend.production');
  assert.match(noAdmin, /Cert Chain.*unknown$/m);
  assert.match(noAdmin, /note: IN ENVOY unknown: no Envoy admin address/);
  const secretJson = ok('proxy-config', 'secret', 'backend.production', '-o', 'json', '--proxy-admin', `127.0.0.1:${be.envoy!.adminPort}`);
  assert.equal((JSON.parse(secretJson) as { envoy: { holdsMeshdLeaf: boolean } }).envoy.holdsMeshdLeaf, true);
  assert.doesNotMatch(secretJson, /PRIVATE KEY|BEGIN EC/);
  assert.match(secretJson, /\[redacted\]/);

  // describe (both spellings) and identity.
  const d = ok('describe', 'pod', 'backend', '-n', 'production');
  assert.equal(ok('describe', 'production/backend'), d);
  assert.match(d, /^Identity:\s+spiffe:\/\/cluster\.local\/ns\/production\/sa\/backend/m);
  assert.match(d, new RegExp(`^  backend\\.production\\.svc\\.cluster\\.local  ${be.port}/HTTP$`, 'm'));
  assert.match(d, new RegExp(`^  port ${be.port}: STRICT \\(plaintext refused\\), set by PeerAuthentication production/default \\(namespace\\)$`, 'm'));
  assert.match(d, /^ {2}production\/backend-access {2}ALLOW {2}1 rule$/m);
  assert.match(d, /^ {2}production\/no-delete {2}DENY {2}1 rule$/m);
  assert.match(d, /sync: (\w+ SYNCED(, )?){5}/);
  assert.match(d, /, Envoy 1\.40\.0$/m);
  assert.match(d, new RegExp(`\\[0\\] leaf serial ${envoyLeaf.serial}  spiffe://cluster\\.local/ns/production/sa/backend`));
  assert.match(d, /\[1\] CA {3}serial [0-9a-f]+ {2}O=cluster\.local, CN=meshd root-1/);
  const dj = JSON.parse(ok('describe', 'production/backend', '-o', 'json')) as { mtls: { ports: { port: number; mode: string; setBy: { policy: string } }[] } };
  assert.deepEqual(dj.mtls.ports, [{ port: be.port, mode: 'STRICT', setBy: { policy: 'production/default', level: 'namespace' } }]);
  const id = ok('identity', 'production/backend', '--proxy-admin', `http://127.0.0.1:${be.envoy!.adminPort}`);
  assert.match(id, new RegExp(`\\[0\\] leaf serial ${envoyLeaf.serial}`));
  assert.match(id, /Envoy uses this leaf: yes/);
  assert.match(id, /^-----BEGIN CERTIFICATE-----$/m);
  assert.doesNotMatch(id, /PRIVATE KEY/);

  // check: all √, exit 0.
  const check = ok('check');
  assert.match(check, /^√ meshd is reachable/m);
  assert.match(check, /^√ root root-1 .* is valid for at least 60 days/m);
  assert.match(check, /^√ no proxy rejects its configuration/m);
  assert.match(check, /Status check results are √/);
  // A root that will not last 60 days fails the check (asked for 20 years).
  const long = run('check', '--min-ca-validity', '7300d');
  assert.equal(long.status, 1);
  assert.match(long.stdout, /^× root root-1 /m);
  assert.match(long.stdout, /see: rotate it: meshctl ca rotate-root/);

  // analyze: the DENY that hits db's TCP port.
  const an = run('analyze');
  assert.equal(an.status, 0, an.stderr);
  assert.match(an.stdout, new RegExp(`^Warning \\[deny-hits-tcp\\] \\(AuthorizationPolicy production/no-delete spec\\.rules\\[0\\]\\) uses HTTP-only methods without ports: on TCP ports \\(production/db:${mesh.get('db').port}\\)`, 'm'));
  const offline = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'analyze', '--config-dir', mesh.configDir, '-o', 'json'], { encoding: 'utf8' });
  assert.equal(offline.status, 0, offline.stderr);
  assert.deepEqual((JSON.parse(offline.stdout) as { analyzer: string }[]).map((f) => f.analyzer), ['deny-hits-tcp']);

  // version.
  assert.match(ok('version'), /^meshctl: \d+\.\d+\.\d+ \(node v\d+/m);
  assert.match(ok('version'), /^meshd: {3}\d+\.\d+\.\d+ \(node v\d+/m);

  // A NACK shows in proxy-status and fails check.
  const fe = mesh.get('frontend');
  const port = await freePort();
  const blocker = createServer(() => undefined);
  await new Promise<void>((res) => blocker.listen(port, fe.outboundAddress, res));
  t.after(() => blocker.close());
  mesh.writeConfig('40-blocked.yaml', [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'blocked', namespace: 'production' }, spec: { selector: { app: 'backend' }, ports: [{ name: 'http-blocked', port }] } }]);
  const nacked = await waitFor('frontend LDS NACKED', () => { const r = run('proxy-status'); return /^frontend\.production\s+SotW\s+\S+\s+NACKED/m.test(r.stdout) ? r.stdout : undefined; }, 20_000, 300);
  assert.match(nacked, /^NACK frontend\.production LDS version \S+: .*(bind|address already in use)/im);
  const bad = run('check');
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /^× no proxy rejects its configuration \(NACK\)/m);
  assert.match(bad.stdout, /see: frontend\.production LDS: /);
  mesh.removeConfig('40-blocked.yaml');

  // Bad input: one clear line, non-zero, never a stack trace.
  const bads: [string[], RegExp, number][] = [
    [['proxy-status', 'nosuch.production'], /no proxy "nosuch\.production" is connected/, 1],
    [['proxy-config', 'secret', 'nosuch'], /no proxy "nosuch" is connected/, 1],
    [['proxy-config', 'bogus', 'backend.production'], /first argument must be one of listeners, clusters, routes, endpoints, secret, all/, 2],
    [['describe', 'production/nosuch'], /knows no workload production\/nosuch/, 1],
    [['identity', 'production/nosuch'], /knows no workload production\/nosuch/, 1],
    [['proxy-status', '--meshd', `http://127.0.0.1:${await freePort()}`], /cannot reach meshd at .*ECONNREFUSED.*--meshd URL/, 1],
    [['check', '--meshd', `http://127.0.0.1:${await freePort()}`], /cannot reach meshd/, 1],
    [['check', '--min-ca-validity', 'soon'], /--min-ca-validity: not a duration: "soon"/, 2],
    [['proxy-status', '-o', 'xml'], /-o must be table, json, yaml, got "xml"/, 2],
    [['describe', '--bogus'], /unknown flag --bogus/, 2],
  ];
  for (const [args, msg, code] of bads) {
    const r = run(...args);
    const out = (r.stderr + r.stdout).trim();
    assert.equal(r.status, code, `meshctl ${args.join(' ')}: exit ${r.status}: ${out}`);
    assert.equal(out.split('\n').length, 1, `meshctl ${args.join(' ')}: one line: ${out}`);
    assert.match(out, msg);
    assert.doesNotMatch(out, /\n\s+at |Error:/);
  }
  assertCleanLog(m.log());
});

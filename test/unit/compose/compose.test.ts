/**
 * docker-compose.yml and deploy/compose/ are what the generator makes from the demo
 * topology; a real compose parser accepts them; their services, ports, config folder and
 * bootstraps are the ones the process mesh (`npm run demo`) runs, up to addresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { COMPOSE_ENVOY_ADMIN_PORT, ENVOY_IMAGE, MESHD_PORTS, composeBootstrap, composeFiles } from '../../../src/demo/compose.js';
import { DEMO_WORKLOADS, REPO_ROOT, callTarget, composePlan, demoBootstrap, loopbackPlan, meshConfigFiles } from '../../../src/demo/topology.js';
import { MESHD_FLAGS } from '../../../src/meshd/options.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'check-compose.sh');

function checkCompose(args: string[] = [], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 300000, env: { ...process.env, ...env } });
}

interface ComposeService { image?: string; command?: string[]; entrypoint?: string[]; ports?: ({ published: number; target: number; host_ip?: string } | string)[]; network_mode?: string; volumes?: ({ source: string; target: string } | string)[]; networks?: Record<string, { ipv4_address?: string } | null> }

/** A bootstrap with the plan-specific parts (the workload's address, meshd's host) blanked. */
function bootstrapShape(b: Record<string, unknown>): unknown {
  const c = structuredClone(b) as { node: { id: string }; static_resources: { clusters: { name: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] } }[] } };
  c.node.id = c.node.id.replace(/~[^~]+~/, '~<address>~');
  const xds = c.static_resources.clusters.find((x) => x.name === 'xds-grpc')!;
  xds.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.address = '<meshd>';
  // The Prometheus port listens on the workload's address.
  for (const l of (c as { static_resources: { listeners?: { address: { socket_address: { address: string } } }[] } }).static_resources.listeners ?? []) l.address.socket_address.address = '<address>';
  return c;
}

/** Config folder text with the addresses of WorkloadEntries (and the generator's comment) blanked. */
function configShape(text: string): unknown {
  return YAML.parseAllDocuments(text).map((d) => {
    const o = d.toJS() as { kind?: string; spec?: { address?: string }; metadata?: { annotations?: Record<string, string> } } | null;
    if (o?.kind !== 'WorkloadEntry') return o;
    return { ...o, spec: { ...o.spec, address: '<address>' }, metadata: { ...o.metadata, annotations: Object.fromEntries(Object.keys(o.metadata?.annotations ?? {}).map((k) => [k, '<address>'])) } };
  });
}

test('the committed compose files are exactly what the generator makes (npm run demo -- --write-compose)', () => {
  for (const [rel, text] of Object.entries(composeFiles())) {
    assert.equal(readFileSync(join(REPO_ROOT, rel), 'utf8'), text, `${rel} is stale: run npm run demo -- --write-compose`);
  }
});

test('a real compose parser accepts docker-compose.yml, and rejects a broken one', (t) => {
  const ok = checkCompose();
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /docker-compose\.yml is valid/);
  const dir = mkdtempSync(join(tmpdir(), 'compose-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'docker-compose.yml');
  writeFileSync(bad, composeFiles()['docker-compose.yml']!.replace('network_mode: service:backend', 'network_mode: service:no-such-service'));
  const r = checkCompose([], { COMPOSE_CHECK_FILE: bad });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /no-such-service/);
});

test('compose services, ports and bootstraps match the process mesh', () => {
  const r = checkCompose(['--print']);
  assert.equal(r.status, 0, r.stderr);
  const cfg = YAML.parse(r.stdout) as { services: Record<string, ComposeService>; networks?: Record<string, { internal?: boolean }> };
  const expected = ['meshd', 'tokens', ...DEMO_WORKLOADS.flatMap((w) => (w.sidecar ? [w.name, `${w.name}-sidecar`] : [w.name]))].sort();
  assert.deepEqual(Object.keys(cfg.services).sort(), expected);

  // meshd: its default ports (the same defaults `npm run demo` and bin/meshd use). Nothing is
  // published: the one network is internal, so nothing is routed off the machine.
  const defaults = Object.fromEntries(MESHD_FLAGS.map((f) => [f.name, f.default]));
  assert.deepEqual([MESHD_PORTS.xds, MESHD_PORTS.secureXds, MESHD_PORTS.admin].map(String), [defaults['xds-port'], defaults['secure-xds-port'], defaults['admin-port']]);
  for (const [name, s] of Object.entries(cfg.services)) assert.deepEqual(s.ports ?? [], [], `${name} publishes no port`);
  assert.deepEqual(Object.keys(cfg.networks ?? {}), ['mesh']);
  assert.equal(cfg.networks!.mesh!.internal, true, 'the compose network is internal');
  const mounts = (cfg.services.meshd!.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
  assert.ok(mounts.some((m) => m.startsWith(`${join(REPO_ROOT, 'deploy', 'compose', 'mesh')}:/etc/meshd/mesh`)), `config folder mounted: ${mounts.join(', ')}`);

  const plan = composePlan();
  for (const w of DEMO_WORKLOADS) {
    const s = cfg.services[w.name]!;
    const cmd = s.command ?? [];
    const arg = (flag: string): string | undefined => { const i = cmd.indexOf(flag); return i >= 0 ? cmd[i + 1] : undefined; };
    assert.equal(s.networks?.mesh?.ipv4_address, plan.workloads[w.name]!.address, `${w.name} address`);
    assert.equal(arg('--listen'), w.port ? `${plan.workloads[w.name]!.appAddress}:${w.port}` : undefined, `${w.name} serves its Service port`);
    const t = callTarget(plan, w);
    assert.equal(arg('--call'), t ? `http://${t.host}:${t.port}${t.path}` : undefined, `${w.name} calls`);
    const sidecar = cfg.services[`${w.name}-sidecar`];
    assert.equal(sidecar !== undefined, w.sidecar, `${w.name} has a sidecar iff the topology says so`);
    if (!sidecar) continue;
    assert.equal(sidecar.image, ENVOY_IMAGE);
    assert.equal(sidecar.network_mode, `service:${w.name}`);
    const boot = (sidecar.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0]! : v.source)).find((p) => p.endsWith(`bootstrap/${w.name}.yaml`));
    assert.ok(boot, `${w.name}-sidecar mounts its bootstrap`);
    // The mounted file is the generator's bootstrap, which is the process mesh's bootstrap up to addresses.
    assert.deepEqual(YAML.parse(readFileSync(boot, 'utf8')), composeBootstrap(w.name));
    const processMesh = demoBootstrap(loopbackPlan(0), w.name, { xdsPort: MESHD_PORTS.xds, adminPort: COMPOSE_ENVOY_ADMIN_PORT, token: 'T' });
    const compose = demoBootstrap(plan, w.name, { xdsPort: MESHD_PORTS.xds, adminPort: COMPOSE_ENVOY_ADMIN_PORT, token: 'T' });
    assert.deepEqual(bootstrapShape(compose), bootstrapShape(processMesh));
    assert.notDeepEqual(compose, processMesh);
  }
});

test('the compose config folder is the demo config folder up to addresses', () => {
  const compose = meshConfigFiles(composePlan());
  const demo = meshConfigFiles(loopbackPlan(0));
  assert.deepEqual(Object.keys(compose), Object.keys(demo));
  for (const f of Object.keys(demo)) assert.deepEqual(configShape(compose[f]!), configShape(demo[f]!), f);
  // ...and it differs somewhere, so the comparison above is not vacuous.
  assert.notEqual(compose['20-workloads.yaml'], demo['20-workloads.yaml']);
});

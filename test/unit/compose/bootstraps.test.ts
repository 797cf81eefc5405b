/**
 * Every bootstrap the project generates is accepted by the pinned Envoy (`envoy --mode
 * validate`): the renderer in every combination (explicit/transparent × SotW/Delta × join
 * token / node-agent socket / meshd CA / no credential), `meshctl bootstrap` as the injector
 * calls it, the demo's sidecars, and the committed compose bootstraps. And a broken one is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { defaultInjectOptions, sidecarParts } from '../../../src/k8s/inject.js';
import { renderBootstrap, type BootstrapOptions } from '../../../src/bootstrap/render.js';
import { DEMO_WORKLOADS, REPO_ROOT, demoBootstrap, loopbackPlan } from '../../../src/demo/topology.js';
import { ENVOY_ADMIN_BASE } from '../../../src/demo/run.js';
import { validateBootstrap } from '../../helpers/envoy.js';

const dir = mkdtempSync(join(tmpdir(), 'bootstrap-validate-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

/** A throwaway CA certificate for `--meshd-ca` (Envoy reads the file while validating). */
function caFile(): string {
  const cert = join(dir, 'meshd-ca.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', cert, '-subj', '/CN=meshd-test-ca', '-days', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return cert;
}

function assertValid(what: string, bootstrap: unknown): void {
  const v = validateBootstrap(bootstrap);
  assert.ok(v.ok, `${what}: Envoy rejects it:\n${v.output.slice(-2000)}`);
}

const base: BootstrapOptions = { namespace: 'production', workload: 'backend', serviceAccount: 'backend', ip: '127.0.10.2', meshd: '127.0.0.1:15010', adminPort: 15000, labels: { app: 'backend' } };

test('the renderer: every mode × protocol × credential validates', () => {
  const ca = caFile();
  const credentials: Record<string, Partial<BootstrapOptions>> = {
    'no credential': {},
    'join token': { token: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln' },
    'node agent socket': { agentSocket: join(dir, 'agent', 'sds.sock'), meshd: '127.0.0.1:15012' },
    'meshd CA file': { meshdCaFile: ca, meshd: '127.0.0.1:15012', token: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln' },
  };
  let n = 0;
  for (const mode of ['explicit', 'transparent'] as const) {
    for (const delta of [false, true]) {
      for (const [cred, extra] of Object.entries(credentials)) {
        assertValid(`${mode}, ${delta ? 'Delta' : 'SotW'}, ${cred}`, renderBootstrap({ ...base, mode, delta, ...extra }));
        n++;
      }
    }
  }
  assert.equal(n, 16);
});

test('meshctl bootstrap output validates (as the sidecar injector runs it, and with a token file)', () => {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln\n');
  // The injected bootstrap container's own command line, its $(VARS) filled as the kubelet does,
  // writing to -o (a bootstrap on stdout would leave Envoy without a config file).
  const injected = sidecarParts(defaultInjectOptions({})).initContainers.find((c) => c.name === 'meshd-bootstrap')!.command as string[];
  const vars: Record<string, string> = { POD_NAMESPACE: 'production', POD_NAME: 'backend-0', POD_IP: '10.1.2.3', SERVICE_ACCOUNT: 'backend' };
  const out = join(dir, 'injected-envoy.yaml');
  const injectorArgs = injected.slice(2).map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => vars[v]!)).map((a) => (a.endsWith('/envoy.yaml') ? out : a));
  const inj = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'bootstrap', ...injectorArgs], { encoding: 'utf8' });
  assert.equal(inj.status, 0, inj.stderr);
  assert.equal(inj.stdout, '', 'the injected bootstrap goes to its -o file, not stdout');
  assertValid('meshctl bootstrap (as injected)', YAML.parse(readFileSync(out, 'utf8')));
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), 'bootstrap', '--namespace', 'production', '--workload', 'frontend', '--token-file', tokenFile, '--delta', '--label', 'app=frontend,version=v1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assertValid('meshctl bootstrap (token file, Delta)', YAML.parse(r.stdout));
});

test('the demo sidecars\' bootstraps (explicit and transparent) and the committed compose bootstraps validate', () => {
  const plan = loopbackPlan(0);
  for (const w of DEMO_WORKLOADS.filter((x) => x.sidecar)) {
    for (const mode of ['explicit', 'transparent'] as const) {
      assertValid(`demo ${w.name} (${mode})`, demoBootstrap(plan, w.name, { xdsPort: 15010, adminPort: ENVOY_ADMIN_BASE + 1, token: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln', mode }));
    }
    const file = join(REPO_ROOT, 'deploy', 'compose', 'bootstrap', `${w.name}.yaml`);
    assertValid(`compose ${w.name}`, YAML.parse(readFileSync(file, 'utf8')));
  }
});

test('validation can fail: Envoy rejects a bootstrap with a broken cluster', () => {
  const b = renderBootstrap(base) as { static_resources: { clusters: Record<string, unknown>[] } };
  b.static_resources.clusters[0]!.type = 'NO_SUCH_DISCOVERY_TYPE';
  assert.equal(validateBootstrap(b).ok, false);
});

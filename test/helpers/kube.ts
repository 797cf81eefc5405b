/**
 * A real etcd + kube-apiserver for tests, started with scripts/kube-up.sh and always torn down
 * with scripts/kube-down.sh. Missing binaries are a failure naming the command that builds
 * them, never a skip. The API server can be stopped and started again (same flags, same etcd).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './meshd.js';
import { waitFor } from './ports.js';
import { KubeClient, loadKubeConfig } from '../../src/k8s/kube-client.js';

export interface Kube {
  readonly kubeconfig: string;
  readonly workDir: string;
  readonly apiserverUrl: string;
  readonly adminToken: string;
  readonly caFile: string;
  /** A JSON client with the admin credentials. */
  readonly client: KubeClient;
  /** Runs kubectl against this cluster; never throws. */
  kubectl(args: readonly string[], input?: string): { code: number; stdout: string; stderr: string };
  /** Runs kubectl and throws with its stderr when it fails. */
  kubectlOk(args: readonly string[], input?: string): string;
  /** Stops the API server (etcd keeps running); resolves once it has exited. */
  stopApiserver(): Promise<void>;
  /** Starts the API server again with the same flags; resolves once /readyz answers. */
  startApiserver(): Promise<void>;
  /** Stops everything and removes the work dir. */
  down(): void;
}

/** Paths of the Kubernetes binaries scripts/ensure-k8s.sh built for this tools/k8s. */
export function kubeBinaries(): Record<'K8S_VERSION' | 'KUBE_APISERVER_BIN' | 'ETCD_BIN' | 'KUBELET_BIN' | 'KUBE_CONTROLLER_MANAGER_BIN' | 'KUBE_SCHEDULER_BIN' | 'KUBE_PROXY_BIN', string> {
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'ensure-k8s.sh')], { encoding: 'utf8', env: { ...process.env, MESH_K8S_CHECK: '1' } });
  if (r.status !== 0) throw new Error(r.stderr.trim() || `scripts/ensure-k8s.sh failed (${r.status})`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) { const m = /^([A-Z0-9_]+)=(.*)$/.exec(line); if (m) out[m[1]!] = m[2]!; }
  return out as ReturnType<typeof kubeBinaries>;
}

/** Throws (never skips) when the binaries are not built yet. */
export function requireKubeBinaries(): void {
  const bins = kubeBinaries();
  for (const b of [bins.KUBE_APISERVER_BIN, bins.ETCD_BIN]) {
    if (!b || !existsSync(b)) throw new Error(`${b} is missing: build it with \`bash scripts/ensure-k8s.sh\` (about 6 minutes, needs Go >= 1.25)`);
  }
  if (spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status !== 0) throw new Error('kubectl is not on PATH');
}

const clusters = new Set<Kube>();

/** Starts a cluster and waits until it is ready (about 5 s with cached binaries). */
export async function kubeUp(o: { apiserverArgs?: string } = {}): Promise<Kube> {
  requireKubeBinaries();
  const spawnEnv = { ...process.env, MESH_KUBE_VERIFY: '0', ...(o.apiserverArgs ? { MESH_KUBE_APISERVER_EXTRA_ARGS: o.apiserverArgs } : {}) };
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'kube-up.sh')], { encoding: 'utf8', env: spawnEnv, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`scripts/kube-up.sh failed (${r.status}): ${r.stderr.slice(-3000)}`);
  const env: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  const workDir = env.KUBE_WORK_DIR;
  if (!workDir) throw new Error(`scripts/kube-up.sh printed no KUBE_WORK_DIR: ${r.stdout}`);
  const kubeconfig = env.KUBECONFIG!;
  const client = new KubeClient(loadKubeConfig(kubeconfig));
  let apiArgv: string[] | undefined;
  let apiPid = Number(env.KUBE_APISERVER_PID);
  const kubectl = (args: readonly string[], input?: string): { code: number; stdout: string; stderr: string } => {
    const x = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, timeout: 60_000 });
    return { code: x.status ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  };
  // A reparented child nobody reaps stays a zombie: that counts as exited.
  const alive = (pid: number): boolean => {
    try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
  };
  const k: Kube = {
    kubeconfig, workDir, client,
    apiserverUrl: env.KUBE_APISERVER_URL!, adminToken: env.KUBE_ADMIN_TOKEN!, caFile: env.KUBE_CA_FILE!,
    kubectl,
    kubectlOk(args, input) {
      const x = kubectl(args, input);
      if (x.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${x.code}): ${x.stderr}`);
      return x.stdout;
    },
    async stopApiserver() {
      apiArgv = readFileSync(`/proc/${apiPid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
      process.kill(apiPid, 'SIGTERM');
      // Graceful shutdown drains watches for a while; after 5 s a SIGKILL (a crash) will do.
      const exited = await waitFor('kube-apiserver to exit', () => !alive(apiPid), 5_000, 50).catch(() => false);
      if (!exited) {
        process.kill(apiPid, 'SIGKILL');
        await waitFor('kube-apiserver to exit after SIGKILL', () => !alive(apiPid), 10_000, 50);
      }
    },
    async startApiserver() {
      if (!apiArgv) throw new Error('startApiserver: the API server was not stopped by stopApiserver');
      const log = openSync(join(workDir, 'kube-apiserver.log'), 'a');
      const child = spawn(apiArgv[0]!, apiArgv.slice(1), { detached: true, stdio: ['ignore', log, log] });
      closeSync(log);
      child.unref();
      apiPid = child.pid!;
      appendFileSync(join(workDir, 'pids'), `KUBE_APISERVER_PID=${apiPid}\n`);
      await waitFor('kube-apiserver /readyz', async () => (await client.request('GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000, 100);
    },
    down() {
      clusters.delete(k);
      client.close();
      spawnSync('bash', [join(REPO_ROOT, 'scripts', 'kube-down.sh'), workDir], { encoding: 'utf8', timeout: 30_000 });
    },
  };
  clusters.add(k);
  return k;
}

process.once('exit', () => { for (const k of [...clusters]) k.down(); });

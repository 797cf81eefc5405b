/**
 * A small mesh on loopback for end-to-end tests: a config folder of YAML (Services,
 * WorkloadEntries), meshd as a process, one real Envoy sidecar per workload with its own
 * join token, and an echo app behind each. Every workload gets its own loopback addresses
 * (127.N.10.i sidecar inbound, 127.N.20.i app, 127.N.30.i outbound), so tests can run side by side.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnCaptured } from './process.js';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { renderBootstrap } from '../../src/bootstrap/render.js';
import { loadOrCreateTokenSigningKey, mintJoinToken } from '../../src/ca/tokens.js';
import { startEchoApp, httpCall, type RunningApp, type HttpResult } from './apps.js';
import { startEnvoy, type RunningEnvoy } from './envoy.js';
import { REPO_ROOT, startMeshd, type RunningMeshd } from './meshd.js';
import { freePort, waitFor } from './ports.js';

export interface WorkloadSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly serviceAccount?: string;
  /** Port name prefix sets the protocol (http, tcp); default http. */
  readonly portName?: string;
  /** No sidecar: the app only (a legacy client or an out-of-mesh server). */
  readonly noSidecar?: boolean;
  readonly labels?: Record<string, string>;
  /** Secrets from a node agent (`meshctl agent`) beside Envoy; ADS over mTLS to the secure port. */
  readonly agent?: boolean;
}

/** A `meshctl agent` process. */
export interface RunningAgent {
  readonly socket: string;
  readonly process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

export interface MeshWorkload {
  readonly spec: WorkloadSpec;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly address: string;
  readonly appAddress: string;
  readonly outboundAddress: string;
  readonly port: number;
  app?: RunningApp;
  envoy?: RunningEnvoy;
  agent?: RunningAgent;
}

let fixtureCounter = 0;

/** A loopback /16 of our own: 127.N.0.0. */
function octet(): number {
  return 20 + ((process.pid * 7 + fixtureCounter++ * 13) % 200);
}

export class MeshFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'mesh-fixture-'));
  readonly configDir = join(this.dir, 'config');
  readonly stateDir = join(this.dir, 'state');
  readonly workloads = new Map<string, MeshWorkload>();
  meshd?: RunningMeshd;
  private readonly n = octet();

  private constructor() {
    mkdirSync(this.configDir, { recursive: true });
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
  }

  /** Creates the config folder for `specs` (nothing runs yet). */
  static async create(specs: readonly WorkloadSpec[]): Promise<MeshFixture> {
    const f = new MeshFixture();
    let i = 1;
    for (const s of specs) {
      const port = await freePort();
      f.workloads.set(s.name, {
        spec: s, namespace: s.namespace ?? 'production', serviceAccount: s.serviceAccount ?? s.name,
        address: `127.${f.n}.10.${i}`, appAddress: `127.${f.n}.20.${i}`, outboundAddress: `127.${f.n}.30.${i}`, port,
      });
      i++;
    }
    f.writeWorkloads();
    return f;
  }

  /** The Service + WorkloadEntry YAML for every workload. */
  writeWorkloads(): void {
    const docs: unknown[] = [];
    for (const w of this.workloads.values()) {
      const portName = w.spec.portName ?? 'http';
      docs.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: w.spec.name, namespace: w.namespace }, spec: { selector: { app: w.spec.name }, ports: [{ name: portName, port: w.port }] } });
      docs.push({
        apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
        metadata: {
          name: w.spec.name, namespace: w.namespace,
          annotations: { 'meshd.dev/app-address': w.appAddress, 'meshd.dev/outbound-address': w.outboundAddress },
          ...(w.spec.noSidecar ? { labels: { 'sidecar.istio.io/inject': 'false' } } : {}),
        },
        spec: { address: w.spec.noSidecar ? w.appAddress : w.address, labels: { app: w.spec.name, ...w.spec.labels }, serviceAccount: w.serviceAccount, ports: { [portName]: w.port } },
      });
    }
    this.writeConfig('10-workloads.yaml', docs);
  }

  /** Writes (or replaces) one YAML file of the config folder; `docs` may be raw text. */
  writeConfig(file: string, docs: readonly unknown[] | string): void {
    const text = typeof docs === 'string' ? docs : docs.map((d) => YAML.stringify(d)).join('---\n');
    writeFileSync(join(this.configDir, file), text);
  }

  removeConfig(file: string): void {
    rmSync(join(this.configDir, file), { force: true });
  }

  /** A join token for a workload's identity, signed with meshd's key in the state dir. */
  token(namespace: string, serviceAccount: string, ttlSeconds = 3600): string {
    const key = loadOrCreateTokenSigningKey(this.stateDir);
    return mintJoinToken({ namespace, serviceAccount, ttlSeconds }, key.privateKey);
  }

  async startMeshd(args: string[] = [], ports?: { xds: number; secureXds: number; admin: number }): Promise<RunningMeshd> {
    this.meshd = await startMeshd({ configDir: this.configDir, stateDir: this.stateDir, args, ...(ports ? { ports } : {}) });
    return this.meshd;
  }

  /** The bootstrap for a workload's sidecar. */
  bootstrap(name: string, o: { delta?: boolean; token?: string | null; meshdPort?: number; agentSocket?: string; adminPort?: number } = {}): Record<string, unknown> {
    const w = this.get(name);
    // With an agent, the stream credential is the agent's certificate (mTLS), not a token.
    const token = o.token === null || (o.agentSocket && o.token === undefined) ? undefined : o.token ?? this.token(w.namespace, w.serviceAccount);
    return renderBootstrap({
      namespace: w.namespace, workload: w.spec.name, serviceAccount: w.serviceAccount, ip: w.address,
      labels: { app: w.spec.name, ...w.spec.labels },
      meshd: `127.0.0.1:${o.meshdPort ?? (o.agentSocket ? this.meshd!.secureXdsPort : this.meshd!.xdsPort)}`, delta: o.delta ?? false,
      ...(token ? { token } : {}),
      ...(o.agentSocket ? { agentSocket: o.agentSocket } : {}),
      ...(o.adminPort ? { adminPort: o.adminPort } : {}),
    });
  }

  /** A sidecar's Prometheus port (15090 on its workload address), as Prometheus scrapes it. */
  async scrape(name: string): Promise<string> {
    const r = await fetch(`http://${this.get(name).address}:15090/stats/prometheus`);
    if (r.status !== 200) throw new Error(`scrape ${name}: HTTP ${r.status}`);
    return await r.text();
  }

  /** Every root certificate in meshd's state dir (what an operator hands the agent as --ca-cert). */
  rootsFile(): string {
    const ca = join(this.stateDir, 'ca');
    const pems = readdirSync(ca).filter((f) => /^root-\d+-cert\.pem$/.test(f)).sort().map((f) => readFileSync(join(ca, f), 'utf8'));
    const file = join(this.dir, 'roots.pem');
    writeFileSync(file, pems.join(''));
    return file;
  }

  /** Starts `meshctl agent` for a workload (its own join token, meshd's secure port); resolves once it serves SDS. */
  async startAgent(name: string, args: string[] = []): Promise<RunningAgent> {
    const w = this.get(name);
    const tokenFile = join(this.dir, `${name}.token`);
    writeFileSync(tokenFile, this.token(w.namespace, w.serviceAccount), { mode: 0o600 });
    const socket = join(this.dir, `${name}-sds.sock`);
    const proc = spawnCaptured(process.execPath, [
      join(REPO_ROOT, 'bin', 'meshctl'), 'agent', '--meshd', `127.0.0.1:${this.meshd!.secureXdsPort}`, '--server-name', 'meshd',
      '--token-file', tokenFile, '--socket', socket, '--ca-cert', this.rootsFile(), ...args,
    ]);
    await waitFor(`agent ${name} serving SDS`, () => {
      if (proc.exited()) throw new Error(`agent ${name} exited: ${proc.output().slice(-2000)}`);
      return proc.output().includes('serving SDS');
    }, 20000, 50);
    const agent: RunningAgent = {
      socket, process: proc.child, log: proc.output,
      stop: () => proc.stop(),
    };
    w.agent = agent;
    return agent;
  }

  /** Starts every workload's app and (unless noSidecar) its Envoy. */
  async startWorkloads(o: { delta?: boolean; agentArgs?: string[]; stats?: boolean } = {}): Promise<void> {
    for (const w of this.workloads.values()) {
      w.app = await startEchoApp(w.spec.name, w.appAddress, w.port);
      if (o.stats && !w.spec.noSidecar && !w.spec.agent) {
        // The Prometheus port forwards to the admin API, so the admin port must be known.
        w.envoy = await startEnvoy(w.spec.name, this.bootstrap(w.spec.name, { ...(o.delta !== undefined ? { delta: o.delta } : {}), adminPort: await freePort() }));
        continue;
      }
      if (w.spec.agent) {
        const a = await this.startAgent(w.spec.name, o.agentArgs);
        w.envoy = await startEnvoy(w.spec.name, this.bootstrap(w.spec.name, { ...(o.delta !== undefined ? { delta: o.delta } : {}), agentSocket: a.socket }));
      } else if (!w.spec.noSidecar) w.envoy = await startEnvoy(w.spec.name, this.bootstrap(w.spec.name, o));
    }
  }

  get(name: string): MeshWorkload {
    const w = this.workloads.get(name);
    if (!w) throw new Error(`no workload ${name}`);
    return w;
  }

  /** `from` calls service `to` through its own sidecar's outbound listener. */
  call(from: string, to: string, o: { path?: string; method?: string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
    const src = this.get(from);
    const dst = this.get(to);
    return httpCall({ host: src.outboundAddress, port: dst.port, hostHeader: `${to}.${dst.namespace}.svc.cluster.local`, path: o.path ?? '/', method: o.method ?? 'GET', ...(o.headers ? { headers: o.headers } : {}) });
  }

  /** A client without a sidecar calls `to`'s sidecar inbound directly (plaintext). */
  callDirect(to: string, o: { path?: string; method?: string } = {}): Promise<HttpResult> {
    const dst = this.get(to);
    return httpCall({ host: dst.address, port: dst.port, path: o.path ?? '/', method: o.method ?? 'GET' });
  }

  /** Waits until `from` → `to` answers with `status`. */
  async waitForCall(from: string, to: string, status = 200, o: { path?: string; method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
    return waitFor(`${from} → ${to} answering ${status}`, async () => {
      try {
        const r = await this.call(from, to, o);
        return r.status === status ? r : undefined;
      } catch { return undefined; }
    }, o.timeoutMs ?? 20000, 100);
  }

  async close(): Promise<void> {
    for (const w of this.workloads.values()) {
      await w.envoy?.stop();
      await w.agent?.stop();
      await w.app?.close();
    }
    await this.meshd?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Runs the demo mesh as processes: meshd (bin/meshd, its default ports), one real Envoy per
 * meshed workload, the demo app per workload, all on loopback addresses of their own
 * (explicit interception: each app calls its sidecar). `npm run demo` and the end-to-end test both start it through
 * `startDemo`, so the test exercises exactly what users run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadOrCreateTokenSigningKey, mintJoinToken } from '../ca/tokens.js';
import type { CallEvent } from './app.js';
import { checkConfigFolder, checkPorts, findEnvoy, type PortNeed } from './checks.js';
import { ProcessGroup, type DemoChild } from './processes.js';
import { startDemoApp, startDemoMeshd, waitUntil } from './meshd-child.js';
import { prepareTracing } from './tracing.js';
import { DEMO_NAMESPACE, DEMO_WORKLOADS, REPO_ROOT, callTarget, demoBootstrap, demoServices, loopbackPlan, meshConfigFiles, type AddressPlan, type DemoWorkload } from './topology.js';

export interface DemoOptions {
  /** The demo's folder: mesh/ (config, watched), state/ (CA), logs/, bootstrap/. */
  readonly dir: string;
  /** Rewrite mesh/ from the topology even when it exists. */
  readonly reset?: boolean;
  readonly xdsPort: number;
  readonly secureXdsPort: number;
  readonly adminPort: number;
  /** Envoy admin ports 15100+i (false: let Envoy pick, for tests). */
  readonly fixedEnvoyAdminPorts?: boolean;
  /** Loopback plan 127.N.x.x (0 in `npm run demo`; tests pick their own). */
  readonly octet?: number;
  readonly delta?: boolean;
  /** Faster config pickup (tests). */
  readonly meshdArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** `--tracing`: the collector's port (the demo's tracing config is written, else removed). */
  readonly tracingCollectorPort?: number;
}

export interface RunningWorkload {
  readonly name: string;
  readonly app: DemoChild;
  readonly envoy?: DemoChild;
  /** Envoy's admin URL (sidecars only). */
  readonly envoyAdmin?: string;
}

export interface RunningDemo {
  readonly dir: string;
  readonly configDir: string;
  readonly plan: AddressPlan;
  readonly meshd: DemoChild;
  readonly meshdUrl: string;
  readonly ports: { readonly xds: number; readonly secureXds: number; readonly admin: number };
  readonly workloads: readonly RunningWorkload[];
  /** Every process the demo started (for leak checks). */
  pids(): number[];
  /** Subscribes to every call an app makes. */
  onCall(cb: (e: CallEvent) => void): void;
  /** Resolves with a message when a process dies on its own (the demo is then broken). */
  readonly crashed: Promise<string>;
  stop(): Promise<void>;
}

export const ENVOY_ADMIN_BASE = 15100;

/** Writes the config folder from the topology when it is missing (or on reset); returns whether it wrote. */
export function prepareConfigFolder(configDir: string, plan: AddressPlan, reset: boolean): boolean {
  if (existsSync(configDir) && !reset) return false;
  rmSync(configDir, { recursive: true, force: true });
  mkdirSync(configDir, { recursive: true });
  for (const [file, text] of Object.entries(meshConfigFiles(plan))) writeFileSync(join(configDir, file), text);
  return true;
}

/** Every address:port the demo will listen on, with what it is and how to move it. */
export function demoPortNeeds(o: DemoOptions, plan: AddressPlan): PortNeed[] {
  const needs: PortNeed[] = [
    { host: '127.0.0.1', port: o.xdsPort, what: 'meshd xDS, --xds-port', hint: 'npm run demo -- --xds-port 25010' },
    { host: '127.0.0.1', port: o.secureXdsPort, what: 'meshd xDS over TLS, --secure-xds-port', hint: 'npm run demo -- --secure-xds-port 25012' },
    { host: '127.0.0.1', port: o.adminPort, what: 'meshd admin, --admin-port', hint: 'npm run demo -- --admin-port 25014 (then meshctl edges --meshd http://127.0.0.1:25014)' },
  ];
  const services = demoServices();
  for (const w of DEMO_WORKLOADS) {
    const a = plan.workloads[w.name]!;
    if (w.port) needs.push({ host: a.appAddress, port: w.port, what: `${w.name} app` });
    if (!w.sidecar) continue;
    if (w.port) needs.push({ host: a.address, port: w.port, what: `${w.name} sidecar inbound` });
    for (const s of services) needs.push({ host: a.outboundAddress, port: s.port, what: `${w.name} sidecar outbound to ${s.name}` });
    if (o.fixedEnvoyAdminPorts) needs.push({ host: '127.0.0.1', port: envoyAdminPort(o, w.name), what: `${w.name} Envoy admin` });
  }
  return needs;
}

function envoyAdminPort(o: DemoOptions, name: string): number {
  if (!o.fixedEnvoyAdminPorts) return 0;
  return ENVOY_ADMIN_BASE + Number(loopbackPlan(0).workloads[name]!.address.split('.')[3]);
}

/** Checks everything, then starts meshd, the sidecars and the apps; on any failure stops what it started and throws a DemoError. */
export async function startDemo(o: DemoOptions): Promise<RunningDemo> {
  const envoyBin = findEnvoy(o.env ?? process.env);
  const plan = loopbackPlan(o.octet ?? 0);
  const configDir = join(o.dir, 'mesh');
  const stateDir = join(o.dir, 'state');
  const logDir = join(o.dir, 'logs');
  const bootDir = join(o.dir, 'bootstrap');
  prepareConfigFolder(configDir, plan, o.reset ?? false);
  const tracingArgs = prepareTracing(o.dir, configDir, o.tracingCollectorPort);
  await checkConfigFolder(configDir);
  await checkPorts(demoPortNeeds(o, plan));
  for (const d of [stateDir, logDir, bootDir]) mkdirSync(d, { recursive: true, mode: 0o700 });

  const group = new ProcessGroup();
  const listeners: ((e: CallEvent) => void)[] = [];
  let stopping = false;
  let crash: (msg: string) => void = () => undefined;
  const crashed = new Promise<string>((r) => { crash = r; });
  const watchCrash = (c: DemoChild): void => { void c.exit().then(() => { if (!stopping) crash(`${c.name} exited unexpectedly; see ${join(logDir, c.name + '.log')}:\n${c.tail().trim().split('\n').slice(-10).join('\n')}`); }); };
  try {
    const { meshd, ports, adminUrl: meshdUrl } = await startDemoMeshd(group, { configDir, stateDir, logDir, xdsPort: o.xdsPort, secureXdsPort: o.secureXdsPort, adminPort: o.adminPort, ...(o.meshdArgs || tracingArgs.length ? { meshdArgs: [...(o.meshdArgs ?? []), ...tracingArgs] } : {}), ...(o.env ? { env: o.env } : {}) });
    watchCrash(meshd);

    const key = loadOrCreateTokenSigningKey(stateDir);
    // Every sidecar and every server app start at once (each sidecar waits for its config from
    // meshd); the callers start last, so their first call finds everything in place.
    const startSidecar = async (w: DemoWorkload): Promise<{ envoy: DemoChild; envoyAdmin: string }> => {
      const token = mintJoinToken({ namespace: DEMO_NAMESPACE, serviceAccount: w.serviceAccount, ttlSeconds: 24 * 3600 }, key.privateKey);
      const boot = demoBootstrap(plan, w.name, { xdsPort: ports.xds, adminPort: envoyAdminPort(o, w.name), token });
      const bootFile = join(bootDir, `${w.name}.yaml`);
      const addrFile = join(bootDir, `${w.name}.admin-address`);
      rmSync(addrFile, { force: true });
      writeFileSync(bootFile, YAML.stringify(boot), { mode: 0o600 });
      const envoy = group.start(`${w.name}-envoy`, envoyBin, [
        '-c', bootFile, '--admin-address-path', addrFile, '--disable-hot-restart', '--concurrency', '1',
        '-l', 'warning', '--drain-time-s', '1', '--drain-strategy', 'immediate', '--parent-shutdown-time-s', '2',
      ], { logFile: join(logDir, `${w.name}-envoy.log`) });
      const adminAddr = await waitUntil('admin address', envoy, () => {
        if (!existsSync(addrFile)) return undefined;
        const t = readFileSync(addrFile, 'utf8').trim();
        return t ? t : undefined;
      }, 20000);
      const envoyAdmin = `http://${adminAddr}`;
      await waitUntil('config from meshd (/ready)', envoy, async () => ((await fetch(`${envoyAdmin}/ready`)).ok ? true : undefined), 30000);
      watchCrash(envoy);
      return { envoy, envoyAdmin };
    };
    const startApp = async (w: DemoWorkload): Promise<DemoChild> => {
      const a = plan.workloads[w.name]!;
      const target = callTarget(plan, w);
      const args = [join(REPO_ROOT, 'dist', 'src', 'demo', 'app-main.js'), '--name', w.name, '--exit-on-stdin-close'];
      if (w.port) args.push('--listen', `${a.appAddress}:${w.port}`);
      if (target && w.calls) {
        args.push('--call', `http://${target.host}:${target.port}${target.path}`, '--call-name', w.calls.to, '--host-header', target.hostHeader, '--interval', `${w.calls.intervalMs}ms`);
        if (!w.sidecar) args.push('--bind', a.address);
      }
      const app = await startDemoApp(group, w.name, process.execPath, args, join(logDir, `${w.name}.log`), listeners, Boolean(w.port));
      watchCrash(app);
      return app;
    };
    const sidecars = new Map<string, { envoy: DemoChild; envoyAdmin: string }>();
    const apps = new Map<string, DemoChild>();
    const first = await Promise.allSettled([
      ...DEMO_WORKLOADS.filter((w) => w.sidecar).map(async (w) => { sidecars.set(w.name, await startSidecar(w)); }),
      ...DEMO_WORKLOADS.filter((w) => !w.calls).map(async (w) => { apps.set(w.name, await startApp(w)); }),
    ]);
    const failed = first.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const w of DEMO_WORKLOADS.filter((x) => x.calls)) apps.set(w.name, await startApp(w));
    const workloads: RunningWorkload[] = DEMO_WORKLOADS.map((w) => {
      const sidecar = sidecars.get(w.name);
      return { name: w.name, app: apps.get(w.name)!, ...(sidecar ? { envoy: sidecar.envoy, envoyAdmin: sidecar.envoyAdmin } : {}) };
    });
    return {
      dir: o.dir, configDir, plan, meshd, meshdUrl, ports, workloads,
      pids: () => group.list().map((c) => c.pid),
      onCall: (cb) => { listeners.push(cb); },
      crashed,
      async stop() {
        stopping = true;
        await group.stopAll();
      },
    };
  } catch (e) {
    stopping = true;
    await group.stopAll();
    throw e;
  }
}

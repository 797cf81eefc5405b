/**
 * `npm run demo -- --transparent`: the demo mesh with each workload in a network namespace
 * of its own. meshd runs on the host and listens only on the bridge address; each sidecar
 * runs as the proxy user inside its workload's namespace, where iptables sends the app's
 * connections to Envoy (15001) and every incoming connection to Envoy (15006). Apps call
 * ClusterIPs that exist on no interface; the legacy client calls backend's address directly.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadOrCreateTokenSigningKey, mintJoinToken } from '../ca/tokens.js';
import type { CallEvent } from './app.js';
import { DemoError, checkConfigFolder, checkPorts, findEnvoy } from './checks.js';
import { ProcessGroup, type DemoChild } from './processes.js';
import { startDemoApp, startDemoMeshd, waitUntil } from './meshd-child.js';
import { prepareConfigFolder, type RunningDemo, type RunningWorkload } from './run.js';
import {
  applyRedirect, createNetwork, findLeftovers, isClean, netnsFetch, prepareRuntimeDir, proxyCommand, removeNetwork, writeProxyFile,
} from './transparent-netns.js';
import { NETNS_ENVOY_ADMIN_PORT, netnsAddressPlan, netnsPlan, type NetnsPlan } from './transparent-plan.js';
import { DEMO_NAMESPACE, DEMO_WORKLOADS, REPO_ROOT, callTarget, demoBootstrap } from './topology.js';

export interface TransparentOptions {
  /** The demo's folder; the config lives in mesh-transparent/ (its addresses differ from explicit mode's mesh/). */
  readonly dir: string;
  readonly reset?: boolean;
  readonly xdsPort: number;
  readonly secureXdsPort: number;
  /** meshd's admin port; also forwarded from 127.0.0.1 so `meshctl edges` works unchanged. */
  readonly adminPort: number;
  /** Address plan 10.250.N.x / 10.251.N.x and names meshd-N-*. */
  readonly octet?: number;
  readonly meshdArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Progress and clean-up messages. */
  readonly log?: (line: string) => void;
}

export interface RunningTransparentDemo extends RunningDemo {
  readonly mode: 'transparent';
  readonly network: NetnsPlan;
  /** meshd's own admin URL on the bridge (meshdUrl is its forward on 127.0.0.1). */
  readonly meshdBridgeUrl: string;
}

/** A TCP forward from 127.0.0.1:port to meshd's admin port on the bridge (meshd itself listens only there). */
function forwardAdmin(port: number, host: string, targetPort: number): Promise<Server> {
  const server = createServer((c) => {
    const u = connect(targetPort, host);
    c.pipe(u); u.pipe(c);
    c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
  });
  return new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve(server)); });
}

/** Builds the network, starts meshd, sidecars and apps; on any failure removes everything it made and throws a DemoError. */
export async function startTransparentDemo(o: TransparentOptions): Promise<RunningTransparentDemo> {
  const log = o.log ?? (() => undefined);
  const envoyBin = findEnvoy(o.env ?? process.env);
  const net = netnsPlan(o.octet ?? 0);
  const plan = netnsAddressPlan(net);
  const configDir = join(o.dir, 'mesh-transparent');
  const stateDir = join(o.dir, 'state');
  const logDir = join(o.dir, 'logs');
  const bootDir = join(o.dir, 'bootstrap');
  if (prepareConfigFolder(configDir, plan, o.reset ?? false)) log(`wrote the config folder ${configDir}/ from the topology`);
  await checkConfigFolder(configDir);
  await checkPorts([{ host: '127.0.0.1', port: o.adminPort, what: 'meshd admin (forwarded to the bridge), --admin-port', hint: 'npm run demo -- --transparent --admin-port 25014' }]);
  for (const d of [stateDir, logDir, bootDir]) mkdirSync(d, { recursive: true, mode: 0o700 });

  const left = findLeftovers(net);
  if (left.pids.length > 0) {
    // A live process in our namespaces means another transparent demo with this octet is running.
    throw new DemoError('start-failed', `another transparent demo is running in ${left.namespaces.join(', ')} (pids ${left.pids.join(' ')}).\n` +
      `  Stop it with Ctrl-C, or run this one beside it:  npm run demo -- --transparent --loopback-octet 7 --xds-port 25010 --secure-xds-port 25012 --admin-port 25014\n  Nothing was started.`);
  }
  if (!isClean(left)) log(`an earlier run left these behind; removing them first: ${removeNetwork(net).join(', ')}`);
  const group = new ProcessGroup();
  let forward: Server | undefined;
  let removed = false;
  const removeAll = (): void => { if (!removed) { removed = true; removeNetwork(net); } };
  // Even an uncaught exception or process.exit() removes the network (signals go through stop()).
  process.once('exit', removeAll);
  const listeners: ((e: CallEvent) => void)[] = [];
  let stopping = false;
  let crash: (msg: string) => void = () => undefined;
  const crashed = new Promise<string>((r) => { crash = r; });
  const watchCrash = (c: DemoChild): void => { void c.exit().then(() => { if (!stopping) crash(`${c.name} exited unexpectedly; see ${join(logDir, c.name + '.log')}:\n${c.tail().trim().split('\n').slice(-10).join('\n')}`); }); };
  const stopAll = async (): Promise<void> => {
    stopping = true;
    await group.stopAll();
    await new Promise<void>((r) => (forward ? forward.close(() => r()) : r()));
    removeAll();
    process.removeListener('exit', removeAll);
  };
  try {
    createNetwork(net);
    const envoyPath = prepareRuntimeDir(net, envoyBin);
    const { meshd, ports, adminUrl: meshdBridgeUrl } = await startDemoMeshd(group, { configDir, stateDir, logDir, listenAddress: net.hostAddress, xdsPort: o.xdsPort, secureXdsPort: o.secureXdsPort, adminPort: o.adminPort, ...(o.meshdArgs ? { meshdArgs: o.meshdArgs } : {}), ...(o.env ? { env: o.env } : {}) });
    watchCrash(meshd);
    forward = await forwardAdmin(o.adminPort === 0 ? 0 : ports.admin, net.hostAddress, ports.admin);
    const fwd = forward.address();
    const meshdUrl = `http://127.0.0.1:${typeof fwd === 'object' && fwd ? fwd.port : ports.admin}`;
    applyRedirect(net, { meshdHost: net.hostAddress, meshdPorts: [ports.xds, ports.secureXds] });

    const key = loadOrCreateTokenSigningKey(stateDir);
    const workloads: RunningWorkload[] = [];
    for (const w of DEMO_WORKLOADS) {
      const ns = net.workloads.find((x) => x.name === w.name)!.netns;
      let envoy: DemoChild | undefined;
      if (w.sidecar) {
        const token = mintJoinToken({ namespace: DEMO_NAMESPACE, serviceAccount: w.serviceAccount, ttlSeconds: 24 * 3600 }, key.privateKey);
        const text = YAML.stringify(demoBootstrap(plan, w.name, { xdsPort: ports.xds, adminPort: NETNS_ENVOY_ADMIN_PORT, token, mode: 'transparent' }));
        writeFileSync(join(bootDir, `${w.name}.transparent.yaml`), text, { mode: 0o600 });
        const bootFile = writeProxyFile(net, `${w.name}.yaml`, text);
        envoy = group.start(`${w.name}-envoy`, 'ip', [...proxyCommand(ns), envoyPath,
          '-c', bootFile, '--disable-hot-restart', '--concurrency', '1', '-l', 'warning', '--drain-time-s', '1', '--drain-strategy', 'immediate', '--parent-shutdown-time-s', '2',
        ], { logFile: join(logDir, `${w.name}-envoy.log`) });
        await waitUntil('config from meshd (/ready inside the namespace)', envoy, async () =>
          ((await netnsFetch(ns, `http://127.0.0.1:${NETNS_ENVOY_ADMIN_PORT}/ready`)).status === 200 ? true : undefined), 30000);
        watchCrash(envoy);
      }
      const target = callTarget(plan, w);
      const args = ['netns', 'exec', ns, process.execPath, join(REPO_ROOT, 'dist', 'src', 'demo', 'app-main.js'), '--name', w.name, '--exit-on-stdin-close'];
      // 0.0.0.0 like a pod's app: only the redirect to the sidecar keeps plaintext callers out.
      if (w.port) args.push('--listen', `0.0.0.0:${w.port}`);
      if (target && w.calls) {
        args.push('--call', `http://${target.host}:${target.port}${target.path}`, '--call-name', w.calls.to, '--host-header', target.hostHeader, '--interval', `${w.calls.intervalMs}ms`);
      }
      const app = await startDemoApp(group, w.name, 'ip', args, join(logDir, `${w.name}.log`), listeners, Boolean(w.port));
      watchCrash(app);
      workloads.push({ name: w.name, app, ...(envoy ? { envoy } : {}) });
    }
    return {
      mode: 'transparent', network: net, meshdBridgeUrl,
      dir: o.dir, configDir, plan, meshd, meshdUrl, ports, workloads,
      pids: () => group.list().map((c) => c.pid),
      onCall: (cb) => { listeners.push(cb); },
      crashed,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

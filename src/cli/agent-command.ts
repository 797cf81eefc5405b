/**
 * `meshctl agent`: the node agent beside one Envoy. Wraps runAgent; stops on SIGTERM/SIGINT
 * and removes its SDS socket.
 */
import type { Command } from './command.js';
import { flagHelp, parseFlags, FlagError, type FlagSpec } from '../util/flags.js';
import { AgentError, runAgent, type AgentOptions } from '../sds/agent.js';
import { startStatusServer, type StatusServer } from '../sds/agent-status.js';
import type { AppProber } from '../k8s/probes.js';
import { APP_PROBERS_ENV } from '../k8s/probes.js';

/** The rewritten app probes from ISTIO_KUBE_APP_PROBERS (set by injection); a bad value is a FlagError. */
export function probersFromEnv(env: NodeJS.ProcessEnv): Record<string, AppProber> {
  const raw = env[APP_PROBERS_ENV];
  if (!raw) return {};
  let v: unknown;
  try { v = JSON.parse(raw); } catch (e) { throw new FlagError(`${APP_PROBERS_ENV}: not JSON: ${e instanceof Error ? e.message : String(e)}`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FlagError(`${APP_PROBERS_ENV}: must be a JSON object keyed by probe path`);
  for (const [k, p] of Object.entries(v as Record<string, unknown>)) {
    const ok = typeof p === 'object' && p !== null && ['httpGet', 'tcpSocket', 'grpc'].some((x) => x in p);
    if (!k.startsWith('/app-health/') || !ok) throw new FlagError(`${APP_PROBERS_ENV}: ${JSON.stringify(k)}: expected /app-health/... with httpGet, tcpSocket or grpc`);
  }
  return v as Record<string, AppProber>;
}

const FLAGS: readonly FlagSpec[] = [
  { name: 'meshd', env: 'MESHD_CA_ADDR', type: 'string', help: 'meshd\'s CA address HOST:PORT (its secure port 15012 with --ca-cert) (required)' },
  { name: 'token-file', env: 'MESHD_TOKEN_FILE', type: 'string', help: 'file holding the join or service-account token (re-read at every renewal) (required)' },
  { name: 'socket', env: 'MESHD_SDS_SOCKET', type: 'string', help: 'Unix socket Envoy reads its secrets from (required)' },
  { name: 'ca-cert', env: 'MESHD_CA_CERT', type: 'string', help: 'root certificate(s) to verify meshd with (TLS); without it the agent talks plaintext' },
  { name: 'server-name', type: 'string', help: 'TLS name expected on meshd\'s certificate (default: the host of --meshd)' },
  { name: 'cert-ttl', type: 'duration', help: 'lifetime to request (default: meshd\'s --cert-ttl)' },
  { name: 'bundle-refresh', type: 'duration', default: '30s', help: 'how often to re-read the trust bundle from meshd (root rotation); 0s turns it off' },
  { name: 'status-port', type: 'int', help: 'serve the status port here (app probes, /healthz/*, /drain, /quitquitquit; 15020 in injected pods); 0 picks one' },
  { name: 'envoy-admin', type: 'string', default: '127.0.0.1:15000', help: 'Envoy\'s admin address (drain, quit, readiness)' },
  { name: 'drain-duration', type: 'duration', default: '5s', help: 'how long /drain waits for in-flight inbound connections (ProxyConfig terminationDrainDuration)' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

const USAGE = 'usage: meshctl agent --meshd HOST:PORT --token-file F --socket PATH [--ca-cert root.pem]';

/** Turns parsed flags into agent options; throws FlagError on a missing required flag. */
export function agentOptionsOf(v: Record<string, string | number | boolean | undefined>): AgentOptions {
  for (const k of ['meshd', 'token-file', 'socket']) if (!v[k]) throw new FlagError(`--${k} is required`);
  return {
    meshd: String(v.meshd), tokenFile: String(v['token-file']), socket: String(v.socket),
    ...(v['ca-cert'] ? { caCertFile: String(v['ca-cert']) } : {}),
    ...(v['server-name'] ? { serverName: String(v['server-name']) } : {}),
    ...(v['cert-ttl'] !== undefined ? { ttlSeconds: Math.round((v['cert-ttl'] as number) / 1000) } : {}),
    bundleRefreshMs: v['bundle-refresh'] as number,
  };
}

function envoyAnswers(address: string): Promise<boolean> {
  const i = address.lastIndexOf(':');
  return fetch(`http://${address.slice(0, i)}:${address.slice(i + 1)}/ready`, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
}

export const agentCommand: Command = {
  path: ['agent'],
  summary: 'node agent: keeps the workload key, gets certificates by CSR, serves SDS to Envoy on a Unix socket',
  async run(args) {
    const { values: v, positional } = parseFlags(FLAGS, args);
    if (v.help) { process.stdout.write(flagHelp(USAGE, FLAGS)); return 0; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    const opts = agentOptionsOf(v);
    // Listen for signals from the start, so a stop during start-up still cleans up.
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    let agent;
    try {
      agent = await runAgent(opts);
    } catch (e) {
      process.stderr.write(`meshctl agent: ${e instanceof Error ? e.message : String(e)}\n`);
      return e instanceof AgentError && e.permanent ? 1 : 2;
    }
    let status: StatusServer | undefined;
    const native = process.env.MESHD_NATIVE_SIDECAR !== 'false';
    const quit = new Promise<'quit'>((resolve) => {
      if (v['status-port'] === undefined) return;
      const a = agent;
      startStatusServer({
        port: v['status-port'] as number, envoyAdmin: String(v['envoy-admin']), probers: probersFromEnv(process.env),
        ...(process.env.POD_IP ? { appHost: process.env.POD_IP } : {}),
        appPorts: (process.env.MESHD_APP_PORTS ?? '').split(',').filter((x) => /^\d+$/.test(x)).map(Number),
        native, drainMs: v['drain-duration'] as number, hasCertificate: () => a.notAfter() !== undefined,
        log: (l) => process.stderr.write(l + '\n'), onQuit: () => resolve('quit'),
      }).then((s) => { status = s; process.stderr.write(`agent: status port ${s.port}\n`); }, (e: unknown) => {
        process.stderr.write(`meshctl agent: ${e instanceof Error ? e.message : String(e)}\n`);
        resolve('quit');
      });
    });
    const why = await Promise.race([stopped, quit]);
    process.stderr.write(`agent: ${why}: stopping\n`);
    if (why !== 'quit' && !native && status) {
      // Classic containers all get SIGTERM at once: keep serving Envoy's secrets until it has
      // drained and exited (Envoy's admin stops answering), at most 2 minutes.
      const admin = String(v['envoy-admin']);
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && await envoyAnswers(admin)) await new Promise((r) => setTimeout(r, 250));
    }
    await status?.close();
    await agent.close();
    return 0;
  },
};

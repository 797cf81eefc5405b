/**
 * meshd's entry point: flags (each also an environment variable), then the control plane.
 */
import { existsSync } from 'node:fs';
import { FlagError, flagHelp, parseFlags } from '../util/flags.js';
import { createLogger } from '../util/log.js';
import { MESHD_FLAGS, toMeshdOptions, type MeshdOptions } from '../meshd/options.js';
import { startMeshd, type MeshdExtras } from '../meshd/meshd.js';

async function main(): Promise<void> {
  let opts: MeshdOptions;
  try {
    const { values, positional } = parseFlags(MESHD_FLAGS, process.argv.slice(2));
    if (values.help) { process.stdout.write(flagHelp('usage: meshd [flags]', MESHD_FLAGS)); return; }
    if (positional.length) throw new FlagError(`unexpected argument ${JSON.stringify(positional[0])}`);
    opts = toMeshdOptions(values);
  } catch (e) {
    process.stderr.write(`meshd: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
    return;
  }
  const log = createLogger({ level: opts.logLevel });
  const extras: MeshdExtras = await kubernetesExtras(opts, log);
  let meshd;
  try {
    meshd = await startMeshd(opts, log, extras);
  } catch (e) {
    log.error('meshd failed to start', { error: e instanceof Error ? e.message : String(e) });
    process.stderr.write(`meshd: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  log.info('meshd listening', {
    xdsPort: meshd.xdsPort, secureXdsPort: meshd.secureXdsPort, adminPort: meshd.adminPort,
    listenAddress: opts.listenAddress, source: extras.source?.kind ?? 'file', configDir: extras.source ? undefined : opts.configDir,
  });
  let closing = false;
  const stop = (sig: string): void => {
    if (closing) return;
    closing = true;
    log.info('meshd stopping', { signal: sig });
    meshd.close().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 5000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** Kubernetes mode when a kubeconfig is given or meshd runs in a cluster; else the file store. */
async function kubernetesExtras(opts: MeshdOptions, log: ReturnType<typeof createLogger>): Promise<MeshdExtras> {
  // In a pod: the API server's address in the environment and a mounted service-account token.
  const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST) && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
  if (!opts.kubeconfig && !inCluster) return {};
  const k8s = await import('../k8s/mode.js');
  return k8s.kubernetesMode(opts, log);
}

void main();

/**
 * What the demo checks before it starts anything: the Envoy binary, the config folder, and
 * every port it is going to listen on. Each failure is a DemoError whose message says what
 * to do, so a new user never has to read a stack trace.
 */
import { existsSync, accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createFileStore } from '../config/file-store.js';
import { formatDiagnostic } from '../model/types.js';

export type DemoErrorCode = 'envoy-missing' | 'config-invalid' | 'port-in-use' | 'start-failed' | 'bad-flag' | 'canary-not-applied';

/** An expected failure of the demo, with a stable code and a message that says what to do. */
export class DemoError extends Error {
  constructor(readonly code: DemoErrorCode, message: string) {
    super(message);
  }
}

export const ENVOY_VERSION = '1.40.0';

/** The pinned Envoy: $MESH_ENVOY_BIN, else the cache scripts/ensure-envoy.sh fills. */
export function findEnvoy(env: NodeJS.ProcessEnv = process.env): string {
  const tried: string[] = [];
  const fromEnv = env.MESH_ENVOY_BIN;
  if (fromEnv) tried.push(`$MESH_ENVOY_BIN=${fromEnv}`);
  const cached = join(env.MESH_CACHE_DIR ?? join(homedir(), '.cache', 'meshd'), `envoy-${ENVOY_VERSION}`, 'envoy');
  tried.push(cached);
  for (const p of [fromEnv, cached]) {
    if (!p || !existsSync(p)) continue;
    try { accessSync(p, constants.X_OK); return p; } catch { /* not executable: keep looking */ }
  }
  throw new DemoError('envoy-missing', `Envoy ${ENVOY_VERSION} was not found (looked at ${tried.join(', ')}).\n` +
    `  Install it once with:  bash scripts/ensure-envoy.sh\n` +
    `  (or point MESH_ENVOY_BIN at an Envoy ${ENVOY_VERSION} binary), then run the demo again.`);
}

/** Loads the config folder once, as meshd will; any error-level diagnostic stops the demo. */
export async function checkConfigFolder(dir: string): Promise<number> {
  const store = createFileStore({ dir, watch: false, rescanIntervalMs: 0 });
  await store.start();
  store.close();
  const errors = store.diagnostics().filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    throw new DemoError('config-invalid', `the demo's config folder ${dir} has ${errors.length} error(s):\n` +
      errors.map((d) => `  ${formatDiagnostic(d)}`).join('\n') +
      `\n  Fix the file(s) above, or start over from the generated folder with:  npm run demo -- --reset`);
  }
  return store.objects().length;
}

export interface PortNeed {
  readonly host: string;
  readonly port: number;
  /** What listens there, e.g. "meshd admin (--admin-port)". */
  readonly what: string;
  /** How to pick another port, when the user can. */
  readonly hint?: string;
}

function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

/** Checks each host:port can be listened on now; the first one taken is a DemoError. Port 0 is skipped. */
export async function checkPorts(needs: readonly PortNeed[]): Promise<void> {
  for (const n of needs) {
    if (n.port === 0) continue;
    const e = await tryListen(n.host, n.port);
    if (!e) continue;
    if (e.code === 'EADDRINUSE') {
      throw new DemoError('port-in-use', `${n.host}:${n.port} (${n.what}) is already in use.\n` +
        `  See what holds it:  ss -ltnp 'sport = :${n.port}'   (another \`npm run demo\` or meshd still running? stop it with Ctrl-C)\n` +
        (n.hint ? `  Or use another port:  ${n.hint}\n` : '') + '  Nothing was started.');
    }
    throw new DemoError('port-in-use', `cannot listen on ${n.host}:${n.port} (${n.what}): ${e.code ?? e.message}. Nothing was started.`);
  }
}

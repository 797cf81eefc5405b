/**
 * The demo's meshd and app child processes and their readiness waits, shared by the explicit
 * and the transparent demos.
 */
import { join } from 'node:path';
import { DemoError } from './checks.js';
import type { CallEvent } from './app.js';
import type { DemoChild, ProcessGroup } from './processes.js';
import { REPO_ROOT } from './topology.js';

/** Polls `fn` until it returns a value; fails with the child's last output if it exits or times out. */
export async function waitUntil<T>(what: string, child: DemoChild, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const tail = (): string => child.tail().trim().split('\n').slice(-15).map((l) => `  ${l}`).join('\n');
  for (;;) {
    if (child.exited()) throw new DemoError('start-failed', `${child.name} exited while starting (${what}). Its last output:\n${tail()}`);
    try { const v = await fn(); if (v !== undefined) return v; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new DemoError('start-failed', `${child.name} did not get ready within ${timeoutMs / 1000}s (${what}). Its last output:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface DemoMeshdOptions {
  readonly configDir: string;
  readonly stateDir: string;
  readonly logDir: string;
  readonly xdsPort: number;
  readonly secureXdsPort: number;
  readonly adminPort: number;
  /** Address meshd binds (default its own default, 127.0.0.1); also where /ready is asked. */
  readonly listenAddress?: string;
  readonly meshdArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts meshd in `group` and waits until it logs its ports and answers /ready. */
export async function startDemoMeshd(group: ProcessGroup, o: DemoMeshdOptions): Promise<{ meshd: DemoChild; ports: { xds: number; secureXds: number; admin: number }; adminUrl: string }> {
  const meshd = group.start('meshd', process.execPath, [
    join(REPO_ROOT, 'bin', 'meshd'), '--config-dir', o.configDir, '--state-dir', o.stateDir,
    ...(o.listenAddress ? ['--listen-address', o.listenAddress] : []),
    '--xds-port', String(o.xdsPort), '--secure-xds-port', String(o.secureXdsPort), '--admin-port', String(o.adminPort),
    ...(o.meshdArgs ?? []),
  ], { logFile: join(o.logDir, 'meshd.log'), ...(o.env ? { env: o.env } : {}) });
  let listening: { xds: number; secureXds: number; admin: number } | undefined;
  meshd.onLine((l) => {
    if (!l.startsWith('{')) return;
    try {
      const j = JSON.parse(l) as { msg?: string; xdsPort?: number; secureXdsPort?: number; adminPort?: number };
      if (j.msg === 'meshd listening') listening = { xds: Number(j.xdsPort), secureXds: Number(j.secureXdsPort), admin: Number(j.adminPort) };
    } catch { /* not a log line */ }
  });
  const ports = await waitUntil('listening', meshd, () => listening, 30000);
  const adminUrl = `http://${o.listenAddress ?? '127.0.0.1'}:${ports.admin}`;
  await waitUntil('/ready', meshd, async () => ((await fetch(`${adminUrl}/ready`)).ok ? true : undefined), 30000);
  return { meshd, ports, adminUrl };
}

/**
 * Starts one demo app, hands its call events to `listeners` (read at each event, so listeners
 * added later are called too) and, when it serves a port, waits until it listens.
 */
export async function startDemoApp(group: ProcessGroup, name: string, command: string, args: readonly string[], logFile: string, listeners: readonly ((e: CallEvent) => void)[], serves: boolean): Promise<DemoChild> {
  const app = group.start(name, command, args, { logFile, stdinPipe: true });
  app.onLine((l) => {
    if (!l.startsWith('{"event":"call"')) return;
    const e = JSON.parse(l) as CallEvent;
    for (const cb of listeners) cb(e);
  });
  if (serves) await waitUntil('listening', app, () => (/"event":"listening"/.test(app.tail()) ? true : undefined), 15000);
  return app;
}

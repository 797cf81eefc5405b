/**
 * The demo's child processes (meshd, Envoys, apps): started with their output in a log file,
 * stopped together in reverse start order (SIGTERM, then SIGKILL). Where `setpriv` exists,
 * each child also gets a parent-death signal, so even a `kill -9` of the demo leaves nothing
 * behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface DemoChild {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  exited(): boolean;
  /** The last few KB of output, for error messages. */
  tail(): string;
  /** Called with each complete line of stdout or stderr. */
  onLine(cb: (line: string) => void): void;
  /** Resolves when the process has exited. */
  exit(): Promise<void>;
}

export interface StartOptions {
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Keep a stdin pipe open (apps exit when it closes). */
  readonly stdinPipe?: boolean;
}

let pdeathsig: boolean | undefined;
function hasPdeathsig(): boolean {
  if (pdeathsig === undefined) {
    const r = spawnSync('setpriv', ['--pdeathsig', 'SIGTERM', '--', 'true'], { stdio: 'ignore' });
    pdeathsig = r.status === 0;
  }
  return pdeathsig;
}

const alive = new Set<DemoChild>();
process.once('exit', () => { for (const c of alive) if (!c.exited()) c.process.kill('SIGKILL'); });

export class ProcessGroup {
  private readonly children: DemoChild[] = [];

  /** Every child started so far, in start order. */
  list(): readonly DemoChild[] { return this.children; }

  /** Starts `command args`; its stdout and stderr go to `logFile`. */
  start(name: string, command: string, args: readonly string[], o: StartOptions): DemoChild {
    const argv = [...(hasPdeathsig() ? ['setpriv', '--pdeathsig', 'SIGTERM', '--'] : []), command, ...args];
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: [o.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
    const log: WriteStream = createWriteStream(o.logFile, { flags: 'a' });
    let tail = '';
    let done = false;
    const lineListeners: ((l: string) => void)[] = [];
    const keep = (s: string): void => { tail = (tail + s).slice(-4000); };
    const follow = (stream: NodeJS.ReadableStream): void => {
      let partial = '';
      stream.on('data', (d: Buffer) => {
        const s = d.toString();
        log.write(s);
        keep(s);
        partial += s;
        const lines = partial.split('\n');
        partial = lines.pop()!;
        for (const l of lines) for (const cb of lineListeners) cb(l);
      });
    };
    follow(proc.stdout!);
    follow(proc.stderr!);
    const exited = new Promise<void>((resolve) => {
      proc.once('exit', () => { done = true; alive.delete(child); resolve(); });
      proc.once('error', (e) => { done = true; keep(`\n${e.message}`); alive.delete(child); resolve(); });
    });
    void exited.then(() => log.end());
    const child: DemoChild = {
      name, pid: proc.pid ?? -1, process: proc,
      exited: () => done,
      tail: () => tail,
      onLine: (cb) => { lineListeners.push(cb); },
      exit: () => exited,
    };
    this.children.push(child);
    alive.add(child);
    return child;
  }

  /** Stops every child, newest first; SIGKILL after `graceMs`. Resolves when all have exited. */
  async stopAll(graceMs = 4000): Promise<void> {
    for (const c of [...this.children].reverse()) {
      if (c.exited()) continue;
      c.process.stdin?.end();
      c.process.kill('SIGTERM');
      const killed = await Promise.race([c.exit().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs))]);
      if (!killed) { c.process.kill('SIGKILL'); await c.exit(); }
    }
  }
}

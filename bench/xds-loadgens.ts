/**
 * The parent's side of the xDS bench's load generator: forks one or more xds-loadgen
 * processes (each with a slice of the sidecars), starts the storm, waits until a change has
 * reached every affected sidecar (the last receipt time, on the monotonic clock every process
 * shares), and reads back config sizes and CPU seconds.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a load generator waits for: the change has arrived at a sidecar when a response carries it. */
export type Expectation = { readonly id: number; readonly cluster: string; readonly timeoutMs: number } & (
  | { readonly kind: 'endpoints'; readonly newAddress: string }
  | { readonly kind: 'cluster'; readonly connectTimeoutS: number }
  | { readonly kind: 'service' }
);

/** An expectation before the pool numbers it. */
export type ExpectationSpec = Expectation extends infer E ? (E extends unknown ? Omit<E, 'id'> : never) : never;

/** One sidecar's resources by type URL: count, bytes (Any values) and names. */
export type ConfigStats = Record<string, { count: number; bytes: number; names: string[] }>;

/** Parent → load generator. */
export type ParentMsg =
  | { cmd: 'start'; address: string; first: number; count: number; delta: boolean }
  | { cmd: 'expect'; expect: Expectation }
  | { cmd: 'config' }
  | { cmd: 'cpu' }
  | { cmd: 'status' }
  | { cmd: 'stop' }
  | { cmd: 'profile-start' }
  | { cmd: 'profile-stop'; file: string };

/** Load generator → parent. */
export type LoadgenMsg =
  | { hello: true }
  | { ready: number; ms: number; retries: number; spread: string }
  | { expecting: number; affected: number }
  | { expected: number; done: boolean; seen: number; affected: number; lastNs: string; responses: Record<string, number>; bytes: Record<string, number> }
  | { config: ConfigStats; retries: number }
  | { cpu: number }
  | { status: { ready: number; sidecars: number } }
  | { profiled: string }
  | { stopped: true };

/** A change's arrival as the load generators saw it. */
export interface Arrival {
  readonly done: boolean;
  readonly seen: number;
  readonly affected: number;
  /** hrtime (ns) of the last affected sidecar's receipt. */
  readonly lastNs: bigint;
  /** Responses and bytes every sidecar received while waiting, by type URL. */
  readonly responses: Record<string, number>;
  readonly bytes: Record<string, number>;
}

function waitMsg<K extends string>(child: ChildProcess, key: K, ms: number, pred: (m: LoadgenMsg) => boolean = () => true): Promise<Extract<LoadgenMsg, Record<K, unknown>>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`load generator: no '${key}' within ${ms} ms`));
    }, ms);
    const on = (m: LoadgenMsg): void => {
      if (!(key in m) || !pred(m)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as Extract<LoadgenMsg, Record<K, unknown>>);
    };
    child.on('message', on);
  });
}

const add = (a: Record<string, number>, b: Record<string, number>): void => {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
};

/** N load generator processes sharing `count` sidecars. */
export class LoadgenPool {
  private readonly children: ChildProcess[] = [];
  private seq = 0;

  private constructor() {}

  /** Forks `procs` load generators and waits for each to say hello. */
  static async start(procs: number): Promise<LoadgenPool> {
    const pool = new LoadgenPool();
    const here = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < procs; i++) pool.children.push(fork(join(here, 'xds-loadgen.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    await Promise.all(pool.children.map((c) => waitMsg(c, 'hello', 30_000)));
    return pool;
  }

  get size(): number {
    return this.children.length;
  }

  /** Opens `count` sidecars against `address`; resolves when every one is ready. */
  async storm(address: string, count: number, delta: boolean, timeoutMs: number): Promise<{ retries: number; spreads: string[] }> {
    const n = this.children.length;
    const waits = this.children.map((c, i) => {
      const first = Math.floor((i * count) / n);
      const last = Math.floor(((i + 1) * count) / n);
      const w = waitMsg(c, 'ready', timeoutMs);
      c.send({ cmd: 'start', address, first, count: last - first, delta } satisfies ParentMsg);
      return w;
    });
    const rs = await Promise.all(waits);
    return { retries: rs.reduce((a, r) => a + r.retries, 0), spreads: rs.map((r) => r.spread) };
  }

  /**
   * Registers an expectation in every load generator and resolves once all have it (so no
   * response is missed); the returned `arrival` resolves when every affected sidecar has it.
   */
  async expect(x: ExpectationSpec): Promise<{ affected: number; arrival: Promise<Arrival> }> {
    const id = ++this.seq;
    const ex = { ...x, id } as Expectation;
    const arrivals = this.children.map((c) => waitMsg(c, 'expected', x.timeoutMs + 10_000, (m) => 'expected' in m && m.expected === id));
    const acks = await Promise.all(
      this.children.map((c) => {
        const w = waitMsg(c, 'expecting', 10_000, (m) => 'expecting' in m && m.expecting === id);
        c.send({ cmd: 'expect', expect: ex } satisfies ParentMsg);
        return w;
      }),
    );
    const arrival = Promise.all(arrivals).then((rs): Arrival => {
      const responses: Record<string, number> = {};
      const bytes: Record<string, number> = {};
      for (const r of rs) {
        add(responses, r.responses);
        add(bytes, r.bytes);
      }
      return {
        done: rs.every((r) => r.done),
        seen: rs.reduce((a, r) => a + r.seen, 0),
        affected: rs.reduce((a, r) => a + r.affected, 0),
        lastNs: rs.reduce((a, r) => (BigInt(r.lastNs) > a ? BigInt(r.lastNs) : a), 0n),
        responses,
        bytes,
      };
    });
    return { affected: acks.reduce((a, r) => a + r.affected, 0), arrival };
  }

  /** Sends `msg` to every load generator and waits for each one's answer carrying `key`. */
  private ask<K extends string>(msg: ParentMsg, key: K, ms: number): Promise<Extract<LoadgenMsg, Record<K, unknown>>[]> {
    return Promise.all(
      this.children.map((c) => {
        const w = waitMsg(c, key, ms);
        c.send(msg);
        return w;
      }),
    );
  }

  /** The first load generator's sample sidecar's config, and the retries of all. */
  async config(): Promise<{ config: ConfigStats; retries: number }> {
    const rs = await this.ask({ cmd: 'config' }, 'config', 30_000);
    return { config: rs[0]!.config, retries: rs.reduce((a, r) => a + r.retries, 0) };
  }

  /** CPU seconds (user + system) the load generators have used so far. */
  async cpuSeconds(): Promise<number> {
    const rs = await this.ask({ cmd: 'cpu' }, 'cpu', 10_000);
    return rs.reduce((a, r) => a + r.cpu, 0);
  }

  /** Sidecars ready so far, over all processes (e.g. when a server died mid-storm). */
  async status(): Promise<{ ready: number; sidecars: number }> {
    const rs = await this.ask({ cmd: 'status' }, 'status', 10_000);
    return { ready: rs.reduce((a, r) => a + r.status.ready, 0), sidecars: rs.reduce((a, r) => a + r.status.sidecars, 0) };
  }

  profileStart(): void {
    for (const c of this.children) c.send({ cmd: 'profile-start' } satisfies ParentMsg);
  }

  /** Stops the profilers; one file per process (`<base>.loadgen-<i>.cpuprofile`). */
  async profileStop(base: string): Promise<string[]> {
    return Promise.all(
      this.children.map((c, i) => {
        const w = waitMsg(c, 'profiled', 30_000);
        c.send({ cmd: 'profile-stop', file: base.replace(/(\.cpuprofile)?$/, `.loadgen-${i}.cpuprofile`) } satisfies ParentMsg);
        return w.then((m) => m.profiled);
      }),
    );
  }

  /** Closes every sidecar and ends the processes. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (c) => {
        if (c.exitCode !== null) return;
        const gone = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        c.send({ cmd: 'stop' } satisfies ParentMsg);
        await gone;
        c.kill();
      }),
    );
  }
}

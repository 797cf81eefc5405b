/**
 * Parses YAML off the event loop: one worker thread, one job at a time, with a heap cap and
 * a time limit. A worker that runs out of memory or time is ended and replaced; its job is a
 * failure naming the limit, so the caller reports the file and keeps its last good objects.
 * An idle worker is ended after 10 s, so the heap a big parse grew is given back.
 */
import { Worker } from 'node:worker_threads';
import { parseYamlDocuments, type YamlLimits, type YamlOutcome } from './safe-yaml.js';

export interface YamlParserOptions {
  /** Per file; a parse that takes longer is abandoned. Default 20 s. */
  readonly timeoutMs?: number;
  /** Heap of the worker; default 1024 MB. */
  readonly maxHeapMb?: number;
  /** Parse on the calling thread (tests that compare); default false. */
  readonly inline?: boolean;
}

export interface YamlParser {
  /** Parses one file's text; never rejects. */
  parse(text: string, limits: YamlLimits): Promise<YamlOutcome>;
  /** Ends the worker. */
  close(): void;
}

interface Pending { readonly id: number; readonly resolve: (o: YamlOutcome) => void; timer?: ReturnType<typeof setTimeout> }

/** Creates a parser; the worker starts on the first parse and is unref'd while idle. */
export function createYamlParser(opts: YamlParserOptions = {}): YamlParser {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  let worker: Worker | undefined;
  let current: Pending | undefined;
  let nextId = 0;
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  let idle: ReturnType<typeof setTimeout> | undefined;

  const finish = (o: YamlOutcome): void => {
    const p = current;
    current = undefined;
    if (!p) return;
    if (p.timer) clearTimeout(p.timer);
    worker?.unref();
    idle = setTimeout(kill, 10_000);
    idle.unref();
    p.resolve(o);
  };
  const kill = (): void => {
    const w = worker;
    worker = undefined;
    void w?.terminate();
  };
  const spawn = (): Worker => {
    const w = new Worker(new URL('./yaml-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 1024, stackSizeMb: 4 },
    });
    w.on('message', (m: { id: number; outcome: YamlOutcome }) => { if (current?.id === m.id) finish(m.outcome); });
    w.on('error', (e: Error) => {
      if (worker === w) worker = undefined;
      const oom = /memory/i.test(e.message) || (e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
      finish({ ok: false, message: oom ? `parsing needs more than ${opts.maxHeapMb ?? 1024} MB; refused` : `parser failed: ${e.message}` });
    });
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      finish({ ok: false, message: 'parser stopped' });
    });
    w.unref();
    return w;
  };

  const run = (text: string, limits: YamlLimits): Promise<YamlOutcome> => new Promise((resolve) => {
    if (closed) { resolve({ ok: false, message: 'parser closed' }); return; }
    if (idle) { clearTimeout(idle); idle = undefined; }
    worker ??= spawn();
    worker.ref();
    const id = ++nextId;
    current = { id, resolve };
    current.timer = setTimeout(() => {
      finish({ ok: false, message: `parsing took longer than ${Math.round(timeoutMs / 1000)} s; refused` });
      kill();
    }, timeoutMs);
    worker.postMessage({ id, text, limits });
  });

  return {
    parse(text, limits) {
      if (opts.inline) return Promise.resolve(parseYamlDocuments(text, limits));
      const job = chain.then(() => run(text, limits));
      chain = job;
      return job;
    },
    close() {
      closed = true;
      if (idle) clearTimeout(idle);
      kill();
    },
  };
}

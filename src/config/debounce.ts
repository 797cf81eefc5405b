/**
 * A debouncer with a quiet period and a ceiling (as Istio's PILOT_DEBOUNCE_AFTER/MAX and
 * Contour's holdoff): a burst of triggers fires once, `quietMs` after the last trigger, but
 * never later than `maxMs` after the first one.
 */

export interface DebounceOptions {
  /** Fire after this long without a new trigger. Default 100 ms. */
  readonly quietMs?: number;
  /** Fire at the latest this long after the first trigger of a burst. Default 1000 ms. */
  readonly maxMs?: number;
  /** Clock and timers, injectable for tests. */
  readonly now?: () => number;
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (handle: unknown) => void;
}

export interface Debouncer {
  /** Notes a change; `fn` will run once the burst settles. */
  trigger(): void;
  /** Runs `fn` now if a burst is pending. */
  flush(): void;
  /** Drops a pending burst without running `fn`. */
  cancel(): void;
  readonly pending: boolean;
}

/** Creates a debouncer around `fn`; `fn` never runs twice for one burst. */
export function createDebouncer(fn: () => void, opts: DebounceOptions = {}): Debouncer {
  const quietMs = opts.quietMs ?? 100;
  const maxMs = opts.maxMs ?? 1000;
  const now = opts.now ?? Date.now;
  const setTimer = opts.setTimer ?? ((f: () => void, ms: number) => setTimeout(f, ms));
  const clearTimer = opts.clearTimer ?? ((h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>));
  let first: number | undefined;
  let timer: unknown;
  const stop = (): void => {
    if (timer !== undefined) clearTimer(timer);
    timer = undefined;
    first = undefined;
  };
  const fire = (): void => { stop(); fn(); };
  return {
    trigger() {
      const t = now();
      if (first === undefined) first = t;
      if (timer !== undefined) clearTimer(timer);
      const wait = Math.max(0, Math.min(quietMs, first + maxMs - t));
      timer = setTimer(fire, wait);
    },
    flush() { if (first !== undefined) fire(); },
    cancel: stop,
    get pending() { return first !== undefined; },
  };
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDebouncer } from '../../../src/config/debounce.js';

/** A fake clock: timers run when time is advanced past them. */
function fakeClock() {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => { const id = nextId++; timers.push({ at: now + ms, fn, id }); return id; },
    clearTimer: (h: unknown) => { timers = timers.filter((t) => t.id !== h); },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        now = due.at;
        timers = timers.filter((t) => t !== due);
        due.fn();
      }
      now = end;
    },
  };
}

test('fires once, a quiet period after the last trigger', () => {
  const c = fakeClock();
  let fired = 0;
  const d = createDebouncer(() => { fired++; }, { quietMs: 100, maxMs: 1000, ...c });
  d.trigger(); c.advance(50); d.trigger(); c.advance(99);
  assert.equal(fired, 0);
  c.advance(1);
  assert.equal(fired, 1);
  assert.equal(d.pending, false);
});

test('a steady stream of triggers still fires at the ceiling', () => {
  const c = fakeClock();
  const times: number[] = [];
  const d = createDebouncer(() => { times.push(c.now()); }, { quietMs: 100, maxMs: 1000, ...c });
  for (let t = 0; t < 2500; t += 50) { d.trigger(); c.advance(50); }
  assert.deepEqual(times, [1000, 2000]);
});

test('defaults are 100 ms quiet / 1 s ceiling; flush and cancel', () => {
  const c = fakeClock();
  let fired = 0;
  const d = createDebouncer(() => { fired++; }, c);
  d.trigger(); c.advance(99); assert.equal(fired, 0); c.advance(1); assert.equal(fired, 1);
  d.trigger(); d.flush(); assert.equal(fired, 2); c.advance(500); assert.equal(fired, 2);
  d.trigger(); d.cancel(); c.advance(500); assert.equal(fired, 2);
  d.flush(); assert.equal(fired, 2);
});

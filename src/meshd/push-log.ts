/**
 * The last pushes meshd made, for `/debug/push_status`: what triggered each, the snapshot
 * generation, how many proxies it reached, and whether and how fast they all answered.
 */
import type { PushOutcome } from '../xds/server/index.js';

export interface PushRecord {
  readonly trigger: string;
  readonly generation: number;
  /** ISO 8601, when the push started. */
  readonly started: string;
  /** Undefined while proxies are still answering. */
  readonly outcome?: PushOutcome;
}

const KEPT = 50;

/** A bounded log of pushes (the newest last). */
export class PushLog {
  private readonly records: PushRecord[] = [];
  private inFlight = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Records a push and its outcome when it resolves; returns the same promise. */
  track(trigger: string, generation: number, push: Promise<PushOutcome>): Promise<PushOutcome> {
    const i = this.records.push({ trigger, generation, started: new Date(this.now()).toISOString() }) - 1;
    const rec = this.records[i]!;
    this.inFlight++;
    if (this.records.length > KEPT) this.records.shift();
    return push.then((outcome) => {
      this.inFlight--;
      const at = this.records.indexOf(rec);
      if (at >= 0) this.records[at] = { ...rec, outcome };
      return outcome;
    }, (e: unknown) => { this.inFlight--; throw e; });
  }

  /** The view: pushes in flight and the recent ones, newest first. */
  status(): { inFlight: number; recent: PushRecord[] } {
    return { inFlight: this.inFlight, recent: [...this.records].reverse() };
  }
}

/**
 * What changed between two sets of objects in force, by key and object identity (sources
 * hand over the same instance for an object they did not re-read), for one log line per
 * applied change naming the resources.
 */
import { keyOf, type MeshObject } from '../config/parse.js';

export interface ObjectChanges {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

const SHOWN = 20;

/** Tracks the objects last applied; `next()` returns the changes since, keys sorted. */
export class ChangeTracker {
  private last = new Map<string, MeshObject>();

  next(objects: readonly MeshObject[]): ObjectChanges {
    const now = new Map<string, MeshObject>();
    for (const o of objects) now.set(keyOf(o), o);
    const added: string[] = [];
    const changed: string[] = [];
    for (const [k, o] of now) {
      const old = this.last.get(k);
      if (!old) added.push(k);
      else if (old !== o) changed.push(k);
    }
    const removed = [...this.last.keys()].filter((k) => !now.has(k));
    this.last = now;
    return { added: added.sort(), changed: changed.sort(), removed: removed.sort() };
  }
}

/** Log fields for the changes: counts, and at most 20 keys per list. */
export function changeFields(c: ObjectChanges): Record<string, unknown> {
  const list = (l: readonly string[]): readonly string[] => (l.length > SHOWN ? [...l.slice(0, SHOWN), `(+${l.length - SHOWN} more)`] : l);
  return {
    ...(c.added.length ? { added: list(c.added) } : {}),
    ...(c.changed.length ? { changed: list(c.changed) } : {}),
    ...(c.removed.length ? { removed: list(c.removed) } : {}),
  };
}

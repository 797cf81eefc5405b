/**
 * Per-snapshot index of workloads by namespace and label, so a service's selected workloads
 * are found without scanning every workload (translation asks for each service port, twice).
 */
import type { Labels, MeshSnapshot, Workload } from '../../model/types.js';

type Index = Map<string, Workload[]>;
const indexes = new WeakMap<MeshSnapshot, Index>();
const NONE: readonly Workload[] = Object.freeze([]);

function indexOf(snapshot: MeshSnapshot): Index {
  let idx = indexes.get(snapshot);
  if (!idx) {
    idx = new Map();
    // Snapshot order is kept within each bucket (workloads are sorted by namespace then name).
    for (const w of snapshot.workloads) {
      for (const [k, v] of Object.entries(w.labels)) {
        const key = `${w.namespace}\u0000${k}\u0000${v}`;
        const list = idx.get(key);
        if (list) list.push(w);
        else idx.set(key, [w]);
      }
    }
    indexes.set(snapshot, idx);
  }
  return idx;
}

/** Workloads of `namespace` carrying one label of the selector (a superset of the selected ones), in snapshot order. */
export function workloadCandidates(snapshot: MeshSnapshot, namespace: string, selector: Labels): readonly Workload[] {
  const keys = Object.keys(selector);
  if (keys.length === 0) return NONE;
  const k = keys[0]!;
  return indexOf(snapshot).get(`${namespace}\u0000${k}\u0000${selector[k]}`) ?? NONE;
}

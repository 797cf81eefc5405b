/**
 * Per-snapshot index of workloads by namespace and label, so a service's selected workloads
 * are found without scanning every workload (translation asks for each service port, twice).
 */
import type { Labels, MeshSnapshot, Workload } from '../../model/types.js';

/** Namespace → label key → label value → workloads. Nested maps: no key string per workload label. */
type Index = Map<string, Map<string, Map<string, Workload[]>>>;
const indexes = new WeakMap<MeshSnapshot, Index>();
const NONE: readonly Workload[] = Object.freeze([]);

function indexOf(snapshot: MeshSnapshot): Index {
  let idx = indexes.get(snapshot);
  if (!idx) {
    idx = new Map();
    // Snapshot order is kept within each bucket (workloads are sorted by namespace then name).
    for (const w of snapshot.workloads) {
      let byKey = idx.get(w.namespace);
      if (!byKey) idx.set(w.namespace, (byKey = new Map()));
      for (const k in w.labels) {
        const v = w.labels[k]!;
        let byValue = byKey.get(k);
        if (!byValue) byKey.set(k, (byValue = new Map()));
        const list = byValue.get(v);
        if (list) list.push(w);
        else byValue.set(v, [w]);
      }
    }
    indexes.set(snapshot, idx);
  }
  return idx;
}

/** Workloads of `namespace` carrying one label of the selector (a superset of the selected ones), in snapshot order. */
export function workloadCandidates(snapshot: MeshSnapshot, namespace: string, selector: Labels): readonly Workload[] {
  for (const k in selector) return indexOf(snapshot).get(namespace)?.get(k)?.get(selector[k]!) ?? NONE;
  return NONE;
}

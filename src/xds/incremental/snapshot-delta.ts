/**
 * What changed between two mesh snapshots, at the granularity the incremental push needs:
 * nothing, only workloads (endpoints moved, pods replaced), or anything else. Objects of
 * unchanged files and watch events are the same instances, so most comparisons are by
 * identity; a re-parsed object is compared by value.
 */
import { isDeepStrictEqual } from 'node:util';
import type { MeshSnapshot, Workload } from '../../model/types.js';

/** One workload that was added (`before` absent), removed (`after` absent) or changed. */
export interface WorkloadChange {
  readonly before?: Workload;
  readonly after?: Workload;
}

/** The change between two snapshots; `workloads` lists every workload that differs. */
export type SnapshotDelta =
  | { readonly kind: 'same' }
  | { readonly kind: 'workloads'; readonly changes: readonly WorkloadChange[]; readonly keys: ReadonlySet<string> }
  | { readonly kind: 'full' };

/** Every collection of the snapshot except `workloads`; a change in any of them is 'full'. */
const OTHER_COLLECTIONS = [
  'namespaces', 'services', 'peerAuthentications', 'authorizationPolicies', 'routeSets', 'destinationRules', 'serviceEntries', 'sidecars',
] as const satisfies readonly (keyof MeshSnapshot)[];

/** The key of a workload: `namespace/name`. */
export const workloadKey = (w: Workload): string => `${w.namespace}/${w.name}`;

function sameObject(a: unknown, b: unknown): boolean {
  return a === b || isDeepStrictEqual(a, b);
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameObject(a[i], b[i])) return false;
  return true;
}

/** Lists the workloads that differ; both arrays are sorted by namespace then name (buildSnapshot). */
function workloadChanges(a: readonly Workload[], b: readonly Workload[]): WorkloadChange[] {
  const out: WorkloadChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x && y && x === y) { i++; j++; continue; }
    const kx = x ? workloadKey(x) : undefined;
    const ky = y ? workloadKey(y) : undefined;
    if (kx !== undefined && ky !== undefined && kx === ky) {
      if (!isDeepStrictEqual(x, y)) out.push({ before: x, after: y });
      i++; j++;
    } else if (ky === undefined || (kx !== undefined && order(x!, y!) < 0)) {
      out.push({ before: x });
      i++;
    } else {
      out.push({ after: y });
      j++;
    }
  }
  return out;
}

function order(x: Workload, y: Workload): number {
  const a = x.meta.namespace + '\u0000' + x.meta.name;
  const b = y.meta.namespace + '\u0000' + y.meta.name;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two snapshots; pure. A collection a newer model adds and this list lacks counts as 'full' when it differs. */
export function snapshotDelta(before: MeshSnapshot, after: MeshSnapshot): SnapshotDelta {
  if (before === after) return { kind: 'same' };
  if (!sameObject(before.config, after.config)) return { kind: 'full' };
  for (const k of OTHER_COLLECTIONS) if (!sameList(before[k] as readonly unknown[] | undefined, after[k] as readonly unknown[] | undefined)) return { kind: 'full' };
  // Anything else a later model adds to the snapshot: unknown to this module, so any difference is 'full'.
  for (const k of Object.keys(after) as (keyof MeshSnapshot)[]) {
    if (k === 'generation' || k === 'workloads' || k === 'config' || (OTHER_COLLECTIONS as readonly string[]).includes(k)) continue;
    if (!sameObject(before[k], after[k])) return { kind: 'full' };
  }
  const changes = workloadChanges(before.workloads, after.workloads);
  if (changes.length === 0) return { kind: 'same' };
  const keys = new Set<string>();
  for (const c of changes) keys.add(workloadKey((c.after ?? c.before)!));
  return { kind: 'workloads', changes, keys };
}

const workloadsOnly = new WeakMap<MeshSnapshot, WeakMap<MeshSnapshot, boolean>>();

/**
 * Whether two snapshots differ at most in workloads (memoized per pair): what translation's
 * carried chunks and endpoints rely on to reuse work done for `a` in `b`.
 */
export function differsOnlyInWorkloads(a: MeshSnapshot, b: MeshSnapshot): boolean {
  let inner = workloadsOnly.get(a);
  if (!inner) workloadsOnly.set(a, (inner = new WeakMap()));
  let r = inner.get(b);
  if (r === undefined) inner.set(b, (r = snapshotDelta(a, b).kind !== 'full'));
  return r;
}

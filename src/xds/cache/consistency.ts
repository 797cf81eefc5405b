/**
 * The consistency check run before a proxy's resources are sent: every EDS name a cluster
 * refers to exists among its ClusterLoadAssignments, and every route configuration a
 * listener's HCM names via RDS exists among its RouteConfigurations (as go-control-plane's
 * `Snapshot.Consistent`). References are extracted once per chunk and checked once per chunk and target list.
 */
import { ResourceType, TypeName, TYPE_PREFIX, type EnvoyObject, type ResourceTypeUrl } from '../resource-types.js';
import type { Chunk, ResourceCache } from './resource-cache.js';

/** A proxy's resources by type URL, each a list of shared chunks. */
export type ChunksByType = Readonly<Partial<Record<string, readonly Chunk[]>>>;

const HCM_TYPE = TYPE_PREFIX + TypeName.HttpConnectionManager;
const MEMO_LIMIT_PER_CHUNK = 64;
const NO_PROBLEMS: readonly string[] = Object.freeze([]);

function asObject(v: unknown): EnvoyObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as EnvoyObject) : undefined;
}

function asArray(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The EDS service name a cluster refers to, or undefined when it is not of type EDS. */
export function edsNameOf(cluster: EnvoyObject): string | undefined {
  const t = cluster['type'];
  if (t !== 'EDS' && t !== 3) return undefined;
  const svc = asObject(cluster['eds_cluster_config'])?.['service_name'];
  const name = cluster['name'];
  if (typeof svc === 'string' && svc.length > 0) return svc;
  return typeof name === 'string' ? name : undefined;
}

/** Route configuration names a listener refers to through HCM `rds.route_config_name`. */
export function rdsNamesOf(listener: EnvoyObject): string[] {
  const out: string[] = [];
  const fromHcm = (cfg: EnvoyObject | undefined): void => {
    if (!cfg || cfg['@type'] !== HCM_TYPE) return;
    const n = asObject(cfg['rds'])?.['route_config_name'];
    if (typeof n === 'string' && n.length > 0) out.push(n);
  };
  const fromChain = (chain: unknown): void => {
    for (const f of asArray(asObject(chain)?.['filters'])) fromHcm(asObject(asObject(f)?.['typed_config']));
  };
  for (const chain of asArray(listener['filter_chains'])) fromChain(chain);
  fromChain(listener['default_filter_chain']);
  fromHcm(asObject(asObject(listener['api_listener'])?.['api_listener']));
  return out;
}

/** Checks reference consistency of one proxy's resources; memoized by chunk identity. */
export class ConsistencyChecker {
  private readonly edsRefs = new WeakMap<Chunk, readonly string[]>();
  private readonly rdsRefs = new WeakMap<Chunk, readonly string[]>();
  /** Fast path: the same list arrays (as a generator that reuses them hands out) hit without building keys. */
  private readonly byLists = new WeakMap<readonly Chunk[], WeakMap<readonly Chunk[], readonly string[]>>();

  constructor(private readonly cache: ResourceCache) {}

  /** Problems found, as sentences naming the missing resource; empty when consistent. */
  check(res: ChunksByType): readonly string[] {
    const eds = this.checkPair(ResourceType.Cluster, res[ResourceType.Cluster] ?? [], ResourceType.Endpoint, res[ResourceType.Endpoint] ?? []);
    const rds = this.checkPair(ResourceType.Listener, res[ResourceType.Listener] ?? [], ResourceType.Route, res[ResourceType.Route] ?? []);
    return eds.length === 0 ? rds : rds.length === 0 ? eds : [...eds, ...rds];
  }

  /** Referrers (clusters or listeners) against their targets; memoized by the chunk ids of both. */
  private checkPair(fromType: ResourceTypeUrl, from: readonly Chunk[], toType: ResourceTypeUrl, to: readonly Chunk[]): readonly string[] {
    let inner = this.byLists.get(from);
    const fast = inner?.get(to);
    if (fast) return fast;
    if (!inner) this.byLists.set(from, (inner = new WeakMap()));
    const r = this.checkPairSlow(fromType, from, toType, to);
    inner.set(to, r);
    return r;
  }

  /**
   * Per referring chunk: its problems against a target list, keyed by the target chunks' ids.
   * A proxy's list mixes shared chunks (thousands of outbound clusters) with its own (inbound
   * clusters, listeners), so a key over the whole list is new for every proxy after any change;
   * per chunk, the shared one is checked once per new target list and the own ones are small.
   */
  private readonly byChunk = new WeakMap<Chunk, Map<string, readonly string[]>>();

  private checkPairSlow(fromType: ResourceTypeUrl, from: readonly Chunk[], toType: ResourceTypeUrl, to: readonly Chunk[]): readonly string[] {
    const ids = to.length === 1 ? String(this.cache.chunk(toType, to[0]!).id) : to.map((c) => this.cache.chunk(toType, c).id).join(',');
    const toKey = (fromType === ResourceType.Cluster ? 'c' : 'l') + ids;
    let found: string[] | undefined;
    for (const c of from) {
      const p = this.checkChunk(fromType, c, toType, to, toKey);
      if (p.length > 0) (found ??= []).push(...p);
    }
    return found ? Object.freeze(found) : NO_PROBLEMS;
  }

  private checkChunk(fromType: ResourceTypeUrl, c: Chunk, toType: ResourceTypeUrl, to: readonly Chunk[], toKey: string): readonly string[] {
    let m = this.byChunk.get(c);
    if (!m) this.byChunk.set(c, (m = new Map()));
    const hit = m.get(toKey);
    if (hit) return hit;
    const isCds = fromType === ResourceType.Cluster;
    const names = isCds
      ? this.refs(this.edsRefs, c, (o) => {
          const n = edsNameOf(o);
          return n === undefined ? [] : [n];
        })
      : this.refs(this.rdsRefs, c, rdsNamesOf);
    const problems: string[] = [];
    for (const name of names) {
      if (this.cache.lookup(toType, to, name)) continue;
      problems.push(isCds ? `cluster refers to EDS resource "${name}", which does not exist` : `listener refers to route configuration "${name}", which does not exist`);
    }
    // Bounded per chunk: a long-lived shared chunk meets a new target list on every change.
    if (m.size >= MEMO_LIMIT_PER_CHUNK) m.clear();
    const result = problems.length ? Object.freeze(problems) : NO_PROBLEMS;
    m.set(toKey, result);
    return result;
  }

  private refs(memo: WeakMap<Chunk, readonly string[]>, chunk: Chunk, f: (o: EnvoyObject) => string[]): readonly string[] {
    let r = memo.get(chunk);
    if (!r) memo.set(chunk, (r = chunk.flatMap(f)));
    return r;
  }
}

/**
 * Turns a proxy's translated resources into a self-contained static bootstrap for real Envoy:
 * EDS clusters become STATIC with their ClusterLoadAssignment, RDS is replaced by the route
 * configuration, SDS references by static secrets `default`/`ROOTCA` from PEM files.
 */
import assert from 'node:assert/strict';
import type { EnvoyObject } from '../../../src/xds/resource-types.js';

type Json = unknown;

/** Deep-copies `v`, replacing objects for which `f` returns a value. */
export function rewrite(v: Json, f: (o: Record<string, Json>) => Json | undefined): Json {
  if (Array.isArray(v)) return v.map((x) => rewrite(x, f));
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, Json>;
    const r = f(o);
    if (r !== undefined) return r;
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, rewrite(x, f)]));
  }
  return v;
}

export interface InlineSecrets {
  readonly certFile: string;
  readonly keyFile: string;
  /** Trust bundle; defaults to certFile (self-signed). */
  readonly caFile?: string;
}

/** The static bootstrap; `extra` is merged at the top level (admin, node...). */
export function inlined(listeners: readonly EnvoyObject[], clusters: readonly EnvoyObject[], routes: readonly EnvoyObject[], cla: readonly EnvoyObject[], secrets: InlineSecrets, extra: Record<string, Json> = {}): Json {
  const routeByName = new Map(routes.map((r) => [String(r.name), r]));
  const claByName = new Map(cla.map((c) => [String(c.cluster_name), c]));
  const ls = rewrite(listeners, (o) => {
    const rds = o.rds as { route_config_name?: string } | undefined;
    if (rds?.route_config_name !== undefined) {
      const { rds: _drop, ...rest } = o;
      void _drop;
      const rc = routeByName.get(rds.route_config_name);
      assert.ok(rc, `route configuration ${rds.route_config_name} is emitted`);
      return rewrite({ ...rest, route_config: rc }, () => undefined);
    }
    return undefined;
  });
  const noSds = (v: Json): Json => rewrite(v, (o) => {
    if (typeof o.name === 'string' && 'sds_config' in o) return { name: o.name };
    return undefined;
  });
  const cs = clusters.map((c) => {
    if (c.type !== 'EDS') return c;
    const { eds_cluster_config: _e, ...rest } = c;
    void _e;
    const a = claByName.get(String(c.name));
    assert.ok(a, `endpoints for ${String(c.name)} are emitted`);
    return { ...rest, type: 'STATIC', load_assignment: a };
  });
  return {
    node: { id: 'validate', cluster: 'validate' },
    ...extra,
    static_resources: {
      listeners: noSds(ls),
      clusters: noSds(cs),
      secrets: [
        { name: 'default', tls_certificate: { certificate_chain: { filename: secrets.certFile }, private_key: { filename: secrets.keyFile } } },
        { name: 'ROOTCA', validation_context: { trusted_ca: { filename: secrets.caFile ?? secrets.certFile } } },
      ],
    },
  };
}


/**
 * Telemetry resources are checked against the mesh config before a snapshot is built: a
 * Telemetry that names a provider the mesh config does not have (or one of the wrong kind) is
 * an error naming the object and field, and its last good version stays in force (or, if it
 * never had one, it is left out).
 */
import type { MeshObject, ObjectKey } from '../config/parse.js';
import { keyOf } from '../config/parse.js';
import { applyMeshConfig } from '../config/mesh-config.js';
import type { Diagnostic, MeshConfig, Telemetry, TelemetryProvider } from '../model/types.js';

type Use = 'tracing' | 'accessLogging' | 'metrics';
const KINDS: Readonly<Record<Use, readonly TelemetryProvider['kind'][]>> = {
  tracing: ['zipkin', 'opentelemetry'],
  accessLogging: ['envoyFileAccessLog', 'envoyOtelAls'],
  metrics: ['prometheus'],
};
const BUILTIN: Readonly<Record<Use, readonly string[]>> = { tracing: [], accessLogging: ['envoy'], metrics: ['prometheus'] };

/** Problems with the provider names of one Telemetry under `config` (empty when all resolve). */
export function telemetryProviderProblems(t: Telemetry, config: MeshConfig): Diagnostic[] {
  const out: Diagnostic[] = [];
  const providers = config.telemetryProviders ?? [];
  for (const use of ['tracing', 'accessLogging', 'metrics'] as const) {
    (t[use] ?? []).forEach((entry, i) => {
      (entry.providers ?? []).forEach((name, j) => {
        if (BUILTIN[use].includes(name)) return;
        const p = providers.find((x) => x.name === name);
        const field = `spec.${use}[${i}].providers[${j}].name`;
        const base = { severity: 'error' as const, source: t.meta.source, kind: 'Telemetry', namespace: t.meta.namespace, name: t.meta.name, field };
        if (!p) out.push({ ...base, message: `no extension provider "${name}" in the mesh config (extensionProviders)${config.extensionProviders.some((e) => e.name === name) ? '; it is an ext_authz provider' : ''}` });
        else if (!KINDS[use].includes(p.kind)) out.push({ ...base, message: `provider "${name}" is a ${p.kind} provider, not a ${use} provider (${KINDS[use].join(', ')})` });
      });
    });
  }
  return out;
}

/** Keeps the last good version of Telemetry resources across snapshots. */
export class TelemetryGuard {
  private readonly lastGood = new Map<ObjectKey, MeshObject>();

  /**
   * Replaces every Telemetry whose providers do not resolve under the mesh config in `objects`
   * (merged over `base`) by its last good version, and reports why.
   */
  apply(objects: readonly MeshObject[], base: MeshConfig): { objects: MeshObject[]; diagnostics: Diagnostic[] } {
    const mc = objects.find((o) => o.kind === 'MeshConfig');
    const config = mc && mc.kind === 'MeshConfig' ? applyMeshConfig(base, mc.value.overrides) : base;
    const out: MeshObject[] = [];
    const diagnostics: Diagnostic[] = [];
    const present = new Set<ObjectKey>();
    for (const o of objects) {
      if (o.kind !== 'Telemetry') { out.push(o); continue; }
      const key = keyOf(o);
      present.add(key);
      const problems = telemetryProviderProblems(o.value, config);
      if (!problems.length) { this.lastGood.set(key, o); out.push(o); continue; }
      const prev = this.lastGood.get(key);
      const keeps = prev && prev.kind === 'Telemetry' && telemetryProviderProblems(prev.value, config).length === 0 ? prev : undefined;
      diagnostics.push(...problems.map((d) => ({ ...d, message: `${d.message}; ${keeps ? 'the last good version stays in force' : 'the resource is not applied'}` })));
      if (keeps) out.push(keeps);
    }
    for (const k of [...this.lastGood.keys()]) if (!present.has(k)) this.lastGood.delete(k);
    return { objects: out, diagnostics };
  }
}

/**
 * The Telemetry settings in force for one workload, as Istio merges them: mesh-wide (root
 * namespace, no selector) < namespace-wide (no selector) < workload (selector matching its
 * labels). Per level the oldest resource applies (creation time, then name); the others get a
 * warning. Fields are inherited field by field; metric overrides accumulate, a later level's
 * override of the same metric and tag winning. Pure.
 */
import type {
  CustomTag, Diagnostic, IstioMetricName, Labels, MeshSnapshot, TagOverride, Telemetry, TelemetryProvider, WorkloadMode,
} from '../model/types.js';

/** The standard metrics a sidecar emits (Istio's names, without the ALL_METRICS selector). */
export type StandardMetric = Exclude<IstioMetricName, 'ALL_METRICS' | 'GRPC_REQUEST_MESSAGES' | 'GRPC_RESPONSE_MESSAGES'>;
export const STANDARD_METRICS: readonly StandardMetric[] = [
  'REQUEST_COUNT', 'REQUEST_DURATION', 'REQUEST_SIZE', 'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS', 'TCP_CLOSED_CONNECTIONS', 'TCP_SENT_BYTES', 'TCP_RECEIVED_BYTES',
];

export interface MetricSettings { readonly disabled: boolean; readonly tags: ReadonlyMap<string, TagOverride> }
export type TracingProvider = Extract<TelemetryProvider, { kind: 'zipkin' | 'opentelemetry' }>;
export type AccessLogProvider = Extract<TelemetryProvider, { kind: 'envoyFileAccessLog' | 'envoyOtelAls' }>;

/** One side (client = outbound, server = inbound) of a proxy. */
export interface SideTelemetry {
  /** Absent: no Istio metrics (no prometheus provider). */
  readonly metrics?: ReadonlyMap<StandardMetric, MetricSettings>;
  readonly tracing?: { readonly provider: TracingProvider; readonly sampling: number; readonly customTags: Readonly<Record<string, CustomTag>> };
  /** Absent: meshd's default stdout log. Empty: no access log. */
  readonly accessLogs?: { readonly providers: readonly AccessLogProvider[]; readonly filter?: string };
}

export interface EffectiveTelemetry {
  readonly client: SideTelemetry;
  readonly server: SideTelemetry;
  readonly diagnostics: readonly Diagnostic[];
}

/** The built-in access-log provider `envoy`: Envoy's default format to stdout (as Istio's). */
export const BUILTIN_ENVOY_LOG: AccessLogProvider = { kind: 'envoyFileAccessLog', name: 'envoy', path: '/dev/stdout', format: { kind: 'default' } };
const DEFAULT_SAMPLING = 1;

function selects(sel: Labels, labels: Labels): boolean {
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

function older(a: Telemetry, b: Telemetry): number {
  const x = a.meta.creationTimestamp ?? '';
  const y = b.meta.creationTimestamp ?? '';
  if (x !== y) return x < y ? -1 : 1;
  return a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;
}

function diag(t: Telemetry, field: string, message: string, severity: Diagnostic['severity'] = 'error'): Diagnostic {
  return { severity, source: t.meta.source, kind: 'Telemetry', namespace: t.meta.namespace, name: t.meta.name, field, message };
}

/** The Telemetry resources in force for a workload, from least to most specific. */
export function telemetryLevels(snapshot: MeshSnapshot, namespace: string, labels: Labels, diagnostics: Diagnostic[]): Telemetry[] {
  const all = snapshot.telemetries ?? [];
  const root = snapshot.config.rootNamespace;
  const pick = (list: Telemetry[], what: string): Telemetry | undefined => {
    const sorted = [...list].sort(older);
    for (const t of sorted.slice(1)) diagnostics.push(diag(t, 'metadata.name', `${sorted.length} Telemetry resources apply ${what}; only the oldest (${sorted[0]!.meta.name}) is used`, 'warning'));
    return sorted[0];
  };
  const mesh = pick(all.filter((t) => t.meta.namespace === root && !t.selector), 'mesh-wide');
  const ns = namespace === root ? undefined : pick(all.filter((t) => t.meta.namespace === namespace && !t.selector), `to namespace ${namespace}`);
  const wl = pick(all.filter((t) => t.meta.namespace === namespace && t.selector && selects(t.selector, labels)), 'to this workload');
  return [mesh, ns, wl].filter((t): t is Telemetry => t !== undefined);
}

const applies = (mode: WorkloadMode, side: 'client' | 'server'): boolean => mode === 'CLIENT_AND_SERVER' || (side === 'client' ? mode === 'CLIENT' : mode === 'SERVER');

function provider(snapshot: MeshSnapshot, name: string): TelemetryProvider | undefined {
  if (name === 'prometheus') return { kind: 'prometheus', name };
  if (name === 'envoy') return BUILTIN_ENVOY_LOG;
  return (snapshot.config.telemetryProviders ?? []).find((p) => p.name === name);
}

function metricsFor(snapshot: MeshSnapshot, levels: readonly Telemetry[], side: 'client' | 'server', diags: Diagnostic[]): SideTelemetry['metrics'] {
  let providers: readonly string[] = snapshot.config.defaultProviders?.metrics ?? ['prometheus'];
  const settings = new Map<StandardMetric, { disabled: boolean; tags: Map<string, TagOverride> }>(STANDARD_METRICS.map((m) => [m, { disabled: false, tags: new Map() }]));
  for (const t of levels) {
    (t.metrics ?? []).forEach((m, i) => {
      if (m.providers) {
        m.providers.forEach((n, j) => { if (side === 'server' && !provider(snapshot, n)) diags.push(diag(t, `spec.metrics[${i}].providers[${j}].name`, `no extension provider "${n}" in the mesh config`)); });
        providers = m.providers;
      }
      for (const o of m.overrides) {
        if (!applies(o.mode, side)) continue;
        for (const name of o.metric === 'ALL_METRICS' ? STANDARD_METRICS : STANDARD_METRICS.filter((x) => x === o.metric)) {
          const s = settings.get(name)!;
          if (o.disabled !== undefined) s.disabled = o.disabled;
          for (const [tag, op] of Object.entries(o.tagOverrides ?? {})) s.tags.set(tag, op);
        }
      }
    });
  }
  if (!providers.some((n) => provider(snapshot, n)?.kind === 'prometheus')) return undefined;
  return settings;
}

function tracingFor(snapshot: MeshSnapshot, levels: readonly Telemetry[], side: 'client' | 'server', diags: Diagnostic[]): SideTelemetry['tracing'] {
  let providerName = snapshot.config.defaultProviders?.tracing?.[0];
  let providerField: { t: Telemetry; field: string } | undefined;
  let sampling = snapshot.config.defaultTraceSampling ?? DEFAULT_SAMPLING;
  let disabled = false;
  const tags: Record<string, CustomTag> = {};
  for (const t of levels) {
    (t.tracing ?? []).forEach((tr, i) => {
      if (!applies(tr.mode, side)) return;
      if (tr.providers?.length) { providerName = tr.providers[0]; providerField = { t, field: `spec.tracing[${i}].providers[0].name` }; }
      if (tr.randomSamplingPercentage !== undefined) sampling = tr.randomSamplingPercentage;
      if (tr.disableSpanReporting !== undefined) disabled = tr.disableSpanReporting;
      Object.assign(tags, tr.customTags ?? {});
    });
  }
  if (!providerName || disabled) return undefined;
  const p = provider(snapshot, providerName);
  if (!p || (p.kind !== 'zipkin' && p.kind !== 'opentelemetry')) {
    if (providerField && side === 'server') diags.push(diag(providerField.t, providerField.field, p ? `provider "${providerName}" is not a tracing provider (zipkin, opentelemetry)` : `no extension provider "${providerName}" in the mesh config; tracing is off`));
    return undefined;
  }
  return { provider: p, sampling, customTags: tags };
}

function accessLogsFor(snapshot: MeshSnapshot, levels: readonly Telemetry[], side: 'client' | 'server', diags: Diagnostic[]): SideTelemetry['accessLogs'] {
  let names: readonly string[] | undefined = snapshot.config.defaultProviders?.accessLogging;
  let filter: string | undefined;
  let disabled = false;
  let where: { t: Telemetry; i: number } | undefined;
  for (const t of levels) {
    (t.accessLogging ?? []).forEach((al, i) => {
      if (!applies(al.mode, side)) return;
      if (al.providers) { names = al.providers; where = { t, i }; }
      if (al.disabled !== undefined) disabled = al.disabled;
      if (al.filter !== undefined) filter = al.filter;
      if (!al.providers && names === undefined) names = ['envoy'];
    });
  }
  if (disabled) return { providers: [] };
  if (names === undefined) return undefined;
  const out: AccessLogProvider[] = [];
  names.forEach((n, j) => {
    const p = provider(snapshot, n);
    if (p && (p.kind === 'envoyFileAccessLog' || p.kind === 'envoyOtelAls')) out.push(p);
    else if (where && side === 'server') diags.push(diag(where.t, `spec.accessLogging[${where.i}].providers[${j}].name`, p ? `provider "${n}" is not an access-log provider` : `no extension provider "${n}" in the mesh config`));
  });
  return { providers: out, ...(filter ? { filter } : {}) };
}

/** The effective telemetry of a workload (namespace + labels) on both sides, with diagnostics. */
export function effectiveTelemetry(snapshot: MeshSnapshot, namespace: string, labels: Labels): EffectiveTelemetry {
  const diagnostics: Diagnostic[] = [];
  const levels = telemetryLevels(snapshot, namespace, labels, diagnostics);
  const side = (s: 'client' | 'server'): SideTelemetry => {
    const metrics = metricsFor(snapshot, levels, s, diagnostics);
    const tracing = tracingFor(snapshot, levels, s, diagnostics);
    const accessLogs = accessLogsFor(snapshot, levels, s, diagnostics);
    return { ...(metrics ? { metrics } : {}), ...(tracing ? { tracing } : {}), ...(accessLogs ? { accessLogs } : {}) };
  };
  return { client: side('client'), server: side('server'), diagnostics };
}

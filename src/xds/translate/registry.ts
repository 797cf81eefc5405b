/**
 * The host registry a proxy sees: Kubernetes Services (and file-store Services) plus every
 * ServiceEntry host × port, filtered by `exportTo` and by the proxy's Sidecar, and the proxy's
 * effective outbound traffic policy. Pure and memoized per snapshot: proxies that share a
 * scope (the same Sidecar and a namespace that sees the same hosts) share one result object.
 *
 * Rules, as Istio's:
 * - A Service is exported to every namespace unless its annotation
 *   `networking.istio.io/exportTo` says otherwise (`.` its own namespace, `~` none, names, `*`).
 *   A ServiceEntry uses its resolved `exportTo`. A host is always visible in its own namespace
 *   when exported there.
 * - The Sidecar of a proxy: one whose `workloadSelector` matches the proxy's labels in the
 *   proxy's namespace (oldest first when several match), else the selector-less one of the
 *   proxy's namespace, else the selector-less one of the root namespace. Without any, the
 *   proxy sees every exported host.
 * - `egress.hosts` (`ns/host`, across all egress listeners): a host is visible when some entry
 *   has namespace `*` or the host's namespace, and a host pattern `*`, `*.suffix` or equal.
 *   Namespace `~` admits nothing.
 * - Outbound traffic policy: the Sidecar's `outboundTrafficPolicy`, else the mesh's.
 * - Two registry entries for one hostname: the Kubernetes Service wins over a ServiceEntry;
 *   between ServiceEntries, the oldest (then namespace/name) wins per port. Losers are dropped
 *   with a diagnostic (see `registryDiagnostics`).
 */
import { createHash } from 'node:crypto';
import type { Diagnostic, Labels, MeshSnapshot, PortProtocol, ProxyInfo, Service, ServicePort } from '../../model/types.js';
import type { OutboundTrafficMode, ServiceEntry, SidecarScope } from '../../model/traffic.js';
import { cmp, diag } from './common.js';

/** Service annotation that limits which namespaces see a Service (as Istio's). */
export const SERVICE_EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

/** How a host's endpoints are found (Kubernetes Services are `EDS`: selected workloads). */
export type RegistryResolution = 'EDS' | ServiceEntry['resolution'];

/** One port of a registry host. `targetPort` is a Service's (number or port name); for ServiceEntries the SE's targetPort or the number. */
export interface RegistryPort {
  readonly port: number;
  readonly name: string;
  readonly protocol: PortProtocol;
  readonly targetPort: number | string;
}

/** A host a proxy may call: from a Service or a ServiceEntry. Readonly; shared across proxies. */
export interface RegistryHost {
  /** FQDN, or a wildcard (`*.example.com`) for ServiceEntries. */
  readonly hostname: string;
  /** Namespace of the Service or ServiceEntry that defines it. */
  readonly namespace: string;
  readonly origin: 'Service' | 'ServiceEntry';
  /** Name of the defining object. */
  readonly name: string;
  /** Services and MESH_INTERNAL entries are in the mesh; MESH_EXTERNAL entries are not (no mesh mTLS unless a DestinationRule asks). */
  readonly location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  readonly resolution: RegistryResolution;
  /** Sorted by port number; UNSUPPORTED ports (UDP) are left out. */
  readonly ports: readonly RegistryPort[];
  /** The clusterIP of a Service, or a ServiceEntry's `addresses` (IPs or CIDRs), sorted. */
  readonly addresses: readonly string[];
  /** Resolved exportTo: `*` or namespace names. */
  readonly exportTo: readonly string[];
  /** The defining object. */
  readonly service?: Service;
  readonly serviceEntry?: ServiceEntry;
}

/** The Kubernetes-style ServicePort of a registry port (so Service helpers apply to ServiceEntry ports). */
export function asServicePort(p: RegistryPort): ServicePort {
  return { name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol };
}

/** Resolves a Service's exportTo annotation (comma-separated) in its namespace; absent: `*`. */
export function serviceExportTo(svc: Service): readonly string[] {
  const raw = svc.meta.annotations[SERVICE_EXPORT_TO_ANNOTATION];
  if (raw === undefined) return ['*'];
  const out = new Set<string>();
  for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === '~') continue;
    out.add(part === '.' ? svc.meta.namespace : part);
  }
  return [...out].sort(cmp);
}

/** Whether an object with resolved `exportTo` is visible from namespace `ns`. */
export function exportedTo(exportTo: readonly string[], ns: string): boolean {
  return exportTo.includes('*') || exportTo.includes(ns);
}

/** Whether host pattern `pattern` (`*`, `*.suffix`, or a name) matches the name or wildcard `host`. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1);
  return host.startsWith('*.') ? host.slice(1).endsWith(suffix) : host.endsWith(suffix);
}

// ---- the whole registry (per snapshot) -------------------------------------------------------

interface Registry {
  /** Every host, sorted by hostname then namespace. */
  readonly hosts: readonly RegistryHost[];
  readonly diagnostics: readonly Diagnostic[];
}
const registries = new WeakMap<MeshSnapshot, Registry>();

function seTime(se: ServiceEntry): string {
  return se.meta.creationTimestamp ?? '';
}

function fromService(svc: Service): RegistryHost {
  const ports = svc.ports.filter((p) => p.protocol !== 'UNSUPPORTED')
    .map((p) => ({ port: p.port, name: p.name, protocol: p.protocol, targetPort: p.targetPort }));
  return {
    hostname: svc.hostname, namespace: svc.meta.namespace, origin: 'Service', name: svc.meta.name,
    location: 'MESH_INTERNAL', resolution: 'EDS', ports, addresses: svc.clusterIP ? [svc.clusterIP] : [],
    exportTo: serviceExportTo(svc), service: svc,
  };
}

function build(snapshot: MeshSnapshot): Registry {
  const diagnostics: Diagnostic[] = [];
  const hosts: RegistryHost[] = snapshot.services.map(fromService);
  const taken = new Map<string, Set<number>>();
  for (const h of hosts) taken.set(h.hostname, new Set(h.ports.map((p) => p.port)));
  const serviceHosts = new Set(hosts.map((h) => h.hostname));
  // Oldest first, then namespace/name: the winner of a shared host × port.
  const entries = [...snapshot.serviceEntries].sort((a, b) => cmp(seTime(a), seTime(b)) || cmp(a.meta.namespace, b.meta.namespace) || cmp(a.meta.name, b.meta.name));
  for (const se of entries) {
    se.hosts.forEach((hostname, i) => {
      if (serviceHosts.has(hostname)) {
        diagnostics.push(diag('ServiceEntry', se.meta.namespace, se.meta.name, `spec.hosts[${i}]`, `${hostname} is a Service's hostname; the Service wins and this entry is ignored for it`));
        return;
      }
      const used = taken.get(hostname) ?? new Set<number>();
      const ports: RegistryPort[] = [];
      for (const p of se.ports) {
        if (p.protocol === 'UNSUPPORTED') continue;
        if (used.has(p.number)) {
          diagnostics.push(diag('ServiceEntry', se.meta.namespace, se.meta.name, 'spec.ports', `${hostname}:${p.number} is defined by an older ServiceEntry; ignored here`));
          continue;
        }
        used.add(p.number);
        ports.push({ port: p.number, name: p.name, protocol: p.protocol, targetPort: p.targetPort ?? p.number });
      }
      taken.set(hostname, used);
      if (ports.length === 0) return;
      hosts.push({
        hostname, namespace: se.meta.namespace, origin: 'ServiceEntry', name: se.meta.name,
        location: se.location, resolution: se.resolution, ports, addresses: se.addresses,
        exportTo: se.exportTo, serviceEntry: se,
      });
    });
  }
  hosts.sort((a, b) => cmp(a.hostname, b.hostname) || cmp(a.namespace, b.namespace));
  return { hosts, diagnostics };
}

function registry(snapshot: MeshSnapshot): Registry {
  let r = registries.get(snapshot);
  if (!r) { r = build(snapshot); registries.set(snapshot, r); }
  return r;
}

/** Every host in the mesh registry (no visibility filter), sorted by hostname then namespace. Must not be mutated. */
export function allHosts(snapshot: MeshSnapshot): readonly RegistryHost[] {
  return registry(snapshot).hosts;
}

/** Problems found while building the registry (shadowed ServiceEntry hosts and ports). */
export function registryDiagnostics(snapshot: MeshSnapshot): readonly Diagnostic[] {
  return registry(snapshot).diagnostics;
}

// ---- Sidecar selection and visibility --------------------------------------------------------

function selectorMatches(sel: Labels, labels: Labels): boolean {
  const keys = Object.keys(sel);
  return keys.length > 0 && keys.every((k) => labels[k] === sel[k]);
}

function olderFirst(a: SidecarScope, b: SidecarScope): number {
  return cmp(a.meta.creationTimestamp ?? '', b.meta.creationTimestamp ?? '') || cmp(a.meta.name, b.meta.name);
}

/** The Sidecar that scopes `proxy` (see the module comment), or undefined. */
export function sidecarFor(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>): SidecarScope | undefined {
  const own = snapshot.sidecars.filter((s) => s.meta.namespace === proxy.namespace);
  const bySelector = own.filter((s) => s.workloadSelector && selectorMatches(s.workloadSelector, proxy.labels)).sort(olderFirst);
  if (bySelector[0]) return bySelector[0];
  const plain = own.filter((s) => !s.workloadSelector).sort(olderFirst);
  if (plain[0]) return plain[0];
  return snapshot.sidecars.filter((s) => s.meta.namespace === snapshot.config.rootNamespace && !s.workloadSelector).sort(olderFirst)[0];
}

/** Whether a Sidecar's egress admits `host` (union over its egress listeners). */
export function egressAdmits(sidecar: SidecarScope, host: Pick<RegistryHost, 'hostname' | 'namespace'>): boolean {
  return sidecar.egress.some((e) => e.hosts.some((h) =>
    h.namespace !== '~' && (h.namespace === '*' || h.namespace === host.namespace) && hostMatches(h.host, host.hostname)));
}

/** What a proxy's visibility depends on: its namespace and its Sidecar. */
export interface Scope {
  /** The proxy's namespace (exportTo is decided against it). */
  readonly namespace: string;
  readonly sidecar?: SidecarScope;
  /** The visible hosts, sorted by hostname then namespace. */
  readonly hosts: readonly RegistryHost[];
  /**
   * Identifies the visible host set: `all` when the proxy sees the whole registry, else a
   * content hash. Proxies with equal keys see the same hosts (use it in shared chunk keys).
   */
  readonly key: string;
  readonly outboundTrafficPolicy: OutboundTrafficMode;
}

interface ScopeMemo {
  readonly byKey: Map<string, Scope>;
  /** One Scope object per visible-set key, so equal scopes are one instance. */
  readonly bySet: Map<string, readonly RegistryHost[]>;
}
const scopes = new WeakMap<MeshSnapshot, ScopeMemo>();

function sidecarId(s: SidecarScope | undefined): string {
  return s ? `${s.meta.namespace}/${s.meta.name}` : '-';
}

const providerHostMemo = new WeakMap<MeshSnapshot, ReadonlySet<string>>();

/**
 * Hostnames of the mesh config's extension providers (ext_authz `service` may be `ns/host`;
 * tracing and access-log collectors). Every scope keeps them, whatever a Sidecar's egress or the
 * service's exportTo says, and so do learned scopes: the mesh admin named them for every proxy,
 * Envoy reaches them by cluster name and never on demand, and it refuses a listener whose
 * tracer names a cluster it does not have (a Sidecar hiding the Zipkin service would get its
 * listeners rejected; a hidden authorizer would fail every CUSTOM check closed).
 */
export function providerHosts(snapshot: MeshSnapshot): ReadonlySet<string> {
  let out = providerHostMemo.get(snapshot);
  if (out) return out;
  const s = new Set<string>();
  for (const p of snapshot.config.extensionProviders) s.add(p.service.slice(p.service.indexOf('/') + 1));
  for (const p of snapshot.config.telemetryProviders ?? []) if ('target' in p) s.add(p.target.service);
  providerHostMemo.set(snapshot, (out = s));
  return out;
}

function computeScope(snapshot: MeshSnapshot, memo: ScopeMemo, namespace: string, sidecar: SidecarScope | undefined): Scope {
  const all = allHosts(snapshot);
  const providers = providerHosts(snapshot);
  const hosts = all.filter((h) => providers.has(h.hostname) || (exportedTo(h.exportTo, namespace) && (!sidecar || egressAdmits(sidecar, h))));
  let key = 'all';
  let list: readonly RegistryHost[] = all;
  if (hosts.length !== all.length) {
    const hash = createHash('sha256');
    for (const h of hosts) hash.update(`${h.namespace}/${h.hostname}\n`);
    key = hash.digest('hex').slice(0, 16);
    list = memo.bySet.get(key) ?? Object.freeze(hosts);
    memo.bySet.set(key, list);
  }
  return Object.freeze({
    namespace, ...(sidecar ? { sidecar } : {}), hosts: list, key,
    outboundTrafficPolicy: sidecar?.outboundTrafficPolicy ?? snapshot.config.outboundTrafficPolicy ?? 'ALLOW_ANY',
  });
}

/** The proxy's scope: its Sidecar, visible hosts and outbound policy. Memoized per snapshot, namespace and Sidecar. */
export function proxyScope(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>): Scope {
  let memo = scopes.get(snapshot);
  if (!memo) { memo = { byKey: new Map(), bySet: new Map() }; scopes.set(snapshot, memo); }
  const sidecar = snapshot.sidecars.length ? sidecarFor(snapshot, proxy) : undefined;
  const k = `${proxy.namespace}|${sidecarId(sidecar)}`;
  let s = memo.byKey.get(k);
  if (!s) { s = computeScope(snapshot, memo, proxy.namespace, sidecar); memo.byKey.set(k, s); }
  return s;
}

/**
 * Hosts the proxy sees (exportTo and Sidecar applied), sorted by hostname then namespace.
 * Proxies sharing a scope get the same array instance; it must not be mutated.
 */
export function visibleHosts(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>): readonly RegistryHost[] {
  return proxyScope(snapshot, proxy).hosts;
}

/** The proxy's effective outbound traffic policy: its Sidecar's, else the mesh's (default ALLOW_ANY). */
export function outboundPolicy(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>): OutboundTrafficMode {
  return proxyScope(snapshot, proxy).outboundTrafficPolicy;
}

interface HostIndex { readonly exact: ReadonlyMap<string, RegistryHost>; readonly wildcards: readonly RegistryHost[] }
const hostIndexes = new WeakMap<readonly RegistryHost[], HostIndex>();

function hostIndex(hosts: readonly RegistryHost[]): HostIndex {
  let idx = hostIndexes.get(hosts);
  if (!idx) {
    const exact = new Map<string, RegistryHost>();
    // Sorted by hostname then namespace: the first namespace wins a name defined twice.
    for (const h of hosts) if (!exact.has(h.hostname)) exact.set(h.hostname, h);
    // Longest (most specific) wildcard first.
    const wildcards = hosts.filter((h) => h.hostname.startsWith('*.')).sort((a, b) => b.hostname.length - a.hostname.length || cmp(a.hostname, b.hostname));
    idx = { exact, wildcards };
    hostIndexes.set(hosts, idx);
  }
  return idx;
}

/** The visible host named `hostname` (exact match, else the most specific wildcard entry covering it), if any. */
export function lookupHost(snapshot: MeshSnapshot, proxy: Pick<ProxyInfo, 'namespace' | 'labels'>, hostname: string): RegistryHost | undefined {
  const idx = hostIndex(visibleHosts(snapshot, proxy));
  return idx.exact.get(hostname) ?? idx.wildcards.find((h) => hostMatches(h.hostname, hostname));
}

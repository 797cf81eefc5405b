/**
 * `discovery.k8s.io/v1 EndpointSlice` → the endpoints of one Service, and how they enter the
 * model: the model draws a service's endpoints from the workloads its selector picks, so
 * EndpointSlice endpoints that no known pod covers become Workloads of their own.
 */
import type { Labels, ObjectMeta, Service, Workload } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { Checker, isRecord, join } from '../config/fields.js';
import { parseMeta, peekIdentity } from '../config/meta.js';
import type { PodInfo } from './pod.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Selector given to selector-less Services so their EndpointSlice workloads are selected. */
export const ENDPOINTS_OF_LABEL = 'meshd.dev/endpoints-of';

export interface SliceEndpoint {
  readonly addresses: readonly string[];
  /** `conditions.ready`; absent means ready, as Kubernetes says. */
  readonly ready: boolean;
  /** `targetRef` of kind Pod. */
  readonly pod?: string;
}

export interface EndpointSliceInfo {
  readonly meta: ObjectMeta;
  readonly service: string;
  /** Port name → port. */
  readonly ports: Readonly<Record<string, number>>;
  readonly endpoints: readonly SliceEndpoint[];
}

/**
 * Validates an EndpointSlice. It must name its Service (label `kubernetes.io/service-name`);
 * FQDN slices are ignored with a warning (no DNS endpoints in this mesh).
 */
export function parseEndpointSlice(raw: unknown, ctx: ParseContext): ParseResult<EndpointSliceInfo> {
  const id = peekIdentity(raw, ctx, true);
  const c = new Checker(ctx, 'EndpointSlice', id.namespace, id.name);
  if (!isRecord(raw)) { c.error('', 'must be a mapping'); return { ok: false, diagnostics: c.diagnostics }; }
  const meta = parseMeta(raw, c, ctx, { namespaced: true, dnsLabelName: false });
  const service = meta?.labels[SERVICE_NAME_LABEL];
  if (meta && !service) c.error(join('metadata.labels', SERVICE_NAME_LABEL), 'is required (the Service this slice belongs to)');
  const addressType = c.string(raw, 'addressType', '');
  const fqdn = addressType === 'FQDN';
  if (fqdn) c.warn('addressType', 'FQDN endpoints are not supported; slice ignored');
  const ports: Record<string, number> = {};
  (c.array(raw, 'ports', '') ?? []).forEach((p, i) => {
    const path = `ports[${i}]`;
    if (!isRecord(p)) { c.error(path, 'must be a mapping'); return; }
    const port = c.port(p.port, join(path, 'port'));
    const name = c.string(p, 'name', path) ?? '';
    if (port !== undefined) ports[name] = port;
  });
  const endpoints: SliceEndpoint[] = [];
  (c.array(raw, 'endpoints', '') ?? []).forEach((e, i) => {
    const path = `endpoints[${i}]`;
    if (!isRecord(e)) { c.error(path, 'must be a mapping'); return; }
    const addrs = c.array(e, 'addresses', path) ?? [];
    const addresses: string[] = [];
    addrs.forEach((a, j) => { const ip = fqdn ? undefined : c.ip(a, join(path, `addresses[${j}]`)); if (ip) addresses.push(ip); });
    const cond = c.record(e, 'conditions', path) ?? {};
    const ready = cond.ready !== false;
    const ref = c.record(e, 'targetRef', path);
    const pod = ref && ref.kind === 'Pod' && typeof ref.name === 'string' ? ref.name : undefined;
    endpoints.push({ addresses, ready, ...(pod ? { pod } : {}) });
  });
  if (c.hasErrors || !meta || !service) return { ok: false, diagnostics: c.diagnostics };
  return { ok: true, value: { meta, service, ports, endpoints: fqdn ? [] : endpoints }, warnings: c.warnings };
}

/** The mesh's view of one namespace's pods, by name and by address. */
export interface PodIndex {
  byName(namespace: string, name: string): PodInfo | undefined;
  byAddress(namespace: string, address: string): PodInfo | undefined;
}

/**
 * The Services and Workloads the model needs so that each Service's endpoints are its pods
 * (picked by its selector) plus every ready EndpointSlice endpoint not covered by such a pod.
 * Rules: an endpoint whose address belongs to a pod the selector already picks adds nothing;
 * any other endpoint becomes a Workload `<slice>-<i>-<j>` carrying the service's selector as
 * labels (a selector-less Service gets selector `meshd.dev/endpoints-of: <name>`), the slice's
 * port names, and the identity (service account, sidecar) and locality of its target pod when
 * known (else plaintext, service account `default`). Output is sorted, deterministic.
 */
export function endpointWorkloads(services: readonly Service[], slices: readonly EndpointSliceInfo[], pods: PodIndex): { services: Service[]; workloads: Workload[] } {
  const byService = new Map<string, EndpointSliceInfo[]>();
  for (const s of slices) {
    const k = `${s.meta.namespace}/${s.service}`;
    const l = byService.get(k);
    if (l) l.push(s); else byService.set(k, [s]);
  }
  const outServices: Service[] = [];
  const workloads: Workload[] = [];
  for (const svc of services) {
    const mine = byService.get(`${svc.meta.namespace}/${svc.meta.name}`) ?? [];
    const selector: Labels = svc.selector ?? { [ENDPOINTS_OF_LABEL]: svc.meta.name };
    outServices.push(mine.length > 0 && !svc.selector ? { ...svc, selector } : svc);
    const unnamed = svc.ports.find((p) => p.name === '' && typeof p.targetPort === 'string');
    for (const slice of mine.sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))) {
      slice.endpoints.forEach((ep, i) => {
        ep.addresses.forEach((address, j) => {
          const owner = pods.byAddress(svc.meta.namespace, address);
          if (owner?.workload && svc.selector && Object.entries(svc.selector).every(([k, v]) => owner.workload!.labels[k] === v)) return;
          const target = ep.pod ? pods.byName(svc.meta.namespace, ep.pod) : owner;
          const name = `${slice.meta.name}-${i}-${j}`;
          workloads.push({
            meta: { ...slice.meta, name, labels: selector, annotations: {} },
            name, namespace: svc.meta.namespace, address, labels: selector,
            serviceAccount: target?.serviceAccount ?? 'default',
            ports: unnamed && slice.ports[''] !== undefined ? { ...slice.ports, [String(unnamed.targetPort)]: slice.ports['']! } : slice.ports,
            meshed: target?.meshed ?? false, ready: ep.ready,
            ...(target?.workload?.locality ? { locality: target.workload.locality } : {}),
          });
        });
      });
    }
  }
  return { services: outServices, workloads };
}

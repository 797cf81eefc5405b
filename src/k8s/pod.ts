/** `v1 Pod` → model Workload (the pod's address, labels, service account, ports, sidecar, node). */
import type { Workload } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { Checker, isRecord, join } from '../config/fields.js';
import { parseMeta, peekIdentity } from '../config/meta.js';
import { APP_ADDRESS_ANNOTATION, OUTBOUND_ADDRESS_ANNOTATION } from '../config/workload-entry.js';
import type { Locality } from '../model/traffic.js';
import { podLocalityOverride } from './locality.js';

/** The injected sidecar container's name (as Istio's). */
export const SIDECAR_CONTAINER = 'istio-proxy';
/** Annotation the injector writes; its presence marks a pod as meshed. */
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';

/** A pod as the mesh sees it: a Workload once it has an address, or just its identity before. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly meshed: boolean;
  /** Absent while the pod has no IP yet (Pending) or once it has finished. */
  readonly workload?: Workload;
  /** `spec.nodeName` (the node's topology labels give the workload's locality). */
  readonly nodeName?: string;
  /** The pod's own locality label (Istio's override of the node's). */
  readonly localityOverride?: Locality;
}

/**
 * Validates a Pod. Address = `status.podIP`; ready = condition `Ready` is `True`; ports are the
 * containers' named ports; meshed = it has the `istio-proxy` container or the
 * `sidecar.istio.io/status` annotation. A pod without an IP, or Succeeded/Failed, has no workload.
 */
export function parsePod(raw: unknown, ctx: ParseContext): ParseResult<PodInfo> {
  const id = peekIdentity(raw, ctx, true);
  const c = new Checker(ctx, 'Pod', id.namespace, id.name);
  if (!isRecord(raw)) { c.error('', 'must be a mapping'); return { ok: false, diagnostics: c.diagnostics }; }
  const meta = parseMeta(raw, c, ctx, { namespaced: true, dnsLabelName: false });
  // The API server's own fields are many; only the ones read here are checked.
  const spec = c.record(raw, 'spec', '');
  const status = c.record(raw, 'status', '') ?? {};
  if (!spec) c.error('spec', 'is required');
  const sa = spec ? c.string(spec, 'serviceAccountName', 'spec') : undefined;
  const ports: Record<string, number> = {};
  let hasSidecar = false;
  const containers = spec ? c.array(spec, 'containers', 'spec') ?? [] : [];
  // A native sidecar (restartPolicy: Always) is an init container.
  if (spec && Array.isArray(spec.initContainers) && spec.initContainers.some((ct) => isRecord(ct) && ct.name === SIDECAR_CONTAINER)) hasSidecar = true;
  containers.forEach((ct, i) => {
    const path = `spec.containers[${i}]`;
    if (!isRecord(ct)) { c.error(path, 'must be a mapping'); return; }
    if (ct.name === SIDECAR_CONTAINER) hasSidecar = true;
    (c.array(ct, 'ports', path) ?? []).forEach((p, j) => {
      const pp = join(path, `ports[${j}]`);
      if (!isRecord(p)) { c.error(pp, 'must be a mapping'); return; }
      const port = c.port(p.containerPort, join(pp, 'containerPort'));
      const name = c.string(p, 'name', pp);
      if (port !== undefined && name) ports[name] = port;
    });
  });
  const nodeName = spec ? c.string(spec, 'nodeName', 'spec') : undefined;
  const phase = c.string(status, 'phase', 'status');
  const podIP = c.string(status, 'podIP', 'status');
  const address = podIP ? c.ip(podIP, 'status.podIP') : undefined;
  let ready = false;
  (c.array(status, 'conditions', 'status') ?? []).forEach((cond) => {
    if (isRecord(cond) && cond.type === 'Ready') ready = cond.status === 'True';
  });
  if (c.hasErrors || !meta) return { ok: false, diagnostics: c.diagnostics };
  const annotations = meta.annotations;
  const appAddress = c.ip(annotations[APP_ADDRESS_ANNOTATION], join('metadata.annotations', APP_ADDRESS_ANNOTATION));
  const outboundAddress = c.ip(annotations[OUTBOUND_ADDRESS_ANNOTATION], join('metadata.annotations', OUTBOUND_ADDRESS_ANNOTATION));
  const meshed = hasSidecar || annotations[SIDECAR_STATUS_ANNOTATION] !== undefined;
  const localityOverride = podLocalityOverride(c, meta.labels);
  const serviceAccount = sa === undefined || sa === '' ? 'default' : sa;
  const finished = phase === 'Succeeded' || phase === 'Failed';
  const workload: Workload | undefined = address === undefined || finished ? undefined : {
    meta, name: meta.name, namespace: meta.namespace, address, labels: meta.labels, serviceAccount,
    ports: Object.fromEntries(Object.entries(ports).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    meshed, ready,
    ...(appAddress !== undefined ? { appAddress } : {}),
    ...(outboundAddress !== undefined ? { outboundAddress } : {}),
  };
  const placement = { ...(nodeName ? { nodeName } : {}), ...(localityOverride ? { localityOverride } : {}) };
  return { ok: true, value: { namespace: meta.namespace, name: meta.name, serviceAccount, meshed, ...(workload ? { workload } : {}), ...placement }, warnings: c.warnings };
}

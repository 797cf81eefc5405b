/**
 * Sidecar injection as a pure function on a pod (or pod template): the webhook and
 * `meshctl inject` both call `injectPod`, so the offline and online results are the same.
 *
 * What is added (names are stable; the `sidecar.istio.io/status` annotation lists them):
 * - init container `meshd-init`: iptables redirection of inbound TCP to 15006 and outbound TCP
 *   to 15001, skipping traffic of UID 1337 (the proxy and the agent) and loopback;
 * - init container `meshd-bootstrap`: `meshctl bootstrap` (src/bootstrap/render.ts) renders
 *   Envoy's bootstrap into an in-memory emptyDir from the downward API (pod name, IP, service
 *   account), so no ConfigMap per pod is needed;
 * - `meshd-agent`: `meshctl agent`, which presents the projected service-account token
 *   (audience `istio-ca`) to meshd's CA, serves `default`/`ROOTCA` to Envoy over a Unix socket,
 *   and serves the status port 15020 (rewritten app probes, drain, quit; src/sds/agent-status.ts);
 * - `istio-proxy`: stock Envoy, UID 1337, reading that bootstrap; mTLS to meshd with the
 *   agent's certificate;
 * - the agent and the proxy are native sidecars (init containers with `restartPolicy: Always`)
 *   unless `sidecar.istio.io/nativeSidecar: "false"`; pod lifecycle: src/k8s/lifecycle.ts;
 * - volumes: the two emptyDirs, the projected token, and the `istio-ca-root-cert` ConfigMap.
 */
import { isRecord } from '../config/fields.js';
import { INJECT_KEY } from '../config/workload-entry.js';
import { lifecyclePlan, type LifecyclePlan } from './lifecycle.js';
import { SIDECAR_CONTAINER, SIDECAR_STATUS_ANNOTATION } from './pod.js';
import { APP_PROBERS_ENV, STATUS_PORT, rewriteProbes, type AppProber } from './probes.js';

export const PROXY_UID = 1337;
export const INBOUND_CAPTURE_PORT = 15006;
export const OUTBOUND_CAPTURE_PORT = 15001;
export const ENVOY_ADMIN_PORT = 15000;
/** Audience of the projected token, as Istio's (`istio-ca`); TokenReview checks it. */
export const TOKEN_AUDIENCE = 'istio-ca';
export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const INIT_CONTAINER = 'meshd-init';
export const BOOTSTRAP_CONTAINER = 'meshd-bootstrap';
export const AGENT_CONTAINER = 'meshd-agent';

export interface InjectOptions {
  /** meshd's TLS gRPC address as pods reach it, e.g. `meshd.istio-system.svc:15012`. */
  readonly meshdAddress: string;
  /** TLS name on meshd's certificate, when `meshdAddress` is an IP (env `MESHD_INJECT_SERVER_NAME`). */
  readonly meshdServerName?: string;
  readonly proxyImage: string;
  /** Image with `meshctl` and iptables (agent, bootstrap and init containers). */
  readonly meshdImage: string;
}

/** Defaults: meshd in `istio-system`, Envoy 1.40.0, the meshd image (env `MESHD_IMAGE`). */
export function defaultInjectOptions(env: NodeJS.ProcessEnv = process.env): InjectOptions {
  const ns = env.MESHD_NAMESPACE || 'istio-system';
  return {
    meshdAddress: env.MESHD_INJECT_ADDRESS || `meshd.${ns}.svc:15012`,
    proxyImage: env.MESHD_PROXY_IMAGE || 'envoyproxy/envoy:v1.40.0',
    meshdImage: env.MESHD_IMAGE || 'meshd:0.1.0',
    ...(env.MESHD_INJECT_SERVER_NAME ? { meshdServerName: env.MESHD_INJECT_SERVER_NAME } : {}),
  };
}

/** Injected; skipped (a reason, the pod is admitted unchanged); or refused (bad annotations or probes: errors naming them). */
export type InjectResult =
  | { readonly injected: true; readonly spec: Record<string, unknown>; readonly metadata: Record<string, unknown> }
  | { readonly injected: false; readonly reason: string; readonly errors?: undefined }
  | { readonly injected: false; readonly reason: string; readonly errors: readonly string[] };

/** Ports the inbound redirection leaves alone: the sidecar's own. */
const INBOUND_EXCLUDED = [ENVOY_ADMIN_PORT, OUTBOUND_CAPTURE_PORT, INBOUND_CAPTURE_PORT, 15020, 15021, 15090];

/** The iptables script of the init container (nat table, as Istio's istio-iptables). */
export function iptablesScript(): string {
  const nat = (rule: string): string => `iptables -t nat ${rule}`;
  return [
    'set -e',
    nat('-N MESHD_REDIRECT'), nat('-N MESHD_IN_REDIRECT'), nat('-N MESHD_INBOUND'), nat('-N MESHD_OUTPUT'),
    nat(`-A MESHD_REDIRECT -p tcp -j REDIRECT --to-ports ${OUTBOUND_CAPTURE_PORT}`),
    nat(`-A MESHD_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${INBOUND_CAPTURE_PORT}`),
    nat('-A PREROUTING -p tcp -j MESHD_INBOUND'),
    ...INBOUND_EXCLUDED.map((p) => nat(`-A MESHD_INBOUND -p tcp --dport ${p} -j RETURN`)),
    nat('-A MESHD_INBOUND -p tcp -j MESHD_IN_REDIRECT'),
    nat('-A OUTPUT -p tcp -j MESHD_OUTPUT'),
    nat(`-A MESHD_OUTPUT -m owner --uid-owner ${PROXY_UID} -j RETURN`),
    nat(`-A MESHD_OUTPUT -m owner --gid-owner ${PROXY_UID} -j RETURN`),
    nat('-A MESHD_OUTPUT -d 127.0.0.1/32 -j RETURN'),
    nat('-A MESHD_OUTPUT -j MESHD_REDIRECT'),
  ].join('\n');
}

const BOOTSTRAP_DIR = '/etc/meshd/bootstrap';
const AGENT_DIR = '/etc/meshd/agent';
const TOKEN_DIR = '/var/run/secrets/tokens';
const ROOT_DIR = '/var/run/secrets/istio';
const VOLUMES = { bootstrap: 'meshd-bootstrap', agent: 'meshd-agent', token: 'istio-token', root: 'istiod-ca-cert' } as const;

function fieldEnv(name: string, fieldPath: string): Record<string, unknown> {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

const proxySecurity = (): Record<string, unknown> => ({
  runAsUser: PROXY_UID, runAsGroup: PROXY_UID, runAsNonRoot: true, allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
});

/** What the pod's own spec contributes to the sidecar: the rewritten probes, the app's ports. */
export interface PodFacts {
  readonly probers: Readonly<Record<string, AppProber>>;
  readonly appPorts: readonly number[];
}

const DEFAULT_PLAN: LifecyclePlan = { native: true, rewriteProbes: true, holdApplication: true, drainSeconds: 5 };

/**
 * The init containers (appended after the pod's own), containers and volumes injection adds,
 * fresh objects each call; with a native plan the agent and the proxy are init containers too.
 */
export function sidecarParts(o: InjectOptions, plan: LifecyclePlan = DEFAULT_PLAN, facts: PodFacts = { probers: {}, appPorts: [] }): { initContainers: Record<string, unknown>[]; containers: Record<string, unknown>[]; volumes: Record<string, unknown>[] } {
  const serverName = o.meshdServerName ?? o.meshdAddress.slice(0, o.meshdAddress.lastIndexOf(':'));
  const init = {
    name: INIT_CONTAINER, image: o.meshdImage, command: ['sh', '-c', iptablesScript()],
    securityContext: { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } },
    resources: { requests: { cpu: '10m', memory: '16Mi' } },
  };
  const bootstrap = {
    name: BOOTSTRAP_CONTAINER, image: o.meshdImage,
    command: ['meshctl', 'bootstrap', '--namespace', '$(POD_NAMESPACE)', '--workload', '$(POD_NAME)',
      '--service-account', '$(SERVICE_ACCOUNT)', '--ip', '$(POD_IP)', '--meshd', o.meshdAddress, '--mode', 'transparent',
      '--admin-port', String(ENVOY_ADMIN_PORT), '--agent-socket', `${AGENT_DIR}/sds.sock`, '-o', `${BOOTSTRAP_DIR}/envoy.yaml`],
    env: [fieldEnv('POD_NAME', 'metadata.name'), fieldEnv('POD_NAMESPACE', 'metadata.namespace'), fieldEnv('POD_IP', 'status.podIP'), fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName')],
    securityContext: proxySecurity(),
    volumeMounts: [{ name: VOLUMES.bootstrap, mountPath: BOOTSTRAP_DIR }],
    resources: { requests: { cpu: '10m', memory: '32Mi' } },
  };
  // The agent's status port: rewritten app probes, its own and Envoy's health, drain, quit.
  const statusGet = (path: string): Record<string, unknown> => ({ httpGet: { path, port: STATUS_PORT } });
  // Generous start-up windows: a pod created while meshd is down waits for it instead of
  // being restarted with growing back-off (the agent retries every second).
  const startup = (path: string): Record<string, unknown> => ({ httpGet: { path, port: STATUS_PORT }, periodSeconds: 1, failureThreshold: 900, timeoutSeconds: 2 });
  const proxy: Record<string, unknown> = {
    name: SIDECAR_CONTAINER, image: o.proxyImage,
    // Immediate drain: after a listener update (a policy change) old connections take one more
    // request at most, so the new policy applies to pooled connections within a request.
    args: ['-c', `${BOOTSTRAP_DIR}/envoy.yaml`, '--log-level', 'warn', '--drain-strategy', 'immediate', '--drain-time-s', '5'],
    securityContext: proxySecurity(),
    volumeMounts: [{ name: VOLUMES.bootstrap, mountPath: BOOTSTRAP_DIR, readOnly: true }, { name: VOLUMES.agent, mountPath: AGENT_DIR }],
    // Envoy's admin listens on loopback only: the kubelet asks the agent, which asks Envoy.
    readinessProbe: { ...statusGet('/healthz/ready'), periodSeconds: 2, failureThreshold: 30 },
    // Stopping: the agent drains inbound listeners (no new connections), waits for in-flight
    // ones and, without native sidecars, for the app to stop listening; then Envoy gets SIGTERM.
    lifecycle: { preStop: statusGet('/drain') },
    resources: { requests: { cpu: '10m', memory: '40Mi' } },
  };
  const agent: Record<string, unknown> = {
    name: AGENT_CONTAINER, image: o.meshdImage,
    command: ['meshctl', 'agent', '--meshd', o.meshdAddress, '--token-file', `${TOKEN_DIR}/istio-token`,
      '--socket', `${AGENT_DIR}/sds.sock`, '--ca-cert', `${ROOT_DIR}/root-cert.pem`, '--server-name', serverName,
      '--status-port', String(STATUS_PORT), '--envoy-admin', `127.0.0.1:${ENVOY_ADMIN_PORT}`, '--drain-duration', `${plan.drainSeconds}s`],
    env: [
      fieldEnv('POD_IP', 'status.podIP'),
      { name: APP_PROBERS_ENV, value: JSON.stringify(facts.probers) },
      { name: 'MESHD_APP_PORTS', value: facts.appPorts.join(',') },
      { name: 'MESHD_NATIVE_SIDECAR', value: String(plan.native) },
    ],
    securityContext: proxySecurity(),
    volumeMounts: [{ name: VOLUMES.agent, mountPath: AGENT_DIR }, { name: VOLUMES.token, mountPath: TOKEN_DIR, readOnly: true }, { name: VOLUMES.root, mountPath: ROOT_DIR, readOnly: true }],
    resources: { requests: { cpu: '10m', memory: '32Mi' } },
  };
  if (plan.native) {
    // Native sidecars: started in order before the app, each after its startup probe passes
    // (the agent once it holds a certificate; Envoy once ready, if the app is held), stopped
    // after the app in reverse order; a Job's pod completes when its app containers do.
    agent.restartPolicy = 'Always';
    agent.startupProbe = startup('/healthz/agent');
    proxy.restartPolicy = 'Always';
    if (plan.holdApplication) proxy.startupProbe = startup('/healthz/ready');
  } else if (plan.holdApplication) {
    // Classic containers start in order and a postStart hook holds the next one: the agent
    // first, then Envoy, held until ready, then the app.
    proxy.lifecycle = { ...(proxy.lifecycle as Record<string, unknown>), postStart: statusGet('/healthz/wait-ready') };
  }
  return {
    initContainers: plan.native ? [init, bootstrap, agent, proxy] : [init, bootstrap],
    containers: plan.native ? [] : [agent, proxy],
    volumes: [
      { name: VOLUMES.bootstrap, emptyDir: { medium: 'Memory' } },
      { name: VOLUMES.agent, emptyDir: { medium: 'Memory' } },
      { name: VOLUMES.token, projected: { sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 43200, path: 'istio-token' } }] } },
      { name: VOLUMES.root, configMap: { name: ROOT_CERT_CONFIGMAP } },
    ],
  };
}

function names(list: unknown): string[] {
  return Array.isArray(list) ? list.filter(isRecord).map((x) => String(x.name ?? '')) : [];
}

/**
 * Injects the sidecar into a pod's `metadata`+`spec` (a Pod or a pod template). Not injected:
 * label or annotation `sidecar.istio.io/inject: "false"`, an existing `sidecar.istio.io/status`
 * annotation or `istio-proxy` container (already injected), `hostNetwork: true`, or a name
 * clash with an added container/volume. Inputs are not mutated.
 */
export function injectPod(metadata: unknown, spec: unknown, o: InjectOptions): InjectResult {
  if (!isRecord(spec)) return { injected: false, reason: 'the pod has no spec' };
  const meta = isRecord(metadata) ? metadata : {};
  const labels = isRecord(meta.labels) ? meta.labels : {};
  const annotations = isRecord(meta.annotations) ? meta.annotations : {};
  if (labels[INJECT_KEY] === 'false' || annotations[INJECT_KEY] === 'false') return { injected: false, reason: `${INJECT_KEY}: "false"` };
  if (annotations[SIDECAR_STATUS_ANNOTATION] !== undefined || names(spec.containers).includes(SIDECAR_CONTAINER)) return { injected: false, reason: 'already injected' };
  if (spec.hostNetwork === true) return { injected: false, reason: 'hostNetwork pods are not injected' };
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) return { injected: false, reason: 'the pod has no containers' };
  const lc = lifecyclePlan(annotations);
  if (!lc.ok) return { injected: false, reason: lc.errors.join('; '), errors: lc.errors };
  const plan = lc.plan;
  const probes = plan.rewriteProbes ? rewriteProbes(spec.containers) : { containers: spec.containers as Record<string, unknown>[], probers: {}, errors: [] };
  if (probes.errors.length) return { injected: false, reason: probes.errors.join('; '), errors: probes.errors };
  const appPorts = spec.containers.filter(isRecord).flatMap((c) => (Array.isArray(c.ports) ? c.ports : []))
    .filter(isRecord).map((p) => p.containerPort).filter((p): p is number => typeof p === 'number');
  const parts = sidecarParts(o, plan, { probers: probes.probers, appPorts: [...new Set(appPorts)].sort((a, b) => a - b) });
  const clash = [...names(parts.containers), ...names(parts.initContainers)].find((n) => names(spec.containers).includes(n) || names(spec.initContainers).includes(n))
    ?? names(parts.volumes).find((n) => names(spec.volumes).includes(n));
  if (clash) return { injected: false, reason: `the pod already has a container or volume named ${clash}` };
  const status = {
    initContainers: names(parts.initContainers), containers: names(parts.containers), volumes: names(parts.volumes),
    imagePullSecrets: null, revision: 'meshd',
  };
  const [agent, proxy] = parts.containers;
  const outSpec: Record<string, unknown> = {
    ...spec,
    initContainers: [...(Array.isArray(spec.initContainers) ? spec.initContainers : []), ...parts.initContainers],
    // Classic containers: the agent and the proxy first, as Istio, so they start before the app.
    containers: plan.native ? probes.containers : [agent!, proxy!, ...probes.containers],
    volumes: [...(Array.isArray(spec.volumes) ? spec.volumes : []), ...parts.volumes],
  };
  const outMeta: Record<string, unknown> = {
    ...meta,
    labels: { ...labels, 'security.istio.io/tlsMode': 'istio' },
    annotations: { ...annotations, [SIDECAR_STATUS_ANNOTATION]: JSON.stringify(status) },
  };
  return { injected: true, spec: outSpec, metadata: outMeta };
}

/** JSON Patch ops turning the pod into its injected form (each `add` replaces the member). */
export function injectionPatch(pod: Record<string, unknown>, r: InjectResult & { injected: true }): { op: 'add'; path: string; value: unknown }[] {
  const hadMeta = isRecord(pod.metadata);
  return [
    ...(hadMeta ? [] : [{ op: 'add' as const, path: '/metadata', value: {} }]),
    { op: 'add', path: '/metadata/labels', value: r.metadata.labels },
    { op: 'add', path: '/metadata/annotations', value: r.metadata.annotations },
    { op: 'add', path: '/spec/initContainers', value: r.spec.initContainers },
    { op: 'add', path: '/spec/containers', value: r.spec.containers },
    { op: 'add', path: '/spec/volumes', value: r.spec.volumes },
  ];
}

/** Kinds whose pod template `meshctl inject` rewrites, and where the template lives. */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'], StatefulSet: ['spec', 'template'], DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'], ReplicationController: ['spec', 'template'], Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/**
 * Injects one manifest: a Pod, a workload with a pod template, or a `List` of them; anything
 * else is returned unchanged. Returns the new object and what happened, per pod spec; `errors`
 * when a pod spec is refused (a bad lifecycle annotation or probe), which is then left unchanged.
 */
export function injectManifest(doc: unknown, o: InjectOptions): { doc: unknown; notes: string[]; errors?: string[] } {
  if (!isRecord(doc)) return { doc, notes: [] };
  const kind = typeof doc.kind === 'string' ? doc.kind : '';
  const name = isRecord(doc.metadata) ? String(doc.metadata.name ?? '') : '';
  if (kind === 'List' && Array.isArray(doc.items)) {
    const notes: string[] = [];
    const errors: string[] = [];
    const items = doc.items.map((it) => { const r = injectManifest(it, o); notes.push(...r.notes); errors.push(...(r.errors ?? [])); return r.doc; });
    return { doc: { ...doc, items }, notes, ...(errors.length ? { errors } : {}) };
  }
  if (kind === 'Pod') {
    const r = injectPod(doc.metadata, doc.spec, o);
    return r.injected ? { doc: { ...doc, metadata: r.metadata, spec: r.spec }, notes: [`Pod/${name}: injected`] } : { doc, notes: [`Pod/${name}: ${r.errors ? 'refused' : 'skipped'}: ${r.reason}`], ...(r.errors ? { errors: r.errors.map((e) => `Pod/${name}: ${e}`) } : {}) };
  }
  const path = TEMPLATE_PATHS[kind];
  if (!path) return { doc, notes: [] };
  const rebuild = (node: unknown, i: number): { node: unknown; note: string } => {
    if (i === path.length) {
      const t = isRecord(node) ? node : {};
      const r = injectPod(t.metadata, t.spec, o);
      if (r.injected) return { node: { ...t, metadata: r.metadata, spec: r.spec }, note: `${kind}/${name}: injected` };
      if (r.errors) refused.push(...r.errors.map((e) => `${kind}/${name}: ${e}`));
      return { node, note: `${kind}/${name}: ${r.errors ? 'refused' : 'skipped'}: ${r.reason}` };
    }
    if (!isRecord(node) || !(path[i]! in node)) return { node, note: `${kind}/${name}: skipped: no ${path.join('.')}` };
    const inner = rebuild(node[path[i]!], i + 1);
    return { node: { ...node, [path[i]!]: inner.node }, note: inner.note };
  };
  const refused: string[] = [];
  const r = rebuild(doc, 0);
  return { doc: r.node, notes: [r.note], ...(refused.length ? { errors: refused } : {}) };
}

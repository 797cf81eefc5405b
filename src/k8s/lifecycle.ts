/**
 * The pod-lifecycle annotations Istio users already write, read for injection:
 * - `sidecar.istio.io/nativeSidecar` ("true" by default here: the proxy and the agent are init
 *   containers with `restartPolicy: Always`, Kubernetes 1.29+): started before the app, stopped
 *   after it, and not counted when a Job's pod completes;
 * - `sidecar.istio.io/rewriteAppHTTPProbers` ("true" by default): the app's HTTP, TCP and gRPC
 *   probes go to the agent's status port, which forwards them, so STRICT does not break them;
 * - `proxy.istio.io/config` (YAML or JSON of Istio's ProxyConfig): `holdApplicationUntilProxyStarts`
 *   (default true with native sidecars, false without, as Istio) and `terminationDrainDuration`
 *   (default 5s). Other ProxyConfig fields are accepted and ignored.
 * A bad value is an error naming the annotation and the field; injection then refuses the pod.
 */
import YAML from 'yaml';
import { isRecord } from '../config/fields.js';

export const NATIVE_SIDECAR_ANNOTATION = 'sidecar.istio.io/nativeSidecar';
export const REWRITE_PROBES_ANNOTATION = 'sidecar.istio.io/rewriteAppHTTPProbers';
export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config';

export interface LifecyclePlan {
  /** Proxy and agent as native sidecars (init containers with restartPolicy Always). */
  readonly native: boolean;
  readonly rewriteProbes: boolean;
  /** The app starts only once Envoy is ready. */
  readonly holdApplication: boolean;
  /** How long the proxy waits for in-flight inbound connections when the pod stops. */
  readonly drainSeconds: number;
}

export type LifecycleResult = { readonly ok: true; readonly plan: LifecyclePlan } | { readonly ok: false; readonly errors: readonly string[] };

function boolAnnotation(annotations: Record<string, unknown>, key: string, dflt: boolean, errors: string[]): boolean {
  const v = annotations[key];
  if (v === undefined) return dflt;
  if (v === 'true' || v === true) return true;
  if (v === 'false' || v === false) return false;
  errors.push(`annotation ${key}: must be "true" or "false", got ${JSON.stringify(v)}`);
  return dflt;
}

/** Seconds of a ProxyConfig duration ("5s", "1m30s", "500ms"); undefined if malformed. */
export function durationSeconds(s: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(s.trim());
  if (!m || s.trim() === '') return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) + Number(m[4] ?? 0) / 1000;
}

/** Reads the lifecycle annotations of a pod's metadata; never throws. */
export function lifecyclePlan(annotations: Record<string, unknown>): LifecycleResult {
  const errors: string[] = [];
  const native = boolAnnotation(annotations, NATIVE_SIDECAR_ANNOTATION, true, errors);
  const rewriteProbes = boolAnnotation(annotations, REWRITE_PROBES_ANNOTATION, true, errors);
  let holdApplication = native;
  let drainSeconds = 5;
  const raw = annotations[PROXY_CONFIG_ANNOTATION];
  if (raw !== undefined) {
    let cfg: unknown;
    try { cfg = typeof raw === 'string' ? YAML.parse(raw) : raw; } catch (e) {
      errors.push(`annotation ${PROXY_CONFIG_ANNOTATION}: not YAML or JSON: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    if (cfg !== undefined && cfg !== null && !isRecord(cfg)) errors.push(`annotation ${PROXY_CONFIG_ANNOTATION}: must be a mapping (ProxyConfig), got ${JSON.stringify(raw)}`);
    if (isRecord(cfg)) {
      const hold = cfg.holdApplicationUntilProxyStarts;
      if (hold !== undefined) {
        if (typeof hold === 'boolean') holdApplication = hold;
        else errors.push(`annotation ${PROXY_CONFIG_ANNOTATION}: holdApplicationUntilProxyStarts: must be true or false, got ${JSON.stringify(hold)}`);
      }
      const drain = cfg.terminationDrainDuration;
      if (drain !== undefined) {
        const s = typeof drain === 'string' ? durationSeconds(drain) : undefined;
        if (s === undefined || s > 3600) errors.push(`annotation ${PROXY_CONFIG_ANNOTATION}: terminationDrainDuration: must be a duration such as "5s" (at most 1h), got ${JSON.stringify(drain)}`);
        else drainSeconds = s;
      }
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true, plan: { native, rewriteProbes, holdApplication, drainSeconds } };
}

/**
 * Node identification. Sidecars send Istio's node id
 * `sidecar~<ip>~<name>.<namespace>~<namespace>.svc.cluster.local` plus metadata `NAMESPACE`,
 * `WORKLOAD_NAME`, `LABELS`, `INTERCEPTION_MODE`. Proxyless gRPC clients may send any id:
 * a node is proxyless when its metadata says `PROXYLESS: "true"` (or `true`), its id starts
 * with `proxyless~`, its metadata has `GENERATOR: "grpc"` (as Istio's gRPC bootstrap), or its
 * user agent is a gRPC library (`gRPC Node`, `gRPC Go`, ...). Metadata never sets identity;
 * it may say where secrets come from (`SECRET_SOURCE: agent`: the node agent's SDS socket).
 */
import { isIP } from 'node:net';
import { parseNodeId } from '../names.js';
import type { InterceptionMode, ProxyInfo } from '../../model/types.js';
import type { JsonObject, JsonValue, NodeInfo } from './types.js';

type Rec = { readonly [k: string]: unknown };

function rec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}

function own(o: Rec, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Converts a `google.protobuf.Value` (as protobufjs decodes it, camelCase or snake_case) to JSON. */
export function valueToJson(v: unknown): JsonValue {
  const o = rec(v);
  if (!o) return null;
  const pick = (camel: string, snake: string): unknown => (own(o, camel) ? o[camel] : own(o, snake) ? o[snake] : undefined);
  const s = pick('stringValue', 'string_value');
  if (typeof s === 'string') return s;
  const n = pick('numberValue', 'number_value');
  if (typeof n === 'number') return n;
  const b = pick('boolValue', 'bool_value');
  if (typeof b === 'boolean') return b;
  const st = pick('structValue', 'struct_value');
  if (st !== undefined) return structToJson(st);
  const l = rec(pick('listValue', 'list_value'));
  if (l) return Array.isArray(l['values']) ? (l['values'] as unknown[]).map(valueToJson) : [];
  return null;
}

/** Converts a `google.protobuf.Struct` (as protobufjs decodes it) to a plain JSON object. */
export function structToJson(s: unknown): JsonObject {
  const fields = rec(rec(s)?.['fields']);
  const out: Record<string, JsonValue> = {};
  if (!fields) return out;
  for (const k of Object.keys(fields).sort()) out[k] = valueToJson(fields[k]);
  return out;
}

/** Reads the fields of a decoded `envoy.config.core.v3.Node`; undefined when absent or without id. */
export function nodeInfoOf(node: unknown): NodeInfo | undefined {
  const n = rec(node);
  if (!n || !str(n['id'])) return undefined;
  return {
    id: str(n['id']),
    cluster: str(n['cluster']),
    metadata: structToJson(n['metadata']),
    userAgentName: str(n['user_agent_name']),
    userAgentVersion: str(n['user_agent_version']) || buildVersion(n['user_agent_build_version']),
  };
}

/** Envoy sends its version as `user_agent_build_version.version` {major_number, minor_number, patch}. */
function buildVersion(v: unknown): string {
  const ver = rec(rec(v)?.['version']);
  if (!ver) return '';
  return [ver['major_number'], ver['minor_number'], ver['patch']].map((x) => Number(x ?? 0)).join('.');
}

/** Whether the node is a proxyless gRPC client (see the module comment for the rule). */
export function isProxyless(node: NodeInfo): boolean {
  const p = node.metadata['PROXYLESS'];
  return (
    p === true ||
    p === 'true' ||
    node.id.startsWith('proxyless~') ||
    node.metadata['GENERATOR'] === 'grpc' ||
    /^grpc[ -]/i.test(node.userAgentName)
  );
}

function labelsOf(v: JsonValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, val] of Object.entries(v as JsonObject)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** The IP part of a grpc-js peer string (`1.2.3.4:5678`, `[::1]:5678`). */
export function peerIp(peer: string): string {
  const m = /^\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return m ? m[1]! : peer;
}

/**
 * Builds ProxyInfo from a node: Istio's id form is required for sidecars; proxyless clients
 * may use any id (namespace from `NAMESPACE`, default `default`; IP from `INSTANCE_IPS`, else
 * the peer address). Returns an error sentence for an unusable node.
 */
export function proxyInfoOf(node: NodeInfo, peer: string): { ok: true; info: ProxyInfo } | { ok: false; error: string } {
  const md = node.metadata;
  const parsed = parseNodeId(node.id);
  const proxyless = isProxyless(node);
  if (!parsed && !proxyless) {
    return { ok: false, error: `node id "${node.id}" is not of the form sidecar~<ip>~<name>.<namespace>~<namespace>.svc.cluster.local` };
  }
  const mdNs = typeof md['NAMESPACE'] === 'string' ? md['NAMESPACE'] : '';
  const mdName = typeof md['WORKLOAD_NAME'] === 'string' ? md['WORKLOAD_NAME'] : '';
  const mdIps = typeof md['INSTANCE_IPS'] === 'string' ? md['INSTANCE_IPS'].split(',').map((s) => s.trim()) : [];
  const ip = parsed && isIP(parsed.ip) ? parsed.ip : mdIps.find((s) => isIP(s) !== 0) ?? peerIp(peer);
  const mode = md['INTERCEPTION_MODE'];
  const interceptionMode: InterceptionMode = mode === 'NONE' ? 'NONE' : 'REDIRECT';
  return {
    ok: true,
    info: {
      id: node.id,
      ip,
      workloadName: mdName || parsed?.name || node.id,
      namespace: mdNs || parsed?.namespace || 'default',
      labels: labelsOf(md['LABELS']),
      interceptionMode: proxyless ? 'NONE' : interceptionMode,
      proxyless,
      ...(md['SECRET_SOURCE'] === 'agent' ? { secretSource: 'agent' as const } : {}),
    },
  };
}

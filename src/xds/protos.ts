/**
 * Envoy's API protos, loaded once from the pinned `@grpc/grpc-js-xds` package (which ships
 * envoy-api, xds, googleapis and protoc-gen-validate under `deps/`). Nothing is copied into
 * this repository. Field names keep their proto spelling (snake_case), like Envoy's YAML.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The include directories for Envoy's protos, inside the pinned npm dependency. */
export function envoyProtoIncludeDirs(): string[] {
  const pkgDir = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const deps = join(pkgDir, 'deps');
  return [
    join(deps, 'envoy-api'),
    join(deps, 'xds'),
    join(deps, 'googleapis'),
    join(deps, 'protoc-gen-validate'),
  ];
}

/** The project's own protos (for example the CA service). */
export const projectProtoDir = join(dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'proto');

/** Every Envoy message the translation may emit, by proto file. Explicit and ordered. */
const ENVOY_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  'envoy/service/accesslog/v3/als.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/filters/http/header_to_metadata/v3/header_to_metadata.proto',
  'envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto',
  'envoy/extensions/filters/http/on_demand/v3/on_demand.proto',
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  'envoy/config/trace/v3/zipkin.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'xds/type/v3/typed_struct.proto',
  'envoy/extensions/access_loggers/filters/cel/v3/cel.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/admin/v3/config_dump.proto',
];

let cached: protobuf.Root | undefined;

/**
 * protobufjs only knows Envoy's JSON form for `Any`; these wrappers teach it the others that
 * Envoy's YAML uses (Duration `"1.5s"`, Struct/Value as plain JSON, wrapper types as bare
 * values), both ways: fromObject takes the JSON form (the proto form still works where it is
 * unambiguous), toObject with `json: true` gives the JSON form back.
 */
function registerJsonWellKnownTypes(): void {
  type Wrapper = { fromObject(this: protobuf.Type, o: Record<string, unknown>): protobuf.Message; toObject(this: protobuf.Type, m: protobuf.Message, opts?: protobuf.IConversionOptions): Record<string, unknown> };
  const w = protobuf.wrappers as unknown as Record<string, Wrapper>;
  const isMsg = (t: protobuf.Type, o: unknown): boolean => o instanceof t.ctor;
  const own = (m: object, k: string): boolean => Object.prototype.hasOwnProperty.call(m, k);
  // protobufjs' built-in struct.proto spells these fields in camelCase, whatever keepCase says.
  w['.google.protobuf.Duration'] = {
    fromObject(o) {
      if (typeof o !== 'string') return this.fromObject(o);
      const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(o);
      if (!m) throw new TypeError(`bad duration ${JSON.stringify(o)}`);
      const sign = m[1] === '-' ? -1 : 1;
      return this.create({ seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) });
    },
    toObject(m, opts) {
      if (!opts?.json) return this.toObject(m, opts);
      const p = this.toObject(m, { ...opts, longs: String, defaults: true });
      const nanos = Number(p.nanos ?? 0);
      const frac = nanos ? '.' + String(Math.abs(nanos)).padStart(9, '0').replace(/0+$/, '') : '';
      return `${String(p.seconds ?? '0')}${frac}s` as unknown as Record<string, unknown>;
    },
  };
  const valueFrom = (t: protobuf.Type, v: unknown): protobuf.Message => {
    if (isMsg(t, v)) return v as protobuf.Message;
    const structT = t.lookupType('.google.protobuf.Struct');
    const listT = t.lookupType('.google.protobuf.ListValue');
    if (v === null || v === undefined) return t.create({ nullValue: 0 });
    if (typeof v === 'number') return t.create({ numberValue: v });
    if (typeof v === 'string') return t.create({ stringValue: v });
    if (typeof v === 'boolean') return t.create({ boolValue: v });
    if (Array.isArray(v)) return t.create({ listValue: listT.create({ values: v.map((x) => valueFrom(t, x)) }) });
    if (typeof v === 'object') return t.create({ structValue: structT.fromObject(v as Record<string, unknown>) });
    throw new TypeError(`cannot encode ${typeof v} as google.protobuf.Value`);
  };
  const valueTo = (m: Record<string, unknown>, opts: protobuf.IConversionOptions): unknown => {
    if (own(m, 'structValue')) return structTo(m.structValue as Record<string, unknown>, opts);
    if (own(m, 'listValue')) return ((m.listValue as { values?: Record<string, unknown>[] }).values ?? []).map((x) => valueTo(x, opts));
    if (own(m, 'stringValue')) return m.stringValue;
    if (own(m, 'numberValue')) return m.numberValue;
    if (own(m, 'boolValue')) return m.boolValue;
    return null;
  };
  const structTo = (m: Record<string, unknown>, opts: protobuf.IConversionOptions): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const fields = (m.fields ?? {}) as Record<string, Record<string, unknown>>;
    for (const k of Object.keys(fields)) out[k] = valueTo(fields[k]!, opts);
    return out;
  };
  w['.google.protobuf.Struct'] = {
    fromObject(o) {
      if (isMsg(this, o)) return o as unknown as protobuf.Message;
      const valueT = this.lookupType('.google.protobuf.Value');
      const fields: Record<string, protobuf.Message> = {};
      for (const [k, v] of Object.entries(o)) fields[k] = valueFrom(valueT, v);
      return this.create({ fields });
    },
    toObject(m, opts) { return opts?.json ? structTo(m as unknown as Record<string, unknown>, opts) : this.toObject(m, opts); },
  };
  w['.google.protobuf.Value'] = {
    fromObject(o) { return valueFrom(this, o); },
    toObject(m, opts) { return opts?.json ? valueTo(m as unknown as Record<string, unknown>, opts) as Record<string, unknown> : this.toObject(m, opts); },
  };
  w['.google.protobuf.ListValue'] = {
    fromObject(o) {
      if (!Array.isArray(o)) return this.fromObject(o);
      const valueT = this.lookupType('.google.protobuf.Value');
      return this.create({ values: (o as unknown[]).map((x) => valueFrom(valueT, x)) });
    },
    toObject(m, opts) { return opts?.json ? valueTo({ listValue: m }, opts) as Record<string, unknown> : this.toObject(m, opts); },
  };
  for (const name of ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes']) {
    w[`.google.protobuf.${name}Value`] = {
      fromObject(o) { return o !== null && typeof o === 'object' ? this.fromObject(o) : this.fromObject({ value: o }); },
      toObject(m, opts) { return opts?.json ? this.toObject(m, { ...opts, defaults: true }).value as Record<string, unknown> : this.toObject(m, opts); },
    };
  }
}

/** The shared protobuf root with Envoy's types; loaded on first use, then reused. */
export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const protobufjsDir = dirname(require.resolve('protobufjs/package.json'));
  const includes = [...envoyProtoIncludeDirs(), projectProtoDir, protobufjsDir];
  registerJsonWellKnownTypes();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    for (const dir of includes) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    // Well-known types (any, duration, struct, ...) are built into protobufjs.
    return target;
  };
  root.loadSync(ENVOY_FILES, { keepCase: true, alternateCommentMode: false });
  root.resolveAll();
  cached = root;
  return root;
}

const WRAPPER_TYPES = new Set(['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((n) => `.google.protobuf.${n}Value`));

type TypeKind = 'any' | 'duration' | 'wrapper' | 'json' | 'value' | 'message';
/** Kind of each type, by identity: protobufjs computes `fullName` by walking parents on every read. */
const kinds = new WeakMap<protobuf.Type, TypeKind>();
function kindOf(t: protobuf.Type): TypeKind {
  let k = kinds.get(t);
  if (k) return k;
  const n = t.fullName;
  k = n === '.google.protobuf.Any' ? 'any'
    : n === '.google.protobuf.Duration' ? 'duration'
      : WRAPPER_TYPES.has(n) ? 'wrapper'
        : n === '.google.protobuf.Value' ? 'value'
          : n === '.google.protobuf.Struct' || n === '.google.protobuf.ListValue' ? 'json'
            : 'message';
  kinds.set(t, k);
  return k;
}
const anyTypes = new Map<string, protobuf.Type>();

/**
 * protobufjs messages built from frozen translation output, by object identity. Frozen parts
 * (an RBAC policy, memoized per AuthorizationPolicy) are shared by filter chains, listeners
 * and snapshots; converting each once took a 10,000-rule policy from ~2 s per encode to a walk
 * of ready messages (issue 14). Frozen objects never change, so the message stays right.
 */
const frozenMessages = new WeakMap<object, { readonly type: protobuf.Type; readonly message: protobuf.Message }>();

function messageOf(rt: protobuf.Type, x: unknown): unknown {
  if (x === null || typeof x !== 'object' || Array.isArray(x) || !Object.isFrozen(x)) return normalizeEnvoyJson(rt, x);
  const hit = frozenMessages.get(x);
  if (hit && hit.type === rt) return hit.message;
  const message = rt.fromObject(normalizeEnvoyJson(rt, x) as Record<string, unknown>);
  frozenMessages.set(x, { type: rt, message });
  return message;
}

/**
 * Rewrites Envoy's JSON form into what protobufjs' fromObject accepts where its generated code
 * insists on an object: Duration strings and bare wrapper values (`destination_port: 8080`)
 * become messages; `Any` bodies (`@type`) are walked with their own type. Never mutates `o`.
 */
export function normalizeEnvoyJson(type: protobuf.Type, o: unknown): unknown {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return o;
  const src = o as Record<string, unknown>;
  let t = type;
  const kind = kindOf(type);
  if (kind === 'any' && typeof src['@type'] === 'string') {
    const url = src['@type'];
    let found = anyTypes.get(url);
    if (!found) { found = type.root.lookupType(url.slice(url.lastIndexOf('/') + 1)); anyTypes.set(url, found); }
    t = found;
  }
  const tk = kindOf(t);
  if (tk === 'json' || tk === 'value') return o;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    const f = t.fields[k];
    const rt = f?.resolvedType;
    if (!f || !(rt instanceof protobuf.Type)) { out[k] = v; continue; }
    const rk = kindOf(rt);
    const one = (x: unknown): unknown => {
      if (rk === 'duration' && typeof x === 'string') return rt.fromObject(x as unknown as Record<string, unknown>);
      if (rk === 'wrapper' && x !== null && typeof x !== 'object') return { value: x };
      if (rk === 'value' && (x === null || typeof x !== 'object')) return rt.fromObject(x as unknown as Record<string, unknown>);
      if (rk === 'message') return messageOf(rt, x);
      if (rk === 'any') return normalizeEnvoyJson(rt, x);
      return x;
    };
    if (f.map && v && typeof v === 'object') out[k] = Object.fromEntries(Object.entries(v).map(([mk, mv]) => [mk, one(mv)]));
    else if (f.repeated && Array.isArray(v)) out[k] = v.map(one);
    else out[k] = one(v);
  }
  return out;
}

/** Looks up a message type by its full name (without the leading dot); throws if unknown. */
export function messageType(fullName: string): protobuf.Type {
  return envoyRoot().lookupType(fullName);
}

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
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/admin/v3/config_dump.proto',
];

let cached: protobuf.Root | undefined;

/** The shared protobuf root with Envoy's types; loaded on first use, then reused. */
export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const protobufjsDir = dirname(require.resolve('protobufjs/package.json'));
  const includes = [...envoyProtoIncludeDirs(), projectProtoDir, protobufjsDir];
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

/** Looks up a message type by its full name (without the leading dot); throws if unknown. */
export function messageType(fullName: string): protobuf.Type {
  return envoyRoot().lookupType(fullName);
}

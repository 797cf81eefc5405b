/**
 * External authorizers for tests, as a platform team would run OPA or a corporate authz service
 * behind a CUSTOM AuthorizationPolicy: a real gRPC `envoy.service.auth.v3.Authorization` server
 * (Envoy's protos from the pinned npm dependency, loaded with @grpc/proto-loader) and a plain
 * HTTP authorizer (Envoy's `http_service` protocol: the check is the original request's method,
 * path and allowed headers, sent to the authorizer; 200 allows, anything else denies).
 *
 * Both decide the same way: a request with `x-ext-authz: allow` is allowed (the authorizer adds
 * `x-authz-user: <x-user header>` for the upstream), anything else is denied with 403, an
 * `x-authz-reason` header and a body naming the authorizer. Every check is recorded.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { envoyProtoIncludeDirs } from '../../src/xds/protos.js';

export interface AuthzCheck {
  readonly via: 'grpc' | 'http';
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The caller's SPIFFE id as Envoy saw it on the mTLS connection (gRPC checks only). */
  readonly sourcePrincipal?: string;
}

export interface RunningAuthorizer {
  readonly port: number;
  readonly checks: AuthzCheck[];
  close(): Promise<void>;
}

const ALLOW = 'allow';

interface HeaderMap { readonly [k: string]: string }
interface CheckRequest {
  readonly attributes?: {
    readonly source?: { readonly principal?: string };
    readonly request?: { readonly http?: { readonly method?: string; readonly path?: string; readonly headers?: HeaderMap } };
  };
}

const header = (key: string, value: string): { header: { key: string; value: string } } => ({ header: { key, value } });

/** Starts the gRPC authorizer on `host` (a free port). */
export async function startGrpcAuthorizer(host = '127.0.0.1'): Promise<RunningAuthorizer> {
  const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true, longs: Number, enums: Number, defaults: false, oneofs: true, includeDirs: envoyProtoIncludeDirs(),
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } } };
  const checks: AuthzCheck[] = [];
  const server = new grpc.Server();
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<CheckRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const http = call.request.attributes?.request?.http ?? {};
      const headers = { ...(http.headers ?? {}) };
      const principal = call.request.attributes?.source?.principal;
      checks.push({ via: 'grpc', method: http.method ?? '', path: http.path ?? '', headers, ...(principal ? { sourcePrincipal: principal } : {}) });
      if (headers['x-ext-authz'] === ALLOW) {
        cb(null, { status: { code: 0 }, ok_response: { headers: [header('x-authz-user', headers['x-user'] ?? 'anonymous')] } });
      } else {
        cb(null, {
          status: { code: 7 }, // PERMISSION_DENIED
          denied_response: { status: { code: 403 }, headers: [header('x-authz-reason', 'grpc-authorizer says no')], body: 'denied by the gRPC authorizer\n' },
        });
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port, checks,
    close: () => new Promise((r) => server.tryShutdown(() => r())),
  };
}

/** Starts the HTTP authorizer on `host` (a free port); checks arrive under `pathPrefix`. */
export async function startHttpAuthorizer(host = '127.0.0.1', pathPrefix = '/check'): Promise<RunningAuthorizer> {
  const checks: AuthzCheck[] = [];
  const server: HttpServer = createServer((req, res) => {
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    const url = req.url ?? '';
    checks.push({ via: 'http', method: req.method ?? '', path: url.startsWith(pathPrefix) ? url.slice(pathPrefix.length) : url, headers });
    req.resume();
    req.on('end', () => {
      if (headers['x-ext-authz'] === ALLOW) {
        res.writeHead(200, { 'x-authz-user': headers['x-user'] ?? 'anonymous' });
        res.end();
      } else {
        res.writeHead(403, { 'x-authz-reason': 'http-authorizer says no', 'content-type': 'text/plain' });
        res.end('denied by the HTTP authorizer\n');
      }
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, host, resolve); });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port, checks,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

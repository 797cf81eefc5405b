/** Test helpers: a real grpc-js ADS client, resource fixtures, and a server on 127.0.0.1:0. */
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../../src/xds/protos.js';
import { decodeResource, ResourceType, TYPE_PREFIX, TypeName, type EnvoyObject } from '../../../src/xds/resource-types.js';
import { XdsServer } from '../../../src/xds/server/server.js';
import { DELTA_PATH, SOTW_PATH } from '../../../src/xds/server/service.js';
import type { GeneratedResources, JsonObject, XdsServerOptions } from '../../../src/xds/server/types.js';

export const T = ResourceType;

export function cluster(name: string): EnvoyObject {
  return Object.freeze({ name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } } });
}
export function cla(name: string, ip = '10.0.0.1'): EnvoyObject {
  return Object.freeze({
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ip, port_value: 80 } } } }] }],
  });
}
export function listener(name: string, route: string, port = 15001): EnvoyObject {
  return Object.freeze({
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': TYPE_PREFIX + TypeName.HttpConnectionManager,
              stat_prefix: name,
              rds: { route_config_name: route, config_source: { ads: {} } },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_PREFIX + TypeName.Router } }],
            },
          },
        ],
      },
    ],
  });
}
export function route(name: string, domains: readonly string[] = ['*']): EnvoyObject {
  return Object.freeze({ name, virtual_hosts: [{ name: 'vh', domains, routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] });
}
export function secret(name: string, sni = 'a'): EnvoyObject {
  return Object.freeze({ name, validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: sni } }] } });
}

/** A consistent set: clusters a,b with endpoints, listener L → route r. */
export function baseResources(extra: Partial<Record<string, EnvoyObject[]>> = {}): GeneratedResources {
  return {
    [T.Cluster]: [Object.freeze([cluster('a'), cluster('b')])],
    [T.Endpoint]: [Object.freeze([cla('a'), cla('b')])],
    [T.Listener]: [Object.freeze([listener('L', 'r')])],
    [T.Route]: [Object.freeze([route('r')])],
    [T.Secret]: [Object.freeze([secret('default')])],
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, [Object.freeze(v ?? [])]])),
  };
}

export async function startServer(opts: XdsServerOptions): Promise<{ server: XdsServer; address: string }> {
  const server = new XdsServer(opts);
  const port = await server.listen('127.0.0.1:0');
  return { server, address: `127.0.0.1:${port}` };
}

export function nodeOf(name = 'app-1', ns = 'default', metadata: JsonObject = {}): Record<string, unknown> {
  return { id: `sidecar~10.1.1.1~${name}.${ns}~${ns}.svc.cluster.local`, metadata };
}

export interface Decoded {
  readonly raw: Record<string, unknown>;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  /** Resource names, in order. */
  readonly names: string[];
  readonly resources: Record<string, unknown>[];
  readonly removed: string[];
}

/** A real grpc-js ADS client; responses are decoded with protobufjs. */
export class AdsClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly inbox: Decoded[] = [];
  private waiting: ((d: Decoded) => void) | undefined;
  status: grpc.StatusObject | undefined;
  private statusWaiters: ((s: grpc.StatusObject) => void)[] = [];
  private readonly reqType: ReturnType<typeof messageType>;

  constructor(address: string, readonly delta = false, opts: { metadata?: grpc.Metadata; read?: boolean } = {}) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const path = delta ? DELTA_PATH : SOTW_PATH;
    const id = (b: Buffer): Buffer => b;
    this.call = this.client.makeBidiStreamRequest(path, id, id, opts.metadata ?? new grpc.Metadata());
    this.reqType = messageType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');
    const respType = messageType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryResponse' : 'envoy.service.discovery.v3.DiscoveryResponse');
    if (opts.read !== false) {
      this.call.on('data', (buf: Buffer) => {
        const raw = respType.toObject(respType.decode(buf), { defaults: true, longs: String, bytes: Buffer }) as Record<string, unknown>;
        this.push(this.decode(raw));
      });
    }
    this.call.on('error', () => {});
    this.call.on('status', (s: grpc.StatusObject) => {
      this.status = s;
      for (const w of this.statusWaiters) w(s);
    });
  }

  private decode(raw: Record<string, unknown>): Decoded {
    const list = (raw['resources'] as Record<string, unknown>[]) ?? [];
    const resources = list.map((r) => {
      const any = (this.delta ? r['resource'] : r) as { type_url: string; value: Buffer };
      return decodeResource(any.type_url, any.value);
    });
    const names = this.delta
      ? list.map((r) => String(r['name']))
      : resources.map((r) => String(r['name'] ?? r['cluster_name']));
    return {
      raw,
      typeUrl: String(raw['type_url']),
      version: String(this.delta ? raw['system_version_info'] : raw['version_info']),
      nonce: String(raw['nonce']),
      names,
      resources,
      removed: (raw['removed_resources'] as string[]) ?? [],
    };
  }

  private push(d: Decoded): void {
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w(d);
    } else this.inbox.push(d);
  }

  send(req: Record<string, unknown>): void {
    this.call.write(Buffer.from(this.reqType.encode(this.reqType.fromObject(req)).finish()));
  }

  sendRaw(buf: Buffer): void {
    this.call.write(buf);
  }

  /** The next response, or a rejection after `ms`. */
  next(ms = 3000): Promise<Decoded> {
    const d = this.inbox.shift();
    if (d) return Promise.resolve(d);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no response within ${ms} ms`));
      }, ms);
      this.waiting = (x) => {
        clearTimeout(timer);
        resolve(x);
      };
    });
  }

  /** Resolves undefined when nothing arrives within `ms`, else the response. */
  async none(ms = 300): Promise<Decoded | undefined> {
    try {
      return await this.next(ms);
    } catch {
      return undefined;
    }
  }

  /** SotW ACK of a response (same names unless given). */
  ack(d: Decoded, names?: readonly string[], node?: Record<string, unknown>): void {
    this.send({ type_url: d.typeUrl, version_info: d.version, response_nonce: d.nonce, resource_names: names ?? [], node });
  }

  waitStatus(ms = 3000): Promise<grpc.StatusObject> {
    if (this.status) return Promise.resolve(this.status);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no status')), ms);
      this.statusWaiters.push((s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reads a nested value by path (`at(o, 'resources', 0, 'name')`); undefined when absent. */
export function at(o: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = o;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

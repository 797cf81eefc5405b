/**
 * The transparent demo's network, described as data: one network namespace per workload
 * (`meshd-<octet>-<name>`), a bridge on the host (`meshd-br<octet>`) joined by veth pairs,
 * addresses from 10.250.<octet>.0/24 that exist only on that bridge, ClusterIPs from
 * 10.251.<octet>.0/24 that exist on no interface at all, and the Istio-style nat rules of each
 * meshed namespace. Pure: netns.ts runs what this module describes.
 */
import { join } from 'node:path';
import { DEMO_WORKLOADS, WORKLOAD_INDEX, appOf, type AddressPlan, type WorkloadAddresses } from './topology.js';

/** The sidecar's user (Istio's istio-proxy uid): its own traffic is never redirected. */
export const PROXY_UID = 1337;
/** Where the outbound redirect lands (Envoy's virtualOutbound listener). */
export const OUTBOUND_CAPTURE_PORT = 15001;
/** Where the inbound redirect lands (Envoy's virtualInbound listener). */
export const INBOUND_CAPTURE_PORT = 15006;
/** Envoy's admin port inside each namespace (127.0.0.1 only; namespaces do not share it). */
export const NETNS_ENVOY_ADMIN_PORT = 15000;

export interface NetnsWorkload {
  readonly name: string;
  readonly sidecar: boolean;
  /** `meshd-<octet>-<name>`. */
  readonly netns: string;
  /** The host end of the veth pair (the namespace end is `eth0`). */
  readonly hostIf: string;
  /** The namespace's address on the bridge; also the WorkloadEntry address. */
  readonly address: string;
  /** The Service this workload serves (its app label), if any. */
  readonly service?: string;
  /** The ClusterIP of that Service (shared by the workloads behind it). */
  readonly clusterIP?: string;
}

export interface NetnsPlan {
  readonly octet: number;
  readonly bridge: string;
  /** The host's address on the bridge: meshd listens here. */
  readonly hostAddress: string;
  readonly subnet: string;
  readonly clusterSubnet: string;
  /** Bootstraps and a link to the Envoy binary, readable by the proxy user (the repo or /root may not be). */
  readonly runtimeDir: string;
  readonly workloads: readonly NetnsWorkload[];
}

/** The namespace names of a plan start with this (leftover detection matches on it). */
export function netnsPrefix(octet: number): string {
  return `meshd-${octet}-`;
}

/**
 * The network of the transparent demo for `octet` (0-255): frontend .11, backend .12, legacy
 * client .13, reviews v1/v2 .14/.15; ClusterIPs .1 (frontend), .2 (backend), .4 (reviews).
 */
export function netnsPlan(octet = 0): NetnsPlan {
  if (!Number.isInteger(octet) || octet < 0 || octet > 255) throw new Error(`octet must be 0-255, got ${octet}`);
  // Same indexes as the loopback plan; a Service's ClusterIP takes the index of its first workload.
  const serviceIndex = new Map<string, number>();
  for (const w of DEMO_WORKLOADS) if (w.port !== undefined && !serviceIndex.has(appOf(w))) serviceIndex.set(appOf(w), WORKLOAD_INDEX[w.name]!);
  const workloads = DEMO_WORKLOADS.map((w): NetnsWorkload => {
    const i = WORKLOAD_INDEX[w.name]!;
    return {
      name: w.name, sidecar: w.sidecar, netns: `${netnsPrefix(octet)}${w.name}`, hostIf: `meshd-${octet}-${i}`,
      address: `10.250.${octet}.${10 + i}`,
      ...(w.port !== undefined ? { service: appOf(w), clusterIP: `10.251.${octet}.${serviceIndex.get(appOf(w))!}` } : {}),
    };
  });
  return {
    octet, bridge: `meshd-br${octet}`, hostAddress: `10.250.${octet}.1`,
    subnet: `10.250.${octet}.0/24`, clusterSubnet: `10.251.${octet}.0/24`,
    runtimeDir: join('/run', `meshd-${octet}`), workloads,
  };
}

/** The AddressPlan the topology module renders config and bootstraps from (apps reach their sidecar only through iptables). */
export function netnsAddressPlan(p: NetnsPlan): AddressPlan {
  const workloads: Record<string, WorkloadAddresses> = {};
  const clusterIPs: Record<string, string> = {};
  for (const w of p.workloads) {
    workloads[w.name] = { address: w.address, appAddress: '127.0.0.1', outboundAddress: '127.0.0.1' };
    if (w.service && w.clusterIP) clusterIPs[w.service] = w.clusterIP;
  }
  return { kind: 'netns', meshdHost: p.hostAddress, workloads, clusterIPs };
}

/** The `ip` commands that build the network, in order (each argv without the leading `ip`). */
export function networkCommands(p: NetnsPlan): string[][] {
  const cmds: string[][] = [
    ['link', 'add', p.bridge, 'type', 'bridge'],
    ['addr', 'add', `${p.hostAddress}/24`, 'dev', p.bridge],
    ['link', 'set', p.bridge, 'up'],
  ];
  for (const w of p.workloads) {
    cmds.push(
      ['netns', 'add', w.netns],
      ['link', 'add', w.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', w.netns],
      ['link', 'set', w.hostIf, 'master', p.bridge],
      ['link', 'set', w.hostIf, 'up'],
      ['-n', w.netns, 'link', 'set', 'lo', 'up'],
      ['-n', w.netns, 'addr', 'add', `${w.address}/24`, 'dev', 'eth0'],
      ['-n', w.netns, 'link', 'set', 'eth0', 'up'],
    );
    // ClusterIPs must be routable for connect() to reach the nat OUTPUT chain; on-link, with no
    // gateway and no default route, so a packet that escaped the redirect dies on the bridge.
    if (w.sidecar) cmds.push(['-n', w.netns, 'route', 'add', p.clusterSubnet, 'dev', 'eth0']);
  }
  return cmds;
}

export interface RedirectOptions {
  /** meshd's address and xDS ports, which the sidecar reaches directly (it is excluded by uid too). */
  readonly meshdHost: string;
  readonly meshdPorts: readonly number[];
  readonly proxyUid?: number;
}

/**
 * The nat table of a meshed namespace, as `iptables-restore` input (Istio's rules, reduced):
 * every inbound TCP connection goes to 15006; every outbound one to 15001, except the
 * proxy's own (by uid), loopback to 127.0.0.1 (Envoy admin, sidecar → app) and meshd's xDS.
 */
export function natRules(o: RedirectOptions): string {
  const uid = o.proxyUid ?? PROXY_UID;
  const ports = [...o.meshdPorts].filter((x) => x > 0).sort((a, b) => a - b);
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':MESHD_INBOUND - [0:0]',
    ':MESHD_OUTPUT - [0:0]',
    '-A PREROUTING -p tcp -j MESHD_INBOUND',
    `-A MESHD_INBOUND -p tcp -j REDIRECT --to-ports ${INBOUND_CAPTURE_PORT}`,
    '-A OUTPUT -p tcp -j MESHD_OUTPUT',
    `-A MESHD_OUTPUT -m owner --uid-owner ${uid} -j RETURN`,
    '-A MESHD_OUTPUT -o lo -d 127.0.0.1/32 -j RETURN',
    ...(ports.length ? [`-A MESHD_OUTPUT -d ${o.meshdHost}/32 -p tcp -m multiport --dports ${ports.join(',')} -j RETURN`] : []),
    `-A MESHD_OUTPUT -p tcp -j REDIRECT --to-ports ${OUTBOUND_CAPTURE_PORT}`,
    'COMMIT',
    '',
  ].join('\n');
}

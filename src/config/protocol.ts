/**
 * Protocol selection for a service port, as Istio's: `appProtocol` wins, else the port name's
 * prefix before the first `-` (`http-web` → HTTP), case-insensitive.
 */
import type { PortProtocol } from '../model/types.js';

const BY_NAME: Readonly<Record<string, PortProtocol>> = {
  http: 'HTTP',
  http2: 'HTTP2',
  grpc: 'GRPC',
  'grpc-web': 'HTTP',
  https: 'HTTPS',
  tls: 'TLS',
  tcp: 'TCP',
  // Istio's protocol-specific filters for these are off by default: plain TCP, as here.
  mongo: 'TCP',
  mysql: 'TCP',
  redis: 'TCP',
  udp: 'UNSUPPORTED',
  // Kubernetes' standard appProtocol values.
  'kubernetes.io/h2c': 'HTTP2',
  'kubernetes.io/ws': 'HTTP',
  'kubernetes.io/wss': 'HTTPS',
};

/**
 * The protocol of a service port. Unnamed or unrecognized ports are TCP: Istio would sniff
 * them (protocol auto-detection), but stock Envoy cannot do Istio's sniffing here, so they get
 * plain TCP proxying. Kubernetes `protocol: UDP`/`SCTP` ports are UNSUPPORTED (not meshed).
 */
export function selectProtocol(name: string, appProtocol: string | undefined, l4Protocol: string | undefined): PortProtocol {
  if (l4Protocol !== undefined && l4Protocol.toUpperCase() !== 'TCP') return 'UNSUPPORTED';
  if (appProtocol) {
    const p = BY_NAME[appProtocol.toLowerCase()];
    if (p) return p;
  }
  const lower = name.toLowerCase();
  if (lower === 'grpc-web' || lower.startsWith('grpc-web-')) return 'HTTP';
  const i = lower.indexOf('-');
  const prefix = i >= 0 ? lower.slice(0, i) : lower;
  return BY_NAME[prefix] ?? 'TCP';
}

/** Whether a protocol is served by the HTTP connection manager (routes, HTTP RBAC). */
export function isHttpProtocol(p: PortProtocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC';
}

/** `v1 Service` → model Service. */
import type { Service, ServicePort } from '../model/types.js';
import type { ParseContext, ParseResult } from '../model/parse-result.js';
import { Checker, isRecord, join } from './fields.js';
import { parseMeta, peekIdentity } from './meta.js';
import { selectProtocol } from './protocol.js';

const KNOWN_TOP = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
// Kubernetes Service fields this mesh does not use are accepted silently.
const KNOWN_SPEC = [
  'selector', 'ports', 'clusterIP', 'clusterIPs', 'type', 'sessionAffinity', 'sessionAffinityConfig',
  'ipFamilies', 'ipFamilyPolicy', 'internalTrafficPolicy', 'externalTrafficPolicy', 'publishNotReadyAddresses',
  'externalName', 'externalIPs', 'loadBalancerIP', 'loadBalancerSourceRanges', 'loadBalancerClass',
  'healthCheckNodePort', 'allocateLoadBalancerNodePorts', 'trafficDistribution',
];
const KNOWN_PORT = ['name', 'port', 'targetPort', 'protocol', 'appProtocol', 'nodePort'];

/** The options parsers need from the mesh config. */
export interface ParseOptions {
  /** Hostname suffix: `<name>.<ns>.svc.<domainSuffix>`. */
  readonly domainSuffix: string;
}

/**
 * Validates a Service. Hostname is `<name>.<ns>.svc.<domainSuffix>`; an empty selector counts
 * as none (no endpoints), as in Kubernetes; UDP/SCTP ports are kept with protocol UNSUPPORTED.
 */
export function parseService(raw: unknown, ctx: ParseContext, opts: ParseOptions): ParseResult<Service> {
  const id = peekIdentity(raw, ctx, true);
  const c = new Checker(ctx, 'Service', id.namespace, id.name);
  if (!isRecord(raw)) { c.error('', 'must be a mapping'); return { ok: false, diagnostics: c.diagnostics }; }
  c.unknownKeys(raw, KNOWN_TOP, '');
  const meta = parseMeta(raw, c, ctx, { namespaced: true, dnsLabelName: true });
  const spec = c.record(raw, 'spec', '');
  if (!spec) c.error('spec', 'is required');
  const ports: ServicePort[] = [];
  let selector: Record<string, string> | undefined;
  let clusterIP: string | undefined;
  if (spec) {
    c.unknownKeys(spec, KNOWN_SPEC, 'spec');
    const sel = c.stringMap(spec, 'selector', 'spec');
    if (Object.keys(sel).length > 0) selector = sel;
    const ip = c.string(spec, 'clusterIP', 'spec');
    if (ip !== undefined && ip !== '' && ip !== 'None') clusterIP = c.ip(ip, 'spec.clusterIP');
    const list = c.array(spec, 'ports', 'spec') ?? [];
    if (list.length === 0) c.error('spec.ports', 'must list at least one port');
    const seenNames = new Set<string>();
    const seenPorts = new Set<number>();
    list.forEach((p, i) => {
      const path = `spec.ports[${i}]`;
      if (!isRecord(p)) { c.error(path, 'must be a mapping'); return; }
      c.unknownKeys(p, KNOWN_PORT, path);
      const port = c.port(p.port, join(path, 'port'));
      if (p.port === undefined) c.error(join(path, 'port'), 'is required');
      const name = c.string(p, 'name', path) ?? '';
      if (name === '' && list.length > 1) c.error(join(path, 'name'), 'is required when a Service has several ports');
      if (name !== '' && seenNames.has(name)) c.error(join(path, 'name'), `duplicate port name ${JSON.stringify(name)}`);
      seenNames.add(name);
      const appProtocol = c.string(p, 'appProtocol', path);
      const l4 = c.string(p, 'protocol', path);
      let targetPort: number | string | undefined;
      const tp = p.targetPort;
      if (typeof tp === 'string' && /^\d+$/.test(tp)) targetPort = c.port(Number(tp), join(path, 'targetPort'));
      else if (typeof tp === 'string') {
        if (tp === '' || tp.length > 15) c.error(join(path, 'targetPort'), 'must be a port number or an IANA port name');
        else targetPort = tp;
      } else if (tp !== undefined && tp !== null) targetPort = c.port(tp, join(path, 'targetPort'));
      if (port === undefined) return;
      if (seenPorts.has(port) && (l4 ?? 'TCP').toUpperCase() === 'TCP') c.error(join(path, 'port'), `duplicate port ${port}`);
      seenPorts.add(port);
      ports.push({ name, port, targetPort: targetPort ?? port, protocol: selectProtocol(name, appProtocol, l4) });
    });
  }
  if (c.hasErrors || !meta) return { ok: false, diagnostics: c.diagnostics };
  const hostname = `${meta.name}.${meta.namespace}.svc.${opts.domainSuffix}`;
  const value: Service = {
    meta, hostname, ports: ports.sort((a, b) => a.port - b.port),
    ...(clusterIP !== undefined ? { clusterIP } : {}),
    ...(selector !== undefined ? { selector } : {}),
  };
  return { ok: true, value, warnings: c.warnings };
}

/**
 * What `npm run demo -- --transparent` prints at start: the namespaces, who runs where, and
 * commands to look inside (iptables counters, Envoy admin inside a namespace).
 */
import { DEMO_NAMESPACE, callTarget, demoWorkload } from './topology.js';
import { shown } from './report.js';
import { INBOUND_CAPTURE_PORT, NETNS_ENVOY_ADMIN_PORT, OUTBOUND_CAPTURE_PORT, PROXY_UID } from './transparent-plan.js';
import type { RunningTransparentDemo } from './transparent-run.js';

/** The startup banner of the transparent demo. */
export function transparentBanner(d: RunningTransparentDemo): string {
  const n = d.network;
  const lines: string[] = [];
  lines.push('meshd demo is running (transparent mode: apps call service addresses; iptables sends every connection through the sidecars)', '');
  lines.push(`  bridge          ${n.bridge} ${n.hostAddress}/24 (workloads ${n.subnet}, ClusterIPs ${n.clusterSubnet} on no interface; nothing is routed off this machine)`);
  lines.push(`  meshd           pid ${d.meshd.pid}  xDS ${n.hostAddress}:${d.ports.xds}  admin ${d.meshdBridgeUrl} (also ${d.meshdUrl})  log ${shown(`${d.dir}/logs/meshd.log`)}`);
  for (const r of d.workloads) {
    const w = demoWorkload(r.name);
    const nw = n.workloads.find((x) => x.name === w.name)!;
    const t = callTarget(d.plan, w);
    const parts = [`  ${w.name.padEnd(15)} netns ${nw.netns} ${nw.address}, app pid ${r.app.pid}`];
    if (w.port) parts.push(`serves :${w.port} (ClusterIP ${nw.clusterIP}:${w.port})`);
    if (r.envoy) parts.push(`sidecar pid ${r.envoy.pid} uid ${PROXY_UID} (:${OUTBOUND_CAPTURE_PORT} out, :${INBOUND_CAPTURE_PORT} in)`);
    else parts.push('no sidecar, no redirect');
    if (t && w.calls) parts.push(`calls http://${t.host}:${t.port}${t.path} every ${w.calls.intervalMs / 1000}s`);
    lines.push(parts.join(', '));
  }
  const cfg = shown(d.configDir);
  const sec = `${cfg}/30-security.yaml`;
  const be = n.workloads.find((x) => x.name === 'backend')!;
  const fe = n.workloads.find((x) => x.name === 'frontend')!;
  // meshd listens on the bridge, not on loopback, so its debug views want the admin token
  // that meshd minted into the demo's state dir.
  const meshd = `${d.ports.admin === 15014 ? '' : ` --meshd ${d.meshdUrl}`} --state-dir ${shown(`${d.dir}/state`)}`;
  lines.push('', `Configuration: ${cfg}/ (meshd watches it; a saved edit applies within a second, no restart)`, '', 'Try, in another terminal (as root):');
  lines.push(`  node bin/meshctl edges -n ${DEMO_NAMESPACE}${meshd}                       who calls whom, and is it mTLS?`);
  lines.push(`  sed -i 's/mode: STRICT/mode: PERMISSIVE/' ${sec}   the legacy client gets in, in plaintext`);
  lines.push(`  sed -i 's/mode: PERMISSIVE/mode: STRICT/' ${sec}   ...and is refused again`);
  lines.push(`  ip netns exec ${fe.netns} curl -s -H 'host: backend.${DEMO_NAMESPACE}.svc.cluster.local' http://${be.clusterIP}:8080/api/orders    a call from frontend's namespace, through both sidecars`);
  lines.push(`  ip netns exec ${be.netns} iptables -t nat -L -n -v       the redirect rules and their counters`);
  lines.push(`  ip netns exec ${be.netns} curl -s 127.0.0.1:${NETNS_ENVOY_ADMIN_PORT}/stats | grep ssl.handshake     backend's Envoy counts TLS handshakes`);
  lines.push(`  logs: ${shown(`${d.dir}/logs`)}/   (meshd.log, <workload>.log, <workload>-envoy.log)`, '', 'Ctrl-C stops everything and removes the namespaces and the bridge.', '');
  return lines.join('\n');
}

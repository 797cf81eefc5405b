/** The transparent demo's network as data: names, addresses, nat rules (no root needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meshConfigFiles, callTarget, demoWorkload } from './topology.js';
import { natRules, netnsAddressPlan, netnsPlan, networkCommands } from './transparent-plan.js';

test('netnsPlan: private addresses, names that fit Linux interface names, ClusterIPs only for services', () => {
  const p = netnsPlan(255);
  assert.equal(p.bridge, 'meshd-br255');
  assert.equal(p.hostAddress, '10.250.255.1');
  for (const w of p.workloads) {
    assert.ok(w.hostIf.length <= 15, `${w.hostIf} fits IFNAMSIZ`);
    assert.ok(w.netns.startsWith('meshd-255-'));
    assert.match(w.address, /^10\.250\.255\.1[1-5]$/);
  }
  assert.deepEqual(p.workloads.map((w) => [w.name, w.clusterIP ?? '-']), [['backend', '10.251.255.2'], ['reviews-v1', '10.251.255.4'], ['reviews-v2', '10.251.255.4'], ['frontend', '10.251.255.1'], ['legacy-client', '-']]);
  assert.throws(() => netnsPlan(256));
});

test('networkCommands: no default route anywhere; only meshed namespaces route the ClusterIP range, on-link', () => {
  const cmds = networkCommands(netnsPlan(3)).map((c) => c.join(' '));
  assert.ok(!cmds.some((c) => /\bdefault\b|\bvia\b/.test(c)), 'nothing is routed through a gateway');
  assert.deepEqual(cmds.filter((c) => c.includes('route add')), [
    '-n meshd-3-backend route add 10.251.3.0/24 dev eth0',
    '-n meshd-3-reviews-v1 route add 10.251.3.0/24 dev eth0',
    '-n meshd-3-reviews-v2 route add 10.251.3.0/24 dev eth0',
    '-n meshd-3-frontend route add 10.251.3.0/24 dev eth0',
  ]);
});

test('natRules: inbound → 15006; outbound → 15001 except the proxy uid, loopback and meshd xDS, in that order', () => {
  const rules = natRules({ meshdHost: '10.250.0.1', meshdPorts: [15012, 15010, 0] }).split('\n').filter((l) => l.startsWith('-A'));
  assert.deepEqual(rules, [
    '-A PREROUTING -p tcp -j MESHD_INBOUND',
    '-A MESHD_INBOUND -p tcp -j REDIRECT --to-ports 15006',
    '-A OUTPUT -p tcp -j MESHD_OUTPUT',
    '-A MESHD_OUTPUT -m owner --uid-owner 1337 -j RETURN',
    '-A MESHD_OUTPUT -o lo -d 127.0.0.1/32 -j RETURN',
    '-A MESHD_OUTPUT -d 10.250.0.1/32 -p tcp -m multiport --dports 15010,15012 -j RETURN',
    '-A MESHD_OUTPUT -p tcp -j REDIRECT --to-ports 15001',
  ]);
});

test('netns config: Services carry their ClusterIP, WorkloadEntries the namespace address; sidecar apps call ClusterIPs, the legacy client calls backend directly', () => {
  const plan = netnsAddressPlan(netnsPlan(0));
  const files = meshConfigFiles(plan);
  assert.match(files['10-services.yaml']!, /clusterIP: 10\.251\.0\.2/);
  assert.match(files['10-services.yaml']!, /name: reviews\n[^-]*clusterIP: 10\.251\.0\.4/);
  assert.match(files['20-workloads.yaml']!, /address: 10\.250\.0\.12/);
  assert.doesNotMatch(files['20-workloads.yaml']!, /meshd\.dev\/app-address/);
  assert.equal(callTarget(plan, demoWorkload('frontend'))?.host, '10.251.0.2');
  assert.equal(callTarget(plan, demoWorkload('legacy-client'))?.host, '10.250.0.12');
});

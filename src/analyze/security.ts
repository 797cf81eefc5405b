/**
 * Security-policy analyzers: selectors that match nothing (and the other snapshot warnings),
 * DENY rules whose HTTP-only fields are dropped on TCP ports, STRICT in front of clients seen
 * sending plaintext, and policies shadowed by others.
 */
import type { AuthorizationPolicy, AuthzRule, Diagnostic, MeshSnapshot, Workload } from '../model/types.js';
import { authorizationPoliciesFor, mtlsProvenance, policyWarnings, workloadPortProtocol } from '../authz/index.js';
import { ruleToPolicy } from '../authz/rbac-rule.js';
import type { Analyzer } from './types.js';

const nsName = (p: { meta: { namespace: string; name: string } }): string => `${p.meta.namespace}/${p.meta.name}`;

function finding(p: AuthorizationPolicy, field: string, message: string, severity: Diagnostic['severity'] = 'warning'): Diagnostic {
  return { severity, source: p.meta.source, kind: 'AuthorizationPolicy', namespace: p.meta.namespace, name: p.meta.name, field, message };
}

/** Workloads a policy applies to (the same selection translation uses). */
function selectedBy(snapshot: MeshSnapshot, p: AuthorizationPolicy): Workload[] {
  return snapshot.workloads.filter((w) => authorizationPoliciesFor(snapshot, w).includes(p));
}

function tcpPorts(snapshot: MeshSnapshot, w: Workload): number[] {
  return [...new Set(Object.values(w.ports))].filter((port) => workloadPortProtocol(snapshot, w, port) === 'tcp').sort((a, b) => a - b);
}

function hasPorts(rule: AuthzRule): boolean {
  return (rule.to ?? []).some((t) => (t.operation.ports?.length ?? 0) > 0 || (t.operation.notPorts?.length ?? 0) > 0);
}

/** A rule with no conditions at all: it matches every request. */
function matchesAll(rule: AuthzRule): boolean {
  return !rule.from?.length && !rule.to?.length && !rule.when?.length;
}

const policyWarningsAnalyzer: Analyzer = {
  name: 'policy-selectors',
  description: 'selectors that match no workload, root-namespace selectors, portLevelMtls ports no workload has, competing namespace-wide PeerAuthentications, missing CUSTOM providers',
  run: ({ snapshot }) => policyWarnings(snapshot),
};

const denyOnTcp: Analyzer = {
  name: 'deny-hits-tcp',
  description: 'DENY rules with HTTP-only fields and no ports: on a TCP port those fields are dropped, so the rule denies every connection it otherwise matches',
  run: ({ snapshot }) => snapshot.authorizationPolicies.filter((p) => p.action === 'DENY' && !p.dryRun).flatMap((p) => {
    const tcp = selectedBy(snapshot, p).flatMap((w) => tcpPorts(snapshot, w).map((port) => `${w.namespace}/${w.name}:${port}`));
    if (tcp.length === 0) return [];
    return (p.rules ?? []).flatMap((r, i) => {
      const ignored = ruleToPolicy(r, 'DENY', true).ignoredFields;
      if (ignored.length === 0 || hasPorts(r)) return [];
      return [finding(p, `spec.rules[${i}]`, `uses HTTP-only ${ignored.join(', ')} without ports: on TCP ports (${tcp.join(', ')}) ${ignored.length > 1 ? 'they are' : 'it is'} ignored and this DENY rule refuses every matching connection; add to[].operation.ports to limit it to HTTP ports`)];
    });
  }),
};

const strictBreaksPlaintext: Analyzer = {
  name: 'strict-breaks-plaintext',
  description: 'STRICT mTLS on a workload that clients reached in plaintext within the telemetry window: those clients are now refused',
  run: ({ snapshot, plaintext }) => {
    if (!plaintext) return [];
    const out: Diagnostic[] = [];
    for (const ns of plaintext.namespaces) {
      for (const pw of ns.workloads) {
        const w = snapshot.workloads.find((x) => x.namespace === ns.namespace && x.name === pw.workload);
        if (!w || pw.clients.length === 0) continue;
        const prov = mtlsProvenance(snapshot, w);
        for (const port of prov.ports.filter((p) => p.mode === 'STRICT' && p.setBy.policy)) {
          const clients = pw.clients.filter((c) => c.ports.length === 0 || c.ports.includes(port.port));
          if (clients.length === 0) continue;
          const [pns, pname] = port.setBy.policy!.split('/') as [string, string];
          const pa = snapshot.peerAuthentications.find((p) => p.meta.namespace === pns && p.meta.name === pname);
          out.push({
            severity: 'warning', source: pa?.meta.source ?? '', kind: 'PeerAuthentication', namespace: pns, name: pname,
            field: port.setBy.level === 'workload (port level)' ? `spec.portLevelMtls[${port.port}].mode` : 'spec.mtls.mode',
            message: `STRICT on ${w.namespace}/${w.name} port ${port.port} refuses ${clients.length} client${clients.length > 1 ? 's' : ''} seen sending plaintext: ${clients.map((c) => (c.source === c.sourceAddress ? c.sourceAddress : `${c.namespace}/${c.source}`)).join(', ')} (meshctl plaintext shows them)`,
          });
        }
      }
    }
    return out;
  },
};

function ruleKey(r: AuthzRule): string {
  return JSON.stringify(r);
}

const shadowed: Analyzer = {
  name: 'shadowed-policies',
  description: 'policies that can never change a decision: ALLOW rules under a DENY that matches everything, narrower ALLOW rules beside an allow-all, rules repeated by an older policy',
  run: ({ snapshot }) => {
    const out: Diagnostic[] = [];
    const seen = new Set<string>();
    for (const w of snapshot.workloads) {
      const ps = authorizationPoliciesFor(snapshot, w).filter((p) => !p.dryRun);
      const denyAll = ps.find((p) => p.action === 'DENY' && (p.rules ?? []).some(matchesAll));
      const allowAll = ps.find((p) => p.action === 'ALLOW' && (p.rules ?? []).some(matchesAll));
      const byRule = new Map<string, AuthorizationPolicy>();
      for (const p of ps) {
        const once = (field: string, message: string): void => {
          const k = `${nsName(p)}|${field}`;
          if (seen.has(k)) return;
          seen.add(k);
          out.push(finding(p, field, message));
        };
        if (p.action === 'ALLOW' && denyAll && denyAll !== p) once('spec', `shadowed on ${w.namespace}/${w.name}: DENY policy ${nsName(denyAll)} matches every request, so this ALLOW never lets anything in`);
        else if (p.action === 'ALLOW' && allowAll && allowAll !== p && !(p.rules ?? []).some(matchesAll)) once('spec.rules', `shadowed on ${w.namespace}/${w.name}: ALLOW policy ${nsName(allowAll)} allows every request, so this narrower ALLOW changes nothing`);
        (p.rules ?? []).forEach((r, i) => {
          const k = `${p.action}|${ruleKey(r)}`;
          const first = byRule.get(k);
          if (first && first !== p) once(`spec.rules[${i}]`, `repeats a rule of ${p.action} policy ${nsName(first)} on ${w.namespace}/${w.name}: it never changes a decision`);
          else if (!first) byRule.set(k, p);
        });
      }
    }
    return out;
  },
};

/** The security analyzers, in the order their findings are listed. */
export const SECURITY_ANALYZERS: readonly Analyzer[] = [policyWarningsAnalyzer, denyOnTcp, strictBreaksPlaintext, shadowed];

/**
 * Host names in the traffic kinds: validation (DNS names; a wildcard only as a leading `*.`
 * or a lone `*`) and resolution in the object's namespace, as Istio does: a name without a
 * dot is a Service of that namespace (`reviews` → `reviews.<ns>.svc.<suffix>`); anything
 * else is kept as written, lowercased.
 */
import { isIP } from 'node:net';

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;

/** Why `h` is not a valid host (a DNS name, `*.` + DNS name, or `*`), or undefined when it is. */
export function hostProblem(h: string, opts: { allowStar: boolean; allowIp?: boolean }): string | undefined {
  if (h === '') return 'must not be empty';
  if (h === '*') return opts.allowStar ? undefined : '"*" is not allowed here';
  if (opts.allowIp && isIP(h) !== 0) return undefined;
  if (h.length > 255) return `${JSON.stringify(h)} is longer than 255 characters`;
  const name = h.startsWith('*.') ? h.slice(2) : h;
  if (name.includes('*')) return `${JSON.stringify(h)}: a wildcard is only allowed as a leading "*." (e.g. "*.example.com")`;
  const parts = name.endsWith('.') ? name.slice(0, -1).split('.') : name.split('.');
  for (const p of parts) {
    if (p.length > 63 || !LABEL.test(p)) return `${JSON.stringify(h)} is not a valid DNS name (label ${JSON.stringify(p)})`;
  }
  if (/^\d+$/.test(parts[parts.length - 1]!) && parts.length > 1) return `${JSON.stringify(h)} is not a valid DNS name (the top-level label is all digits)`;
  return undefined;
}

/** Resolves a host written in namespace `ns` (see the module comment); the result is lowercase. */
export function resolveHost(h: string, ns: string, domainSuffix: string): string {
  const lower = h.toLowerCase();
  if (lower === '*' || lower.includes('.') || isIP(lower) !== 0) return lower;
  return `${lower}.${ns}.svc.${domainSuffix}`;
}

/** Whether every name `a` matches is also matched by `b` (`x.com` ⊂ `*.com` ⊂ `*`). */
export function hostSubsetOf(a: string, b: string): boolean {
  if (b === '*' || a === b) return true;
  if (!b.startsWith('*.')) return false;
  const suffix = b.slice(1);
  return a.startsWith('*.') ? a.slice(1).endsWith(suffix) : a.endsWith(suffix);
}

/** Whether two hosts can match a common name (Istio's rule for duplicate VirtualService hosts). */
export function hostsOverlap(a: string, b: string): boolean {
  return hostSubsetOf(a, b) || hostSubsetOf(b, a);
}

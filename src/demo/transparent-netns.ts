/**
 * Builds and removes the transparent demo's network (transparent-plan.ts describes it):
 * namespaces, bridge, veth pairs, nat rules, and the runtime folder the proxy user reads.
 * Everything here is synchronous so that removal also works from a process 'exit' handler.
 * Removal works by name, so it also clears what a killed earlier run left behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DemoError } from './checks.js';
import { PROXY_UID, natRules, netnsPrefix, networkCommands, type NetnsPlan, type RedirectOptions } from './transparent-plan.js';

interface Ran { readonly status: number | null; readonly stdout: string; readonly stderr: string }

function run(cmd: string, args: readonly string[], input?: string): Ran {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}), timeout: 15000 });
  if (r.error) return { status: null, stdout: '', stderr: r.error.message };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function must(cmd: string, args: readonly string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.status !== 0) throw new DemoError('start-failed', `\`${cmd} ${args.join(' ')}\` failed: ${r.stderr.trim() || `exit ${r.status}`}`);
  return r.stdout;
}

function has(cmd: string): boolean {
  return run('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Why transparent mode cannot run on this machine (root, ip netns, iptables with the owner match inside a namespace), or undefined when it can. */
export function transparentUnavailable(octet: number): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'it needs root (network namespaces and iptables); run it with sudo';
  for (const c of ['ip', 'iptables', 'iptables-restore', 'setpriv']) {
    if (!has(c)) return `\`${c}\` is missing; install it with: bash scripts/netns-prereqs.sh`;
  }
  const probe = `${netnsPrefix(octet)}probe`;
  run('ip', ['netns', 'del', probe]);
  const made = run('ip', ['netns', 'add', probe]);
  if (made.status !== 0) return `\`ip netns add\` failed: ${made.stderr.trim()}`;
  try {
    const nat = run('ip', ['netns', 'exec', probe, 'iptables-restore'], natRules({ meshdHost: '10.250.0.1', meshdPorts: [15010] }));
    if (nat.status !== 0) return `iptables nat rules cannot be set in a namespace: ${nat.stderr.trim()}`;
    const listed = run('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-S', 'MESHD_OUTPUT']);
    if (listed.status !== 0 || !listed.stdout.includes(`--uid-owner ${PROXY_UID}`)) return `\`iptables -t nat -L\` in a namespace does not show the rules: ${listed.stderr.trim()}`;
    return undefined;
  } finally {
    run('ip', ['netns', 'del', probe]);
  }
}

export interface Leftovers {
  readonly namespaces: readonly string[];
  readonly links: readonly string[];
  readonly pids: readonly number[];
  readonly runtimeDir: boolean;
  /** The host's FORWARD rules that let the bridge's own traffic through (`iptables -S` form). */
  readonly forwardRules: readonly string[];
}

/** The comment that marks the demo's FORWARD rules in the host's filter table. */
function forwardComment(p: NetnsPlan): string {
  return `meshd demo ${p.octet}`;
}

/** The host's FORWARD rules carrying this plan's comment, as `iptables -S` prints them. */
function forwardRules(p: NetnsPlan): string[] {
  const r = run('iptables', ['-w', '-S', 'FORWARD']);
  if (r.status !== 0) return [];
  return r.stdout.split('\n').filter((l) => l.startsWith('-A FORWARD') && l.includes(`"${forwardComment(p)}"`));
}

/** What of a plan's network exists now (namespaces, links, processes inside, runtime folder). */
export function findLeftovers(p: NetnsPlan): Leftovers {
  const prefix = netnsPrefix(p.octet);
  const namespaces = run('ip', ['netns', 'list']).stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n.startsWith(prefix)).sort();
  const links = run('ip', ['-o', 'link', 'show']).stdout.split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n === p.bridge || n.startsWith(`meshd-${p.octet}-`)).sort();
  const pids = namespaces.flatMap((ns) => run('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean).map(Number)).filter((n) => n > 0);
  return { namespaces, links, pids, runtimeDir: existsSync(p.runtimeDir), forwardRules: forwardRules(p) };
}

/** True when nothing of the plan exists. */
export function isClean(l: Leftovers): boolean {
  return l.namespaces.length === 0 && l.links.length === 0 && l.pids.length === 0 && !l.runtimeDir && l.forwardRules.length === 0;
}

/** Removes every namespace, link and process of the plan, and its runtime folder; returns what it removed, in words. */
export function removeNetwork(p: NetnsPlan): string[] {
  const l = findLeftovers(p);
  const removed: string[] = [];
  // Processes inside our namespaces are the demo's own (an earlier run killed before it cleaned up).
  for (const pid of l.pids) {
    try { process.kill(pid, 'SIGKILL'); removed.push(`process ${pid}`); } catch { /* already gone */ }
  }
  for (const ns of l.namespaces) {
    if (run('ip', ['netns', 'del', ns]).status === 0) removed.push(`namespace ${ns}`);
  }
  // veth host ends vanish with their namespace; the bridge stays until deleted.
  for (const link of findLeftovers(p).links) {
    if (run('ip', ['link', 'del', link]).status === 0) removed.push(`link ${link}`);
  }
  if (l.runtimeDir) { rmSync(p.runtimeDir, { recursive: true, force: true }); removed.push(`folder ${p.runtimeDir}`); }
  for (const rule of l.forwardRules) {
    // `-A FORWARD ...` → `-D FORWARD ...`; the rule's words as iptables printed them.
    const words = rule.slice(3).match(/"[^"]*"|\S+/g)?.map((w) => w.replace(/^"|"$/g, '')) ?? [];
    if (run('iptables', ['-w', '-D', ...words]).status === 0) removed.push(`iptables rule FORWARD ${rule.slice(11)}`);
  }
  return removed;
}

/** Creates the bridge, namespaces, veth pairs, addresses and routes; on failure removes what it made and throws a DemoError. */
export function createNetwork(p: NetnsPlan): void {
  try {
    for (const args of networkCommands(p)) must('ip', args);
    // With br_netfilter loaded (Docker loads it and sets the FORWARD policy to DROP), frames
    // between the demo's namespaces cross the host's FORWARD chain: let the bridge's own
    // traffic through, and nothing else.
    must('iptables', ['-w', '-I', 'FORWARD', '-i', p.bridge, '-o', p.bridge, '-m', 'comment', '--comment', forwardComment(p), '-j', 'ACCEPT']);
  } catch (e) {
    removeNetwork(p);
    throw e;
  }
}

/** Loads the nat rules into every meshed namespace and reads them back. */
export function applyRedirect(p: NetnsPlan, o: RedirectOptions): void {
  for (const w of p.workloads.filter((x) => x.sidecar)) {
    must('ip', ['netns', 'exec', w.netns, 'iptables-restore'], natRules(o));
    const back = must('ip', ['netns', 'exec', w.netns, 'iptables', '-t', 'nat', '-S', 'MESHD_OUTPUT']);
    if (!back.includes('REDIRECT')) throw new DemoError('start-failed', `the nat rules did not load in ${w.netns}:\n${back}`);
  }
}

/** Creates the runtime folder (world-traversable) with the Envoy binary linked (or copied) into it; returns the binary's path there. */
export function prepareRuntimeDir(p: NetnsPlan, envoyBin: string): string {
  mkdirSync(p.runtimeDir, { recursive: true, mode: 0o755 });
  chmodSync(p.runtimeDir, 0o755);
  const target = join(p.runtimeDir, 'envoy');
  rmSync(target, { force: true });
  const real = realpathSync(envoyBin);
  try { linkSync(real, target); } catch { copyFileSync(real, target); chmodSync(target, 0o755); }
  return target;
}

/** Writes a file only the proxy user (and root) can read, into the runtime folder; returns its path. */
export function writeProxyFile(p: NetnsPlan, name: string, text: string): string {
  const f = join(p.runtimeDir, name);
  writeFileSync(f, text, { mode: 0o600 });
  chownSync(f, PROXY_UID, PROXY_UID);
  return f;
}

/** `ip netns exec NS` followed by the proxy user's credentials (parent-death signal set after the uid change, which clears it). */
export function proxyCommand(ns: string): string[] {
  return ['netns', 'exec', ns, 'setpriv', `--reuid=${PROXY_UID}`, `--regid=${PROXY_UID}`, '--clear-groups', '--pdeathsig', 'SIGTERM', '--'];
}

/** GETs `url` from inside a namespace (Envoy's admin listens on the namespace's own 127.0.0.1); status 0 when it cannot connect. */
export function netnsFetch(ns: string, url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const script = 'fetch(process.argv[1],{signal:AbortSignal.timeout(' + String(timeoutMs) + ')}).then(async(r)=>{process.stdout.write(r.status+"\\n"+await r.text())},()=>{process.stdout.write("0\\n")})';
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, url], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.setEncoding('utf8');
    c.stdout.on('data', (d: string) => { out += d; });
    c.on('error', () => resolve({ status: 0, body: '' }));
    c.on('close', () => {
      const i = out.indexOf('\n');
      resolve(i < 0 ? { status: 0, body: '' } : { status: Number(out.slice(0, i)) || 0, body: out.slice(i + 1) });
    });
  });
}

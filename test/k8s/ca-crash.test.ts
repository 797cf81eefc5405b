// Crash safety of the Kubernetes Secret CA store (issue 14), on a real kube-apiserver: SIGKILL
// at random points (just before or after the write, or at a random moment) during first start
// and each root-rotation step, 50 times each; a restart always sees the old or the new root,
// never neither, and never a certificate without its key. A writer holding a stale
// resourceVersion gets a conflict and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { kubeUp, type Kube } from '../helpers/kube.js';
import { runCrashChild, seeded, type CrashPhase } from '../helpers/ca-crash.js';
import { CertificateAuthority } from '../../src/ca/ca.js';
import type { CaState } from '../../src/ca/store.js';
import { SecretCaStore } from '../../src/k8s/ca-secret-store.js';
import { namespace } from './setup.js';

const RUNS = Number(process.env.CA_CRASH_RUNS ?? 50);
const NS = 'meshd-ca-crash';
let kube: Kube;

before(async () => {
  kube = await kubeUp();
  namespace(kube, NS);
});
after(() => kube?.down());

const store = (): SecretCaStore => new SecretCaStore(kube.client, NS);
const secretPath = `/api/v1/namespaces/${NS}/secrets/meshd-ca`;

async function reset(state: CaState | undefined): Promise<void> {
  await kube.client.request('DELETE', secretPath);
  if (state) await store().save(state);
}

async function secretKeys(): Promise<string[]> {
  const r = await kube.client.request('GET', secretPath);
  if (r.status === 404) return [];
  return Object.keys((r.body as { data: Record<string, string> }).data).sort();
}

interface Seen { readonly phase: string; readonly bundle: readonly string[]; readonly signer: string }
async function see(): Promise<Seen> {
  const st = (await CertificateAuthority.open(store())).status();
  return { phase: st.phase, bundle: st.roots.map((r) => r.sha256), signer: st.roots.find((r) => r.signing)!.sha256 };
}

async function baseState(phase: CrashPhase): Promise<CaState | undefined> {
  await reset(undefined);
  if (phase === 'first') return undefined;
  const ca = await CertificateAuthority.open(store());
  if (phase !== 'introduce') await ca.introduceRoot();
  if (phase === 'retire') await ca.activateNewRoot();
  return await store().load();
}

for (const phase of ['first', 'introduce', 'activate', 'retire'] as const) {
  test(`Secret CA store: SIGKILL at random points during ${phase}, ${RUNS} times`, async () => {
    const base = await baseState(phase);
    const before = base ? await see() : undefined;
    const where = `${kube.kubeconfig}|${NS}`;
    const t0 = Date.now();
    const full = await runCrashChild('secret', where, phase, {});
    const fullMs = Date.now() - t0;
    assert.ok(!full.killed, full.output);
    const rand = seeded(41 + phase.length);
    const outcomes = { old: 0, new: 0, none: 0 };
    for (let i = 0; i < RUNS; i++) {
      await reset(base);
      // Half the runs crash at a durable step, half at a random moment of the run.
      const crash = i % 2 === 0 ? { crashAt: Math.floor(rand() * ((full.steps ?? 0) + 1)) } : { delayMs: Math.floor(rand() * fullMs) };
      await runCrashChild('secret', where, phase, crash);
      const keys = await secretKeys();
      for (const k of keys) {
        const m = /^(root-\d+)-cert\.pem$/.exec(k);
        if (m) assert.ok(keys.includes(`${m[1]}-key.pem`), `run ${i}: ${k} without its key`);
      }
      if (phase === 'first' && keys.length === 0) { outcomes.none++; continue; } // killed before the Secret existed: a restart makes one
      let seen: Seen;
      try { seen = await see(); } catch (e) { throw new Error(`run ${i} (${JSON.stringify(crash)}): restart failed: ${e instanceof Error ? e.message : String(e)}`); }
      if (!before) { outcomes.new++; continue; }
      if (seen.phase === before.phase) {
        assert.deepEqual(seen.bundle, before.bundle, `run ${i}: same phase, same roots`);
        outcomes.old++;
      } else {
        assert.equal(seen.phase, ({ first: 'steady', introduce: 'introduced', activate: 'activated', retire: 'steady' } as const)[phase], `run ${i}`);
        assert.ok(seen.bundle.includes(phase === 'retire' ? before.bundle[1]! : before.bundle[0]!), `run ${i}: the surviving root is one of the old ones`);
        outcomes.new++;
      }
    }
    console.log(`${phase}: ${RUNS} SIGKILLs (Secret store): ${outcomes.old} old root, ${outcomes.new} new, ${outcomes.none} before the first write; all restarted`);
  });
}

test('Secret CA store: a stale resourceVersion is a conflict that changes nothing', async () => {
  await reset(undefined);
  await CertificateAuthority.open(store());
  const a = await CertificateAuthority.open(store());
  const b = await CertificateAuthority.open(store());
  await a.introduceRoot();
  const winner = await see();
  await assert.rejects(b.introduceRoot(), /409|another meshd replica/);
  assert.equal(b.rotationPhase, 'steady', 'the loser keeps its state in memory');
  assert.deepEqual(await see(), winner, 'the Secret keeps the winner\'s roots');
  // A restart of the loser sees the winner's state and can go on from there.
  const c = await CertificateAuthority.open(store());
  await c.activateNewRoot();
  assert.equal((await see()).phase, 'activated');
});

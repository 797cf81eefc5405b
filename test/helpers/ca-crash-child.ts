// A child that does what meshd does to its CA state (first start, or one root-rotation step)
// and SIGKILLs itself at the Nth durable step (ca-crash tests). Prints the step count when it
// finishes without a crash. Usage: node ca-crash-child.js <file|secret> <state> <phase> <crashAt>
import { CertificateAuthority } from '../../src/ca/ca.js';
import { FileCaStore, type CaStore } from '../../src/ca/store.js';
import { setCrashPoint } from '../../src/ca/secret-file.js';
import { loadOrCreateTokenSigningKey } from '../../src/ca/tokens.js';

const [kind, where, phase, crashAtText] = process.argv.slice(2) as [string, string, string, string];
const crashAt = Number(crashAtText);
let steps = 0;
const point = (): void => {
  if (steps++ === crashAt) process.kill(process.pid, 'SIGKILL');
};
setCrashPoint(point);

async function store(): Promise<CaStore> {
  if (kind === 'file') return new FileCaStore(where);
  const { secretStoreForCrashTest } = await import('./kube-crash-store.js');
  return secretStoreForCrashTest(where, point);
}

const ca = await CertificateAuthority.open(await store());
if (phase === 'first' && kind === 'file') loadOrCreateTokenSigningKey(where);
if (phase === 'introduce') await ca.introduceRoot();
if (phase === 'activate') await ca.activateNewRoot();
if (phase === 'retire') await ca.retireOldRoot();
process.stdout.write(`steps ${steps}\n`);

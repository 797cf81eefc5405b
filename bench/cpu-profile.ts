/**
 * The V8 CPU profiler of the current process, for the benches' `--profile`: start it, and
 * call the returned function to stop it and write the profile to `file` (the `.cpuprofile`
 * JSON that Chrome DevTools opens).
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

/** Sampling interval in microseconds (V8's default is 1,000). */
const INTERVAL_US = 200;

export async function startCpuProfile(): Promise<(file: string) => Promise<string>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: INTERVAL_US });
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
    return file;
  };
}

/**
 * A Docker engine and the locally built images for tests: scripts/docker-up.sh (reuses a running
 * engine or starts dockerd, installing Debian's docker.io when missing) and
 * scripts/build-images.sh. A machine where no engine can run is a failure with the scripts'
 * message, never a skip. dockerd is stopped at the end only if this process started it and no
 * container runs (another test file may share it); `.ci/run` starts and stops its own.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './meshd.js';

export interface DockerEngine {
  /** Environment for docker and docker-compose (DOCKER_HOST). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs docker; never throws. */
  docker(args: readonly string[], timeoutMs?: number): { code: number; stdout: string; stderr: string };
  /** Stops dockerd if it was started here. */
  down(): void;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number, input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: timeoutMs, input, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

let engine: DockerEngine | undefined;

/** The engine (started once per process) with every image built; throws with the scripts' message. */
export function dockerWithImages(): DockerEngine {
  if (engine) return engine;
  const up = run('bash', [join(REPO_ROOT, 'scripts', 'docker-up.sh')], process.env, 180_000);
  if (up.code !== 0) throw new Error(`no Docker engine: scripts/docker-up.sh failed:\n${up.stderr.slice(-3000)}`);
  const vars: Record<string, string> = {};
  for (const line of up.stdout.split('\n')) { const m = /^export ([A-Z_]+)=(.*)$/.exec(line); if (m) vars[m[1]!] = m[2]!; }
  const env = { ...process.env, DOCKER_HOST: vars.DOCKER_HOST ?? '' };
  const started = vars.MESH_DOCKERD_STARTED ?? '0';
  const built = run('bash', [join(REPO_ROOT, 'scripts', 'build-images.sh')], { ...env, MESH_IMAGES_NO_OVERRIDE: '1' }, 1_800_000);
  if (built.code !== 0) {
    run('bash', [join(REPO_ROOT, 'scripts', 'docker-down.sh')], { ...env, MESH_DOCKERD_STARTED: started }, 30_000);
    throw new Error(`scripts/build-images.sh failed:\n${built.stderr.slice(-3000)}`);
  }
  const e: DockerEngine = {
    env,
    docker: (args, timeoutMs = 120_000) => run('docker', args, env, timeoutMs),
    down() {
      engine = undefined;
      // Another test file may be using the engine this one started: stop it only when idle.
      if (started === '0' || run('docker', ['ps', '-q'], env, 30_000).stdout.trim() !== '') return;
      run('bash', [join(REPO_ROOT, 'scripts', 'docker-down.sh')], { ...env, MESH_DOCKERD_STARTED: started }, 30_000);
    },
  };
  engine = e;
  return e;
}

/** docker-compose for one project in one folder. */
export interface ComposeProject {
  readonly name: string;
  run(args: readonly string[], timeoutMs?: number): { code: number; stdout: string; stderr: string };
  /** Follows the services' logs; `onLine` gets each line without compose's prefix. Returns a stop function. */
  follow(services: readonly string[], onLine: (line: string) => void): () => void;
  /** What of this project is left in the engine: containers, networks, volumes (by compose's label). */
  leftovers(): { containers: string[]; networks: string[]; volumes: string[] };
}

/** A compose project named `name` in `dir` (its docker-compose.yml and docker-compose.override.yml, both required). */
export function composeProject(e: DockerEngine, dir: string, name: string): ComposeProject {
  // Both files named: compose would otherwise read docker-compose.yml from the working directory.
  const base = ['-p', name, '--project-directory', dir, '-f', join(dir, 'docker-compose.yml'), '-f', join(dir, 'docker-compose.override.yml')];
  const label = `label=com.docker.compose.project=${name}`;
  const ids = (args: string[]): string[] => e.docker(args).stdout.split('\n').filter((s) => s.trim() !== '');
  return {
    name,
    run: (args, timeoutMs = 300_000) => run('docker-compose', [...base, ...args], e.env, timeoutMs),
    follow(services, onLine) {
      const child = spawn('docker-compose', [...base, 'logs', '-f', '--no-color', ...services], { env: e.env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const bar = line.indexOf('| ');
          onLine(bar >= 0 ? line.slice(bar + 2) : line);
        }
      });
      child.stderr.resume();
      return () => { child.kill('SIGTERM'); };
    },
    leftovers: () => ({
      containers: ids(['ps', '-aq', '--filter', label]),
      networks: ids(['network', 'ls', '-q', '--filter', label]),
      volumes: ids(['volume', 'ls', '-q', '--filter', label]),
    }),
  };
}

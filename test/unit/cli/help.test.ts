/** Every meshctl command answers --help with its usage and exit 0; an unknown flag is one line and exit 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { commands } from '../../../src/cli/commands.js';
import { REPO_ROOT } from '../../../src/demo/topology.js';

const meshctl = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'meshctl'), ...args], { encoding: 'utf8', env: { ...process.env, MESHD_ADDR: 'http://127.0.0.1:9' } });

test('--help on every command', () => {
  for (const c of commands) {
    const r = meshctl(...c.path, '--help');
    assert.equal(r.status, 0, `meshctl ${c.path.join(' ')} --help: ${String(r.stderr)}`);
    assert.match(String(r.stdout), /usage: meshctl /, `meshctl ${c.path.join(' ')} --help prints its usage`);
  }
});

test('an unknown flag: one line, exit 2, no stack', () => {
  for (const p of [['proxy-status'], ['proxy-config', 'listeners', 'x'], ['describe', 'a/b'], ['identity', 'a/b'], ['check'], ['analyze'], ['version']]) {
    const r = meshctl(...p, '--nope');
    assert.equal(r.status, 2, `meshctl ${p.join(' ')} --nope`);
    assert.match(String(r.stderr).trim(), /^meshctl [a-z -]+: unknown flag --nope \(see --help\)$/);
  }
});

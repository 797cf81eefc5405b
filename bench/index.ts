/**
 * Bench dispatcher: `node dist/bench/index.js <name> [args...]` loads `bench/<name>.js` and
 * calls its exported `main(args)`. Each bench prints `key value` lines; with `--json` its
 * last line is one JSON object of the same keys.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A bench module: `main(args)` runs it and resolves when done. */
export interface BenchModule {
  main(args: readonly string[]): Promise<void>;
}

function isBench(m: unknown): m is BenchModule {
  return typeof m === 'object' && m !== null && typeof (m as { main?: unknown }).main === 'function';
}

async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  const here = dirname(fileURLToPath(import.meta.url));
  if (!name || !/^[a-z0-9-]+$/.test(name) || name === 'index' || !existsSync(join(here, `${name}.js`))) {
    console.error(`usage: npm run bench -- <name> [--json]   (name: a file bench/<name>.ts, e.g. xds)`);
    return 2;
  }
  const mod: unknown = await import(`./${name}.js`);
  if (!isBench(mod)) {
    console.error(`bench/${name}.ts does not export main(args)`);
    return 2;
  }
  await mod.main(rest);
  return 0;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);

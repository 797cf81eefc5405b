/**
 * meshctl: the mesh's command-line tool. Each subcommand lives in its own module and is
 * listed here explicitly, in help order.
 */
import { FlagError } from '../util/flags.js';
import { commands } from './commands.js';

async function main(argv: string[]): Promise<number> {
  const [first, second, ...rest] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage());
    return first ? 0 : 2;
  }
  const two = commands.find((c) => c.path.length === 2 && c.path[0] === first && c.path[1] === second);
  const one = commands.find((c) => c.path.length === 1 && c.path[0] === first);
  const cmd = two ?? one;
  if (!cmd) {
    process.stderr.write(`meshctl: unknown command ${JSON.stringify([first, second].filter(Boolean).join(' '))}\n\n${usage()}`);
    return 2;
  }
  const args = two ? rest : [second, ...rest].filter((a): a is string => a !== undefined);
  try {
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof FlagError) { process.stderr.write(`meshctl ${cmd.path.join(' ')}: ${e.message}\n`); return 2; }
    process.stderr.write(`meshctl ${cmd.path.join(' ')}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

function usage(): string {
  const rows = commands.map((c) => `  ${c.path.join(' ').padEnd(22)} ${c.summary}`);
  return `usage: meshctl <command> [flags]   (meshctl <command> --help for its flags)\n\ncommands:\n${rows.join('\n')}\n`;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`meshctl: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});

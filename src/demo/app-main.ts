/**
 * Entry point of the demo app (one process per workload, in `npm run demo` and in
 * docker-compose): `--listen host:port` serves, `--call URL` calls every `--interval`.
 * Exits when stdin closes, so it never outlives the demo that started it.
 */
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../util/flags.js';
import { callEvery, serveApp } from './app.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'name', type: 'string', help: 'the workload name (required)' },
  { name: 'listen', type: 'string', help: 'serve on host:port' },
  { name: 'call', type: 'string', help: 'call this URL (http://host:port/path)' },
  { name: 'call-name', type: 'string', help: 'the callee\'s workload name, for the report' },
  { name: 'host-header', type: 'string', help: 'Host header of the calls (the Service name)' },
  { name: 'bind', type: 'string', help: 'source address of the calls' },
  { name: 'interval', type: 'duration', default: '1s', help: 'time between calls' },
  { name: 'exit-on-stdin-close', type: 'bool', default: 'false', help: 'exit when stdin closes (the demo sets this)' },
  { name: 'help', type: 'bool', help: 'show this help' },
];

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) throw new FlagError(`expected host:port, got ${JSON.stringify(s)}`);
  return { host: s.slice(0, i), port };
}

async function main(): Promise<void> {
  const { values: v } = parseFlags(FLAGS, process.argv.slice(2));
  if (v.help) { process.stdout.write(flagHelp('usage: demo-app --name NAME [--listen HOST:PORT] [--call URL]', FLAGS)); return; }
  if (!v.name) throw new FlagError('--name is required');
  const name = String(v.name);
  let server: Awaited<ReturnType<typeof serveApp>> | undefined;
  if (v.listen) {
    const { host, port } = hostPort(String(v.listen));
    server = await serveApp({ name, host, port });
    process.stdout.write(JSON.stringify({ event: 'listening', app: name, address: `${host}:${port}` }) + '\n');
  }
  if (v.call) {
    const url = new URL(String(v.call));
    callEvery({
      from: name, to: String(v['call-name'] ?? url.hostname), host: url.hostname, port: Number(url.port || 80), path: url.pathname,
      ...(v['host-header'] ? { hostHeader: String(v['host-header']) } : {}),
      ...(v.bind ? { localAddress: String(v.bind) } : {}),
    }, v.interval as number, (e) => process.stdout.write(JSON.stringify(e) + '\n'));
  }
  if (v['exit-on-stdin-close']) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  process.on('SIGINT', () => process.exit(0));
  // SIGTERM (a pod stopping): stop accepting, finish the requests in flight, then exit (at most 20 s).
  process.on('SIGTERM', () => {
    if (!server) process.exit(0);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 20_000).unref();
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`demo-app: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});

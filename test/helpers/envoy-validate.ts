/**
 * Shared by the `envoy --mode validate` tests: running the pinned Envoy on a bootstrap file,
 * and the throwaway certificate that stands in for SDS secrets in inlined bootstraps.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { envoyBinary } from './envoy.js';

/** Runs `envoy --mode validate -c file`; resolves with its exit code and output (never rejects). */
export function validateEnvoyConfig(file: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(envoyBinary(), ['--mode', 'validate', '-c', file, '-l', 'error', '--disable-hot-restart'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => resolve({ code, out }));
  });
}

/** Writes a one-day self-signed P-256 certificate with a SPIFFE SAN into `dir`; returns its paths. */
export function throwawayCert(dir: string): { key: string; cert: string } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/O=meshd-test', '-addext', 'subjectAltName=URI:spiffe://cluster.local/ns/test/sa/test'], { stdio: 'ignore' });
  return { key, cert };
}

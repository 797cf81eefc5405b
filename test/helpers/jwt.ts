// JWTs for tests, signed with keys the test makes (node:crypto), and a JWKS server on loopback.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface TestSigner { readonly kid: string; readonly privateKey: KeyObject; readonly jwk: Record<string, unknown> }

/** A fresh P-256 key with its public JWK (`kid` set). */
export function testSigner(kid: string): TestSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}

/** An ES256 compact JWS of `claims`. */
export function mintJwt(s: TestSigner, claims: Record<string, unknown>): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'ES256', typ: 'JWT', kid: s.kid })}.${enc(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: s.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** Serves `{keys}` at /jwks on 127.0.0.1; `fail` switches it to 503. */
export async function jwksServer(keys: () => readonly Record<string, unknown>[]): Promise<{ url: string; server: Server; hits: () => number; fail: (on: boolean) => void }> {
  let hits = 0;
  let failing = false;
  const server = createServer((req, res) => {
    hits++;
    if (failing || req.url !== '/jwks') { res.statusCode = failing ? 503 : 404; res.end(); return; }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: keys() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return { url: `http://127.0.0.1:${port}/jwks`, server, hits: () => hits, fail: (on) => { failing = on; } };
}

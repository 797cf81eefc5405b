// Fuzzing the CSR parser and verifier: random bytes, random PEM, and valid CSRs with bytes
// flipped, cut or inserted. Only CaError with a client-error code ever comes out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createCsr, csrToPem, parseCsr, verifyCsr } from '../../../src/ca/csr.js';
import { CaError } from '../../../src/ca/errors.js';
import { generateP256, p256PrivateKeyObject } from '../../../src/ca/keys.js';
import { fuzz } from '../../helpers/fuzz.js';

const k = generateP256();
const GOOD = createCsr(p256PrivateKeyObject(k), k.spki, { uris: ['spiffe://cluster.local/ns/a/sa/b'] });
const CLIENT_CODES = new Set(['INVALID_CSR', 'UNSUPPORTED_KEY', 'BAD_CSR_SIGNATURE']);

const mutated = fc.array(fc.record({ at: fc.nat({ max: GOOD.length - 1 }), op: fc.constantFrom('flip', 'cut', 'insert', 'zero'), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }).map((ops) => {
  let b = Buffer.from(GOOD);
  for (const o of ops) {
    const at = Math.min(o.at, b.length - 1);
    if (o.op === 'flip') b[at] = b[at]! ^ (o.byte || 1);
    else if (o.op === 'zero') b[at] = 0;
    else if (o.op === 'cut') b = b.subarray(0, at);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from([o.byte]), b.subarray(at)]);
  }
  return b;
});

test('fuzz: CSR parser and verifier fail only with a client error', async () => {
  const input = fc.oneof(
    mutated,
    mutated.map((b) => csrToPem(b)),
    fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
    fc.string({ maxLength: 300 }).map((s) => `-----BEGIN CERTIFICATE REQUEST-----\n${s}\n-----END CERTIFICATE REQUEST-----\n`),
  );
  await fuzz('csr', input, async (csr) => {
    try {
      await verifyCsr(parseCsr(csr));
    } catch (e) {
      assert.ok(e instanceof CaError, `not a CaError: ${String(e)}`);
      assert.ok(CLIENT_CODES.has(e.code), `code ${e.code}: ${e.message}`);
    }
  });
  // The unmodified CSR still verifies (the property is not vacuous).
  assert.ok((await verifyCsr(parseCsr(GOOD))).spki.equals(k.spki));
});

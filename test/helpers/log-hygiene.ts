/**
 * Checks a meshd log as a whole: one JSON object per line (time, level, msg), and nothing
 * that is key material or a credential: no PEM private key, no JWS (join or service-account
 * token), none of the given secrets (the admin token).
 */
import assert from 'node:assert/strict';

/** Fails naming the first offending line. */
export function assertCleanLog(log: string, secrets: readonly string[] = []): { lines: number } {
  const lines = log.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 0, 'meshd logged something');
  lines.forEach((l, i) => {
    let j: Record<string, unknown>;
    try { j = JSON.parse(l) as Record<string, unknown>; } catch { assert.fail(`log line ${i + 1} is not JSON: ${l.slice(0, 200)}`); }
    assert.ok(typeof j.time === 'string' && typeof j.level === 'string' && typeof j.msg === 'string', `log line ${i + 1} has time, level, msg: ${l.slice(0, 200)}`);
    assert.doesNotMatch(l, /PRIVATE KEY/, `log line ${i + 1} holds a private key`);
    assert.doesNotMatch(l, /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\./, `log line ${i + 1} holds a token`);
    for (const s of secrets) assert.ok(!l.includes(s), `log line ${i + 1} holds a secret`);
  });
  return { lines: lines.length };
}

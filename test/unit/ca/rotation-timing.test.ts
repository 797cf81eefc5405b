import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renewalDelayMs } from '../../../src/ca/rotation-timing.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

test('renewal counts the lifetime from issuance: the 5-minute NotBefore backdate is not time used', () => {
  // A 20 s certificate backdated 300 s: renew after ~10 s, not at once (that was a renewal loop).
  const d = renewalDelayMs(new Date(NOW - 300_000), new Date(NOW + 20_000), NOW, { fraction: 0.5, jitter: 0.1 }, 0.5);
  assert.equal(d, 10_000);
  const early = renewalDelayMs(new Date(NOW - 300_000), new Date(NOW + 20_000), NOW, { fraction: 0.5, jitter: 0.1 }, 0);
  const late = renewalDelayMs(new Date(NOW - 300_000), new Date(NOW + 20_000), NOW, { fraction: 0.5, jitter: 0.1 }, 0.999);
  assert.ok(early >= 7_999 && early <= 8_000 && late > 11_900 && late <= 12_000, `${early} ${late}`);
  // 24 h: renew after ~12 h.
  assert.equal(renewalDelayMs(new Date(NOW - 300_000), new Date(NOW + 86_400_000), NOW, {}, 0.5), 43_200_000);
  // A NotBefore in the future counts from NotBefore; an expired certificate renews now.
  assert.equal(renewalDelayMs(new Date(NOW + 10_000), new Date(NOW + 30_000), NOW, {}, 0.5), 20_000);
  assert.equal(renewalDelayMs(new Date(NOW - 60_000), new Date(NOW - 1_000), NOW, {}, 0.5), 0);
});

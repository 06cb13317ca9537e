/** The per-address connect token bucket: burst, refusal, refill with time, independence of addresses. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectRateLimit } from '../../../src/gateway/listener/connect-rate-limit.js';

const T0 = 1_900_000_000_000;

function admitted(limit: ConnectRateLimit, address: string, times: number, now: number): number {
  let count = 0;
  for (let i = 0; i < times; i++) if (limit.admit(address, now)) count++;
  return count;
}

describe('ConnectRateLimit', () => {
  test('a burst is admitted at once, the next connect is refused', () => {
    const limit = new ConnectRateLimit(2, 5);
    assert.equal(admitted(limit, '192.0.2.1', 5, T0), 5);
    assert.equal(limit.admit('192.0.2.1', T0), false);
    assert.equal(limit.admit('192.0.2.1', T0 + 1), false);
  });

  test('tokens come back at the sustained rate, fractions included', () => {
    const limit = new ConnectRateLimit(2, 5);
    assert.equal(admitted(limit, '192.0.2.1', 5, T0), 5);
    assert.equal(limit.admit('192.0.2.1', T0 + 499), false); // 0.998 of a token
    assert.equal(limit.admit('192.0.2.1', T0 + 500), true); // the refusal above cost nothing: 1 token at 500 ms
    assert.equal(limit.admit('192.0.2.1', T0 + 500), false);
    assert.equal(admitted(limit, '192.0.2.1', 10, T0 + 1_500), 2);
  });

  test('refill stops at the burst however long the address was quiet', () => {
    const limit = new ConnectRateLimit(10, 3);
    assert.equal(admitted(limit, '192.0.2.1', 3, T0), 3);
    assert.equal(admitted(limit, '192.0.2.1', 100, T0 + 3_600_000), 3);
  });

  test('a flood from one address does not touch another', () => {
    const limit = new ConnectRateLimit(1, 3);
    assert.equal(admitted(limit, '192.0.2.66', 1000, T0), 3);
    assert.equal(admitted(limit, '192.0.2.7', 3, T0), 3);
    assert.equal(limit.admit('192.0.2.7', T0), false);
    assert.equal(limit.admit('2001:db8::1', T0), true);
  });

  test('a rate of 0 turns the limit off', () => {
    const limit = new ConnectRateLimit(0, 1);
    assert.equal(admitted(limit, '192.0.2.1', 1000, T0), 1000);
  });

  test('an address still short of a token stays refused when many other addresses connect', () => {
    // One connect per 100 s: 61 s after using its only token the address has 0.61 of one.
    const limit = new ConnectRateLimit(0.01, 1);
    assert.equal(limit.admit('192.0.2.1', T0), true);
    assert.equal(limit.admit('192.0.2.1', T0), false);
    // Enough other addresses to make the limiter prune the state it keeps.
    for (let i = 0; i < 10_001; i++) limit.admit(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0 + 61_000);
    assert.equal(limit.admit('192.0.2.1', T0 + 61_000), false);
    assert.equal(limit.admit('192.0.2.1', T0 + 100_000), true);
  });
});

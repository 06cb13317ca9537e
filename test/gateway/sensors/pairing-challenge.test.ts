/** Pairing challenges: the proof format, single use, expiry, binding to sensor and audience, bounded memory. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { ManualClock } from '../../../src/core/clock.js';
import { PairingChallenges, pairingProof } from '../../../src/gateway/sensors/pairing-challenge.js';

const AUDIENCE = 'gateway.home.arpa';
const start = new Date('2031-05-06T07:08:09.000Z');
const key = randomBytes(32);

function setup(options: { ttlMs?: number; maxOutstanding?: number } = {}) {
  const clock = new ManualClock(start);
  return { clock, challenges: new PairingChallenges(clock, options) };
}

describe('pairingProof', () => {
  test('is base64url HMAC-SHA256 over context, sensor id, audience and challenge, one per line', () => {
    const expected = createHmac('sha256', key).update(`hearth-sensor-pairing\nthermo-1\n${AUDIENCE}\nabc`).digest('base64url');
    assert.equal(pairingProof(key, 'thermo-1', AUDIENCE, 'abc'), expected);
    assert.match(expected, /^[A-Za-z0-9_-]{43}$/);
  });

  test('refuses fields that could blur the line structure', () => {
    assert.throws(() => pairingProof(key, 'thermo-1\nx', AUDIENCE, 'abc'), TypeError);
    assert.throws(() => pairingProof(key, 'thermo-1', 'a\nb', 'abc'), TypeError);
    assert.throws(() => pairingProof(key, 'thermo-1', '', 'abc'), TypeError);
    assert.throws(() => pairingProof(key, 'thermo-1', AUDIENCE, 'a\nb'), TypeError);
  });
});

describe('PairingChallenges', () => {
  test('issues distinct 32-byte challenges that expire after the ttl', () => {
    const { challenges } = setup({ ttlMs: 30_000 });
    const first = challenges.issue('thermo-1');
    const second = challenges.issue('thermo-1');
    assert.match(first.challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(first.challenge, 'base64url').length, 32);
    assert.notEqual(first.challenge, second.challenge);
    assert.equal(first.expiresAt.getTime(), start.getTime() + 30_000);
    assert.equal(challenges.size, 2);
  });

  test('refuses to issue for a malformed sensor id', () => {
    const { challenges } = setup();
    assert.throws(() => challenges.issue('Not/An/Id'), /sensor id must match/);
  });

  test('accepts the right proof once', () => {
    const { challenges } = setup();
    const { challenge } = challenges.issue('thermo-1');
    const proof = pairingProof(key, 'thermo-1', AUDIENCE, challenge);
    assert.equal(challenges.redeem('thermo-1', challenge, proof, key, AUDIENCE), true);
    assert.equal(challenges.redeem('thermo-1', challenge, proof, key, AUDIENCE), false);
    assert.equal(challenges.attempt('thermo-1', challenge, proof, key, AUDIENCE), 'unknown-challenge');
    assert.equal(challenges.size, 0);
  });

  test('a wrong proof uses the challenge up, so a proof can be tried only once per challenge', () => {
    const { challenges } = setup();
    const { challenge } = challenges.issue('thermo-1');
    assert.equal(challenges.attempt('thermo-1', challenge, pairingProof(randomBytes(32), 'thermo-1', AUDIENCE, challenge), key, AUDIENCE), 'wrong-proof');
    assert.equal(challenges.redeem('thermo-1', challenge, pairingProof(key, 'thermo-1', AUDIENCE, challenge), key, AUDIENCE), false);
  });

  test('refuses proofs of the wrong length or encoding without throwing', () => {
    const { challenges } = setup();
    for (const proof of ['', 'short', 'x'.repeat(44), pairingProof(key, 'thermo-1', AUDIENCE, 'c') + '=', 'é'.repeat(43)]) {
      const { challenge } = challenges.issue('thermo-1');
      assert.equal(challenges.attempt('thermo-1', challenge, proof, key, AUDIENCE), 'wrong-proof', proof);
    }
  });

  test('binds the proof to the audience: a proof made for another gateway is refused', () => {
    const { challenges } = setup();
    const { challenge } = challenges.issue('thermo-1');
    assert.equal(challenges.attempt('thermo-1', challenge, pairingProof(key, 'thermo-1', 'other.home.arpa', challenge), key, AUDIENCE), 'wrong-proof');
  });

  test('a challenge issued to one sensor cannot be redeemed by another', () => {
    const { challenges } = setup();
    const { challenge } = challenges.issue('thermo-1');
    assert.equal(challenges.attempt('thermo-2', challenge, pairingProof(key, 'thermo-2', AUDIENCE, challenge), key, AUDIENCE), 'other-sensor');
    assert.equal(challenges.redeem('thermo-1', challenge, pairingProof(key, 'thermo-1', AUDIENCE, challenge), key, AUDIENCE), false);
  });

  test('expires at exactly the ttl', () => {
    const { clock, challenges } = setup({ ttlMs: 1000 });
    const early = challenges.issue('thermo-1');
    const late = challenges.issue('thermo-1');
    clock.advance(999);
    assert.equal(challenges.redeem('thermo-1', early.challenge, pairingProof(key, 'thermo-1', AUDIENCE, early.challenge), key, AUDIENCE), true);
    clock.advance(1);
    assert.equal(challenges.attempt('thermo-1', late.challenge, pairingProof(key, 'thermo-1', AUDIENCE, late.challenge), key, AUDIENCE), 'expired');
  });

  test('an unpaired sensor never redeems, whatever it sends', () => {
    const { challenges } = setup();
    const { challenge } = challenges.issue('ghost');
    assert.equal(challenges.attempt('ghost', challenge, pairingProof(key, 'ghost', AUDIENCE, challenge), undefined, AUDIENCE), 'unknown-sensor');
  });

  test('holds at most maxOutstanding challenges, dropping the oldest', () => {
    const { challenges } = setup({ maxOutstanding: 3 });
    const issued = Array.from({ length: 5 }, () => challenges.issue('thermo-1').challenge);
    assert.equal(challenges.size, 3);
    for (const dropped of issued.slice(0, 2))
      assert.equal(challenges.attempt('thermo-1', dropped, pairingProof(key, 'thermo-1', AUDIENCE, dropped), key, AUDIENCE), 'unknown-challenge');
    for (const kept of issued.slice(2)) assert.equal(challenges.redeem('thermo-1', kept, pairingProof(key, 'thermo-1', AUDIENCE, kept), key, AUDIENCE), true);
  });

  test('expired challenges are dropped when new ones are issued', () => {
    const { clock, challenges } = setup({ ttlMs: 1000 });
    for (let index = 0; index < 10; index++) challenges.issue('thermo-1');
    clock.advance(1000);
    challenges.issue('thermo-1');
    assert.equal(challenges.size, 1);
  });

  test('rejects nonsensical options', () => {
    const clock = new ManualClock(start);
    assert.throws(() => new PairingChallenges(clock, { ttlMs: 0 }), RangeError);
    assert.throws(() => new PairingChallenges(clock, { ttlMs: 1.5 }), RangeError);
    assert.throws(() => new PairingChallenges(clock, { maxOutstanding: 0 }), RangeError);
  });
});

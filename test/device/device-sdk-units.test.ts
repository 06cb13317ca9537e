/** The device SDK's pure parts: its JWS against jose's verifier, renewal timing, and backoff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { flattenedVerify, type FlattenedJWSInput } from 'jose';
import { flattenedJws } from '../../src/device/acme-client.js';
import { serialIntegerOctets } from '../../src/device/device-agent.js';
import { withBackoff } from '../../src/device/backoff.js';
import { chooseRenewalTime, defaultWindow } from '../../src/device/renewal-plan.js';

test("the SDK's flattened JWS verifies with jose for ES256, ES384 and EdDSA, and POST-as-GET has an empty payload", async () => {
  for (const [alg, pair] of [
    ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['ES384', generateKeyPairSync('ec', { namedCurve: 'P-384' })],
    ['EdDSA', generateKeyPairSync('ed25519')],
  ] as const) {
    const header = { alg, nonce: 'n', url: 'https://ca.example/acme/new-order', kid: 'https://ca.example/acme/acct/1' };
    const jws = JSON.parse(flattenedJws(pair.privateKey, header, { identifiers: [] })) as FlattenedJWSInput;
    const verified = await flattenedVerify(jws, pair.publicKey);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(verified.payload)), { identifiers: [] });
    assert.deepEqual(verified.protectedHeader, header);
    const asGet = JSON.parse(flattenedJws(pair.privateKey, header, undefined)) as FlattenedJWSInput;
    assert.equal(asGet.payload, '');
    await flattenedVerify(asGet, pair.publicKey);
  }
});

test('renewal time: uniform inside the window, now once the window has passed, never before now', () => {
  const start = new Date('2030-01-01T16:00:00Z');
  const end = new Date('2030-01-01T21:20:00Z');
  const before = new Date('2030-01-01T10:00:00Z');
  assert.deepEqual(
    chooseRenewalTime({ start, end }, before, () => 0),
    start,
  );
  assert.deepEqual(
    chooseRenewalTime({ start, end }, before, () => 0.5),
    new Date((start.getTime() + end.getTime()) / 2),
  );
  const inside = new Date('2030-01-01T20:00:00Z');
  assert.ok(chooseRenewalTime({ start, end }, inside, () => 0.99) >= inside);
  const after = new Date('2030-01-02T00:00:00Z');
  assert.deepEqual(
    chooseRenewalTime({ start, end }, after, () => 0.5),
    after,
  );
  const window = defaultWindow(new Date('2030-01-01T00:00:00Z'), new Date('2030-01-02T00:00:00Z'));
  assert.deepEqual(window.start, new Date('2030-01-01T16:00:00Z'));
});

test('backoff: full jitter under a doubling cap, Retry-After honoured, permanent errors and long waits not retried', async () => {
  const waits: number[] = [];
  const sleep = async (ms: number) => void waits.push(ms);
  let calls = 0;
  const result = await withBackoff(
    async () => {
      if (++calls < 4) throw new Error('transient');
      return 'ok';
    },
    { baseMs: 100, maxMs: 250, attempts: 10, random: () => 0.999, sleep, retryable: () => ({ retry: true }) },
  );
  assert.equal(result, 'ok');
  assert.deepEqual(waits, [99, 199, 249]);
  waits.length = 0;
  await assert.rejects(
    withBackoff(async () => Promise.reject(new Error('asked to wait')), {
      baseMs: 100,
      maxMs: 250,
      attempts: 2,
      random: () => 0,
      sleep,
      retryable: () => ({ retry: true, afterMs: 5000 }),
    }),
    /asked to wait/,
  );
  assert.deepEqual(waits, [5000], 'Retry-After beats the jitter');
  await assert.rejects(
    withBackoff(async () => Promise.reject(new Error('rate limited')), {
      baseMs: 1,
      maxMs: 1,
      attempts: 5,
      maxWaitMs: 1000,
      sleep,
      retryable: () => ({ retry: true, afterMs: 1_800_000 }),
    }),
    /rate limited/,
  );
  let permanent = 0;
  await assert.rejects(
    withBackoff(async () => Promise.reject(new Error(`refused ${++permanent}`)), {
      baseMs: 1,
      maxMs: 1,
      attempts: 5,
      sleep,
      retryable: () => ({ retry: false }),
    }),
    /refused 1/,
  );
});

test('ARI serial octets are the DER INTEGER content: minimal, with 00 before a high bit', () => {
  assert.equal(serialIntegerOctets('7f01').toString('hex'), '7f01');
  assert.equal(serialIntegerOctets('8f01').toString('hex'), '008f01');
  assert.equal(serialIntegerOctets('008f01').toString('hex'), '008f01');
  assert.equal(serialIntegerOctets('00007f').toString('hex'), '7f');
  assert.equal(serialIntegerOctets('f01').toString('hex'), '0f01');
});

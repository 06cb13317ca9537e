/**
 * The ACME verifying-key cache stays bounded: filled past its capacity (through verifyAcmeRequest,
 * one fresh account key per request, as a stream of newAccount requests would) it holds at most
 * that many keys, evicting the least recently used, and still verifies correctly: an evicted key
 * is imported again and verifies its own signature, never another key's. The default capacity is
 * 10,000 keys, and a cache filled with 10,001 keys holds 10,000.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { FlattenedSign, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { AcmeError } from '../../src/acme/acme-error.js';
import { verifyAcmeRequest } from '../../src/acme/jws-request.js';
import { CACHED_KEYS, VerifyingKeyCache } from '../../src/acme/jws-signature.js';
import { NonceService } from '../../src/acme/nonces.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';

const URL = 'https://hearth.test:8443/acme/new-account';
const store = await openStore({ url: ':memory:' });
after(() => store.close());
const nonces = new NonceService(store, new ManualClock(new Date('2030-01-01T00:00:00Z')));

interface AccountKey {
  privateKey: KeyObject;
  jwk: JWK;
  thumbprint: string;
}

async function accountKey(): Promise<AccountKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
}

/** A newAccount-style request carrying `claimed` as its jwk, signed by `signer`. */
async function request(cache: VerifyingKeyCache, claimed: AccountKey, signer: AccountKey = claimed) {
  const body = await new FlattenedSign(new TextEncoder().encode('{"termsOfServiceAgreed":true}'))
    .setProtectedHeader({ alg: 'ES256', nonce: await nonces.issue(), url: URL, jwk: claimed.jwk })
    .sign(signer.privateKey);
  return verifyAcmeRequest(body, { url: URL, signer: 'jwk', nonces, store, keys: cache, accountIdOf: () => undefined });
}

test('past its capacity the cache evicts the least recently used key: one in use is never imported again, an idle one is', async () => {
  const capacity = 4;
  const cache = new VerifyingKeyCache(capacity);
  assert.equal(cache.capacity, capacity);
  const keys = await Promise.all(Array.from({ length: 12 }, accountKey));
  const get = (key: AccountKey) => cache.get(key.thumbprint, key.jwk, 'ES256');
  const imported = new Map<AccountKey, KeyObject>();
  const first = keys[0] as AccountKey;
  for (const [i, key] of keys.entries()) {
    imported.set(key, get(key));
    assert.equal(cache.size, Math.min(i + 1, capacity), `after ${i + 1} keys`);
    // The first key is used after every new one, so it is never the least recently used: still the object first imported.
    assert.equal(get(first), imported.get(first), `the key in use, after ${i + 1} keys`);
  }
  // Held: the first key and the last three; every other one was evicted and comes back as a new import.
  for (const key of keys.slice(-3)) assert.equal(get(key), imported.get(key), 'one of the most recently used');
  assert.equal(cache.size, capacity);
  const evicted = keys[1] as AccountKey;
  const again = get(evicted);
  assert.notEqual(again, imported.get(evicted), 'an evicted key is imported again');
  assert.ok(again.equals(imported.get(evicted) as KeyObject), 'as the same key');
  assert.equal(cache.size, capacity);
});

test("filled past its capacity through verifyAcmeRequest, the cache stays bounded and still verifies: an evicted key its own signature, never another key's", async () => {
  const capacity = 4;
  const cache = new VerifyingKeyCache(capacity);
  const keys = await Promise.all(Array.from({ length: 12 }, accountKey));
  for (const [i, key] of keys.entries()) {
    const verified = await request(cache, key);
    assert.equal(verified.thumbprint, key.thumbprint);
    assert.equal(cache.size, Math.min(i + 1, capacity), `after ${i + 1} keys`);
  }
  const evicted = keys[1] as AccountKey;
  const impostor = keys[2] as AccountKey;
  assert.equal((await request(cache, evicted)).thumbprint, evicted.thumbprint, 'an evicted key verifies its own signature again');
  assert.equal(cache.size, capacity);
  await assert.rejects(request(cache, impostor, evicted), (error: unknown) => {
    assert.ok(error instanceof AcmeError);
    assert.equal(error.acmeType, 'malformed');
    assert.match(error.message, /signature does not verify/);
    return true;
  });
  await assert.rejects(request(cache, evicted, impostor), /signature does not verify/, 'nor a cached key under another signature');
  assert.equal(cache.size, capacity);
});

test('the default capacity is 10,000 keys: the 10,001st evicts the first', () => {
  assert.equal(CACHED_KEYS, 10_000);
  const cache = new VerifyingKeyCache();
  assert.equal(cache.capacity, CACHED_KEYS);
  // Ed25519 public keys straight from random bytes (OpenSSL takes any 32 octets): ten thousand key
  // generations would be slow, and on Node 20.20 exporting a freshly generated Ed25519 key as a JWK
  // can deadlock when a garbage collection lands inside the export.
  const keys = Array.from({ length: CACHED_KEYS + 1 }, () => {
    const jwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: randomBytes(32).toString('base64url') };
    return { jwk, thumbprint: `ed25519:${jwk.x as string}` };
  });
  const imported = keys.map((key) => cache.get(key.thumbprint, key.jwk, 'EdDSA'));
  assert.equal(cache.size, CACHED_KEYS);
  const [oldest] = keys;
  const last = keys[keys.length - 1] as (typeof keys)[number];
  assert.equal(cache.get(last.thumbprint, last.jwk, 'EdDSA'), imported[imported.length - 1], 'the newest is held');
  assert.notEqual(cache.get(oldest!.thumbprint, oldest!.jwk, 'EdDSA'), imported[0], 'the oldest was evicted and is imported again');
  assert.equal(cache.size, CACHED_KEYS);
});

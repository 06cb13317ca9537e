/** JWS signatures on node:crypto: each allowed algorithm with its own key type only, against jose as the reference signer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { FlattenedSign, exportJWK } from 'jose';
import { AcmeError } from '../../src/acme/acme-error.js';
import { VerifyingKeyCache, importVerifyingKey, verifyJwsSignature } from '../../src/acme/jws-signature.js';

const makeKey = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  EdDSA: () => generateKeyPairSync('ed25519'),
};
const keys = { ES256: makeKey.ES256(), ES384: makeKey.ES384(), RS256: makeKey.RS256(), EdDSA: makeKey.EdDSA() };

async function signed(alg: keyof typeof keys) {
  const jws = await new FlattenedSign(new TextEncoder().encode('{"hello":"hearth"}')).setProtectedHeader({ alg }).sign(keys[alg].privateKey);
  return { jws: { protected: jws.protected as string, payload: jws.payload, signature: jws.signature }, jwk: await exportJWK(keys[alg].publicKey) };
}

test('jose-made signatures verify for every allowed algorithm; a changed byte or another key does not', async () => {
  for (const alg of Object.keys(keys) as (keyof typeof keys)[]) {
    const { jws, jwk } = await signed(alg);
    const key = importVerifyingKey(jwk, alg);
    assert.ok(verifyJwsSignature(alg, key, jws.protected, jws.payload, jws.signature), alg);
    const tamperedPayload = Buffer.from('{"hello":"there"}').toString('base64url');
    assert.equal(verifyJwsSignature(alg, key, jws.protected, tamperedPayload, jws.signature), false, `${alg} over other bytes`);
    const other = importVerifyingKey(await exportJWK(makeKey[alg]().publicKey), alg);
    assert.equal(verifyJwsSignature(alg, other, jws.protected, jws.payload, jws.signature), false, `${alg} by another key`);
    assert.equal(verifyJwsSignature(alg, key, jws.protected, jws.payload, 'not*base64url'), false);
    // Node's base64url decoder skips characters outside the alphabet, so these would decode to the
    // valid signature: the signature must be base64url from its first character to its last.
    assert.equal(verifyJwsSignature(alg, key, jws.protected, jws.payload, `*${jws.signature}`), false, `${alg}: a leading non-base64url character`);
    assert.equal(verifyJwsSignature(alg, key, jws.protected, jws.payload, `${jws.signature}*`), false, `${alg}: a trailing one`);
    assert.equal(verifyJwsSignature(alg, key, jws.protected, jws.payload, `${jws.signature}=`), false, `${alg}: padding`);
  }
});

test('an ECDSA signature in DER instead of JWS r||s form is refused', async () => {
  const { jws, jwk } = await signed('ES256');
  const der = sign('sha256', Buffer.from(`${jws.protected}.${jws.payload}`), keys.ES256.privateKey).toString('base64url');
  assert.equal(verifyJwsSignature('ES256', importVerifyingKey(jwk, 'ES256'), jws.protected, jws.payload, der), false);
});

test('a key must fit its algorithm: curve, key type and RSA size; the cache checks a cached key against each request', async () => {
  const badKey = (error: unknown) => error instanceof AcmeError && error.acmeType === 'badPublicKey';
  const p256 = await exportJWK(keys.ES256.publicKey);
  assert.throws(() => importVerifyingKey(p256, 'ES384'), badKey);
  assert.throws(() => importVerifyingKey(p256, 'RS256'), badKey);
  const ed25519 = await exportJWK(keys.EdDSA.publicKey);
  const rsa1024 = await exportJWK(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
  assert.throws(() => importVerifyingKey(ed25519, 'ES256'), badKey);
  assert.throws(() => importVerifyingKey(rsa1024, 'RS256'), badKey);
  assert.throws(() => importVerifyingKey({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, 'ES256'), badKey);
  const cache = new VerifyingKeyCache();
  assert.equal(cache.get('t1', p256, 'ES256'), cache.get('t1', p256, 'ES256'), 'imported once');
  assert.throws(() => cache.get('t1', p256, 'EdDSA'), badKey);
});

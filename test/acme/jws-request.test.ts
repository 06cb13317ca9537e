/**
 * Every refusal of an ACME request's JWS (RFC 8555 6.2-6.5, 7.3.5), one by one with its exact
 * error type: a body that is not a flattened JWS, a header without an allowed algorithm, jwk and
 * kid both or neither, the wrong one for the endpoint, a spent nonce, another URL, a private or
 * unusable key, an account that does not exist or is deactivated, a signature by another key; and
 * the key change's inner JWS. Each attempt is otherwise correct and signed, so only the check under
 * test can refuse it, and the same request with that one thing right is accepted. The fuzz tests
 * show nothing but AcmeError comes out; these show which one, so no check can be lost unnoticed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { AcmeError, type AcmeErrorType } from '../../src/acme/acme-error.js';
import { ACME_ALGORITHMS, verifyAcmeRequest, verifyKeyChange, type VerifyOptions } from '../../src/acme/jws-request.js';
import { VerifyingKeyCache, verifyJwsSignature, importVerifyingKey } from '../../src/acme/jws-signature.js';
import { NonceService } from '../../src/acme/nonces.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';

const URL = 'https://hearth.test:8443/acme/new-order';
const ACCOUNT_PREFIX = 'https://hearth.test:8443/acme/acct/';
const store = await openStore({ url: ':memory:' });
after(() => store.close());
const nonces = new NonceService(store, new ManualClock(new Date('2030-01-01T00:00:00Z')));
const options = (signer: VerifyOptions['signer'], url = URL): VerifyOptions => ({
  url,
  signer,
  nonces,
  store,
  keys: new VerifyingKeyCache(),
  accountIdOf: (kid: string) => (kid.startsWith(ACCOUNT_PREFIX) ? kid.slice(ACCOUNT_PREFIX.length) : undefined),
});

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicJwk = ec.publicKey.export({ format: 'jwk' }) as JWK;
const thumbprint = await calculateJwkThumbprint(publicJwk, 'sha256');

/** A flattened JWS over exactly these header members and payload, signed ES256 by `key` (r||s, as JWS wants). */
function jwsOf(
  header: Record<string, unknown> | string,
  payload: unknown,
  key: KeyObject = ec.privateKey,
): { protected: string; payload: string; signature: string } {
  const protectedPart = typeof header === 'string' ? header : b64(header);
  const payloadPart = payload === '' ? '' : typeof payload === 'string' && payload.startsWith('raw:') ? payload.slice(4) : b64(payload);
  const signature = sign('sha256', Buffer.from(`${protectedPart}.${payloadPart}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return { protected: protectedPart, payload: payloadPart, signature };
}

async function withJwk(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return { alg: 'ES256', nonce: await nonces.issue(), url: URL, jwk: publicJwk, ...extra };
}

async function refused(attempt: Promise<unknown> | (() => unknown), type: AcmeErrorType, message: RegExp): Promise<void> {
  const check = (error: unknown): true => {
    assert.ok(error instanceof AcmeError, String(error));
    assert.equal(error.acmeType, type, error.message);
    assert.match(error.message, message);
    return true;
  };
  if (typeof attempt === 'function') assert.throws(attempt, check);
  else await assert.rejects(attempt, check);
}

await store.acme.insertAcmeAccount({
  id: 'valid1',
  thumbprint,
  jwk: publicJwk,
  status: 'valid',
  contact: [],
  termsAgreed: true,
  createdAt: new Date(),
  policy: null,
});
const deactivatedKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const deactivatedJwk = deactivatedKey.publicKey.export({ format: 'jwk' }) as JWK;
await store.acme.insertAcmeAccount({
  id: 'gone1',
  thumbprint: await calculateJwkThumbprint(deactivatedJwk, 'sha256'),
  jwk: deactivatedJwk,
  status: 'deactivated',
  contact: [],
  termsAgreed: true,
  createdAt: new Date(),
  policy: null,
});

test('a body that is not a flattened JWS with exactly protected, payload and signature strings is malformed', async () => {
  const good = jwsOf(await withJwk(), {});
  for (const body of [null, [], 'a string', 42])
    await refused(verifyAcmeRequest(body, options('jwk')), 'malformed', /^the request body is not a JWS in flattened JSON serialization$/);
  await refused(verifyAcmeRequest({ signatures: [good] }, options('jwk')), 'malformed', /must use the flattened JSON serialization, not the general one/);
  await refused(verifyAcmeRequest({ ...good, header: { kid: 'x' } }, options('jwk')), 'malformed', /must not have an unprotected header/);
  await refused(verifyAcmeRequest({ ...good, extra: 1, more: 2 }, options('jwk')), 'malformed', /^unexpected JWS members in the request body: extra, more$/);
  for (const member of ['protected', 'payload', 'signature'] as const) {
    await refused(verifyAcmeRequest({ ...good, [member]: 7 }, options('jwk')), 'malformed', /needs string protected, payload and signature members/);
    const { [member]: _, ...without } = good;
    await refused(verifyAcmeRequest(without, options('jwk')), 'malformed', /needs string protected, payload and signature members/);
  }
  // The same body, untouched, is accepted: each refusal above was for its one change.
  assert.equal((await verifyAcmeRequest(good, options('jwk'))).thumbprint, thumbprint);
});

test('a protected header that is not base64url JSON of an object is malformed', async () => {
  await refused(verifyAcmeRequest(jwsOf('eyJ+', {}), options('jwk')), 'malformed', /^the protected header of the request body is not base64url$/);
  await refused(verifyAcmeRequest(jwsOf(b64('{"alg":'), {}), options('jwk')), 'malformed', /^the protected header of the request body is not JSON$/);
  for (const value of [null, [1], 'ES256', 3])
    await refused(
      verifyAcmeRequest(jwsOf(b64(JSON.stringify(value)), {}), options('jwk')),
      'malformed',
      /^the protected header of the request body is not a JSON object$/,
    );
});

test('an algorithm outside the allow-list is badSignatureAlgorithm, naming the allowed ones', async () => {
  for (const alg of [undefined, 'none', 'HS256', 'ES512', 'es256', 7]) {
    const header = await withJwk({ alg });
    if (alg === undefined) delete header.alg;
    await assert.rejects(verifyAcmeRequest(jwsOf(header, {}), options('jwk')), (error: unknown) => {
      assert.ok(error instanceof AcmeError && error.acmeType === 'badSignatureAlgorithm', String(error));
      assert.deepEqual(error.extra, { algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256'] });
      assert.match(error.message, /use one of ES256, ES384, EdDSA, RS256/);
      return true;
    });
  }
  assert.deepEqual([...ACME_ALGORITHMS], ['ES256', 'ES384', 'EdDSA', 'RS256']);
});

test('jwk and kid: exactly one, and the one the endpoint asks for', async () => {
  const kid = `${ACCOUNT_PREFIX}valid1`;
  await refused(verifyAcmeRequest(jwsOf(await withJwk({ kid }), {}), options('either')), 'malformed', /exactly one of jwk and kid/);
  const neither = await withJwk();
  delete neither.jwk;
  await refused(verifyAcmeRequest(jwsOf(neither, {}), options('either')), 'malformed', /exactly one of jwk and kid/);
  const byAccount = async () => jwsOf({ alg: 'ES256', nonce: await nonces.issue(), url: URL, kid }, {});
  await refused(verifyAcmeRequest(await byAccount(), options('jwk')), 'malformed', /must be signed with the key itself \(jwk\), not an account \(kid\)/);
  await refused(verifyAcmeRequest(jwsOf(await withJwk(), {}), options('kid')), 'malformed', /must be signed by an account \(kid\), not a bare key \(jwk\)/);
  // Each kind is accepted where it belongs, and both where either is.
  assert.equal((await verifyAcmeRequest(await byAccount(), options('kid'))).account?.id, 'valid1');
  assert.equal((await verifyAcmeRequest(await byAccount(), options('either'))).account?.id, 'valid1');
  assert.equal((await verifyAcmeRequest(jwsOf(await withJwk(), {}), options('either'))).account, undefined);
});

test('a nonce that is missing, made up or spent is badNonce; a request for another URL is unauthorized', async () => {
  const header = await withJwk();
  const body = jwsOf(header, {});
  await verifyAcmeRequest(body, options('jwk'));
  await refused(verifyAcmeRequest(body, options('jwk')), 'badNonce', /already used/);
  await refused(verifyAcmeRequest(jwsOf({ ...header, nonce: 'made-up' }, {}), options('jwk')), 'badNonce', /nonce/);
  const { nonce: _, ...noNonce } = await withJwk();
  await refused(verifyAcmeRequest(jwsOf(noNonce, {}), options('jwk')), 'badNonce', /nonce/);
  await refused(
    verifyAcmeRequest(jwsOf(await withJwk({ url: `${URL}/` }), {}), options('jwk')),
    'unauthorized',
    /^the JWS url "https:\/\/hearth.test:8443\/acme\/new-order\/" is not the request URL https:\/\/hearth.test:8443\/acme\/new-order$/,
  );
  const { url: __, ...noUrl } = await withJwk();
  await refused(verifyAcmeRequest(jwsOf(noUrl, {}), options('jwk')), 'unauthorized', /is not the request URL/);
});

test('an embedded jwk must be a JSON object holding a usable public key, never a private one', async () => {
  for (const jwk of [null, [publicJwk], 'a key', 5])
    await refused(verifyAcmeRequest(jwsOf(await withJwk({ jwk }), {}), options('jwk')), 'malformed', /^jwk is not a JSON object$/);
  const privateJwk = ec.privateKey.export({ format: 'jwk' });
  await refused(verifyAcmeRequest(jwsOf(await withJwk({ jwk: privateJwk }), {}), options('jwk')), 'badPublicKey', /^jwk must be a public key$/);
  for (const member of ['p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
    await refused(
      verifyAcmeRequest(jwsOf(await withJwk({ jwk: { ...publicJwk, [member]: 'AQAB' } }), {}), options('jwk')),
      'badPublicKey',
      /^jwk must be a public key$/,
    );
  }
  await refused(verifyAcmeRequest(jwsOf(await withJwk({ jwk: { kty: 'EC', crv: 'P-256' } }), {}), options('jwk')), 'badPublicKey', /not a usable public JWK/);
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  await refused(
    verifyAcmeRequest(jwsOf(await withJwk({ jwk: p384.publicKey.export({ format: 'jwk' }) }), {}), options('jwk')),
    'badPublicKey',
    /does not fit ES256/,
  );
});

test('a jwk is used as the key itself defines it: extra members and their order do not change the thumbprint', async () => {
  const verified = await verifyAcmeRequest(
    jwsOf(await withJwk({ jwk: { use: 'sig', kid: 'mine', ...publicJwk, ext: true } }), { hello: 'hearth' }),
    options('jwk'),
  );
  assert.equal(verified.thumbprint, thumbprint);
  assert.deepEqual(verified.jwk, publicJwk);
  assert.deepEqual(verified.header.jwk, publicJwk);
  assert.equal(verified.header.kid, undefined);
  assert.deepEqual(verified.payload, { hello: 'hearth' });
});

test('a kid must be the URL of an existing account of this server, and that account valid', async () => {
  const byKid = async (kid: unknown, key: KeyObject = ec.privateKey) => jwsOf({ alg: 'ES256', nonce: await nonces.issue(), url: URL, kid }, {}, key);
  await refused(
    verifyAcmeRequest(await byKid('https://elsewhere.test/acme/acct/valid1'), options('kid')),
    'accountDoesNotExist',
    /^no account at "https:\/\/elsewhere.test\/acme\/acct\/valid1"$/,
  );
  await refused(verifyAcmeRequest(await byKid(`${ACCOUNT_PREFIX}nobody`), options('kid')), 'accountDoesNotExist', /no account at/);
  await refused(verifyAcmeRequest(await byKid(12), options('kid')), 'accountDoesNotExist', /no account at 12/);
  await refused(
    verifyAcmeRequest(await byKid(`${ACCOUNT_PREFIX}gone1`, deactivatedKey.privateKey), options('kid')),
    'unauthorized',
    /^the account is deactivated$/,
  );
  const verified = await verifyAcmeRequest(await byKid(`${ACCOUNT_PREFIX}valid1`), options('kid'));
  assert.deepEqual(
    [verified.account?.id, verified.thumbprint, verified.header.kid, verified.header.jwk],
    ['valid1', thumbprint, `${ACCOUNT_PREFIX}valid1`, undefined],
  );
  assert.deepEqual(verified.jwk, publicJwk);
});

test("a signature by another key than the jwk's or the account's does not verify", async () => {
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await refused(verifyAcmeRequest(jwsOf(await withJwk(), {}, other), options('jwk')), 'malformed', /^the JWS signature does not verify$/);
  await refused(
    verifyAcmeRequest(jwsOf({ alg: 'ES256', nonce: await nonces.issue(), url: URL, kid: `${ACCOUNT_PREFIX}valid1` }, {}, other), options('kid')),
    'malformed',
    /^the JWS signature does not verify$/,
  );
});

test('the payload: empty is POST-as-GET, otherwise base64url JSON', async () => {
  assert.equal((await verifyAcmeRequest(jwsOf(await withJwk(), ''), options('jwk'))).payload, undefined);
  assert.deepEqual((await verifyAcmeRequest(jwsOf(await withJwk(), []), options('jwk'))).payload, []);
  await refused(verifyAcmeRequest(jwsOf(await withJwk(), 'raw:e30+'), options('jwk')), 'malformed', /^the payload is not base64url$/);
  await refused(verifyAcmeRequest(jwsOf(await withJwk(), `raw:${b64('{"a":')}`), options('jwk')), 'malformed', /^the payload is not JSON$/);
  const verified = await verifyAcmeRequest(jwsOf(await withJwk(), { identifiers: [] }), options('jwk'));
  assert.deepEqual(Object.keys(verified.header).sort(), ['alg', 'jwk', 'nonce', 'url']);
});

const KEY_CHANGE_URL = 'https://hearth.test:8443/acme/key-change';
const newKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const newJwk = newKey.publicKey.export({ format: 'jwk' }) as JWK;

test('a key change: the inner JWS carries the new key as jwk, signs with it for the outer URL, and names the account and old key', async () => {
  const inner = (header: Record<string, unknown>, payload: unknown, key: KeyObject = newKey.privateKey) =>
    jwsOf({ alg: 'ES256', url: KEY_CHANGE_URL, jwk: newJwk, ...header }, payload, key);
  const payload = { account: `${ACCOUNT_PREFIX}valid1`, oldKey: publicJwk };
  const change = await verifyKeyChange(inner({}, payload), KEY_CHANGE_URL);
  assert.deepEqual(change, { jwk: newJwk, thumbprint: await calculateJwkThumbprint(newJwk, 'sha256'), account: `${ACCOUNT_PREFIX}valid1`, oldKey: publicJwk });

  await refused(verifyKeyChange({ ...inner({}, payload), header: {} }, KEY_CHANGE_URL), 'malformed', /^the inner JWS must not have an unprotected header$/);
  await refused(verifyKeyChange(inner({ jwk: undefined }, payload), KEY_CHANGE_URL), 'malformed', /must carry the new key as jwk, and no kid/);
  await refused(verifyKeyChange(inner({ kid: `${ACCOUNT_PREFIX}valid1` }, payload), KEY_CHANGE_URL), 'malformed', /must carry the new key as jwk, and no kid/);
  await refused(
    verifyKeyChange(inner({ url: URL }, payload), KEY_CHANGE_URL),
    'malformed',
    /^the inner JWS url "https:\/\/hearth.test:8443\/acme\/new-order" is not the outer url https:\/\/hearth.test:8443\/acme\/key-change$/,
  );
  await refused(verifyKeyChange(inner({}, payload, ec.privateKey), KEY_CHANGE_URL), 'malformed', /^the inner JWS signature does not verify$/);
  await refused(verifyKeyChange(inner({ alg: 'ES384' }, payload), KEY_CHANGE_URL), 'badPublicKey', /does not fit ES384/);
  await refused(verifyKeyChange(inner({ jwk: { ...newJwk, d: 'AQAB' } }, payload), KEY_CHANGE_URL), 'badPublicKey', /must be a public key/);
  for (const bad of [
    null,
    [],
    JSON.stringify('x'),
    { oldKey: publicJwk },
    { account: 5, oldKey: publicJwk },
    { account: payload.account },
    { account: payload.account, oldKey: null },
    { account: payload.account, oldKey: [publicJwk] },
    { account: payload.account, oldKey: 'jwk' },
  ]) {
    await refused(verifyKeyChange(inner({}, bad), KEY_CHANGE_URL), 'malformed', /^the inner payload must be \{"account": URL, "oldKey": JWK\}$/);
  }
});

test('signatures: an Ed448 key verifies under EdDSA; an empty or padded signature and an unknown algorithm never verify', () => {
  const ed448 = generateKeyPairSync('ed448');
  const input = ['eyJhIjoxfQ', 'e30'] as const;
  const signature = sign(null, Buffer.from(input.join('.')), ed448.privateKey).toString('base64url');
  const key = importVerifyingKey(ed448.publicKey.export({ format: 'jwk' }), 'EdDSA');
  assert.equal(verifyJwsSignature('EdDSA', key, ...input, signature), true);
  assert.equal(verifyJwsSignature('EdDSA', key, ...input, `${signature}==`), false);
  assert.equal(verifyJwsSignature('EdDSA', key, ...input, ''), false);
  assert.equal(verifyJwsSignature('Ed448', key, ...input, signature), false);
  const es = sign('sha256', Buffer.from(input.join('.')), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  const ecKey = importVerifyingKey(publicJwk, 'ES256');
  assert.equal(verifyJwsSignature('ES256', ecKey, ...input, es), true);
  assert.equal(verifyJwsSignature('ES384', ecKey, ...input, es), false, 'ES384 hashes with SHA-384');
});

/**
 * The API's check of integrations' access tokens, token by token: a real DPoP-bound JWT from the
 * issuer's key passes, and every other is refused with 401 saying why — another audience, another
 * issuer, another signer, expired, not `at+jwt`, not bound to a key, a proof by another key, for
 * another method or URL, too old, replayed, without `ath` of this token, a revoked grant, a
 * removed integration. Tokens are made here with jose as the authorization server makes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import { AccessTokenVerifier, GRANT_CLAIM, HOMES_CLAIM } from '../../src/access/oauth/access-token-verifier.js';
import { ManualClock } from '../../src/core/clock.js';
import { UnauthorizedError } from '../../src/core/errors.js';

const ORIGIN = 'https://ca.home.example:8443';
const ISSUER = `${ORIGIN}/oauth`;
const AUDIENCE = `${ORIGIN}/api`;
const NOW = new Date('2030-06-01T12:00:00Z');
const seconds = Math.floor(NOW.getTime() / 1000);

const issuerKeys = generateKeyPairSync('ed25519');
const clientKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const strangerKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function jkt(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key), 'sha256');
}

async function accessToken(overrides: { claims?: Record<string, unknown>; typ?: string; key?: KeyObject; cnf?: unknown } = {}): Promise<string> {
  const claims = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'alice',
    client_id: 'int_abcdefghijklmnop',
    jti: randomUUID(),
    iat: seconds - 10,
    exp: seconds + 590,
    scope: 'devices:read events:read',
    cnf: overrides.cnf === undefined ? { jkt: await jkt(clientKeys.publicKey) } : overrides.cnf,
    [HOMES_CLAIM]: ['flat-3'],
    [GRANT_CLAIM]: 'grant-1',
    ...overrides.claims,
  };
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: overrides.typ ?? 'at+jwt' }).sign(overrides.key ?? issuerKeys.privateKey);
}

async function proof(
  token: string,
  overrides: { claims?: Record<string, unknown>; keys?: { publicKey: KeyObject; privateKey: KeyObject } } = {},
): Promise<string> {
  const keys = overrides.keys ?? clientKeys;
  return new SignJWT({
    htm: 'GET',
    htu: `${ORIGIN}/api/v1/security-events`,
    ath: createHash('sha256').update(token).digest('base64url'),
    jti: randomUUID(),
    iat: seconds,
    ...overrides.claims,
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
    .sign(keys.privateKey);
}

function verifier(state: { grantActive?: boolean; clientActive?: boolean } = {}) {
  return new AccessTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    publicOrigin: ORIGIN,
    signingKey: issuerKeys.publicKey,
    clock: new ManualClock(NOW),
    grantActive: async () => state.grantActive ?? true,
    clientActive: async () => state.clientActive ?? true,
  });
}

const request = (token: string, dpop: string | undefined, method = 'GET', url = '/api/v1/security-events?limit=1') => ({
  method,
  url,
  headers: { authorization: `DPoP ${token}`, ...(dpop !== undefined ? { dpop } : {}) },
});

async function refused(check: Promise<unknown>, slug: string, detail: RegExp): Promise<void> {
  await assert.rejects(check, (error: unknown) => {
    assert.ok(error instanceof UnauthorizedError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.slug, slug);
    assert.match(error.message, detail);
    return true;
  });
}

test('a DPoP-bound token with its proof is the integration, with its scopes as permissions and its granted homes', async () => {
  const token = await accessToken();
  assert.deepEqual(await verifier().verify(request(token, await proof(token))), {
    id: 'integration:int_abcdefghijklmnop:alice',
    role: 'integration',
    scopes: ['device:read', 'security:read'],
    homes: ['flat-3'],
  });
  // A token acting for itself names no account and no home.
  const own = await accessToken({ claims: { sub: 'int_abcdefghijklmnop', [HOMES_CLAIM]: undefined, [GRANT_CLAIM]: undefined } });
  assert.deepEqual((await verifier().verify(request(own, await proof(own)))).homes, []);
  assert.equal((await verifier().verify(request(own, await proof(own)))).id, 'integration:int_abcdefghijklmnop');
});

test('tokens for another audience or issuer, by another signer, expired, of another type, or unbound are refused', async () => {
  const cases: [Promise<string>, RegExp][] = [
    [accessToken({ claims: { aud: 'https://other.example/api' } }), /aud/],
    [accessToken({ claims: { iss: 'https://other.example/oauth' } }), /iss/],
    [accessToken({ key: generateKeyPairSync('ed25519').privateKey }), /signature/],
    [accessToken({ claims: { exp: seconds - 1 } }), /exp/],
    [accessToken({ typ: 'JWT' }), /typ/],
  ];
  for (const [made, detail] of cases) {
    const token = await made;
    await refused(verifier().verify(request(token, await proof(token))), 'invalid-token', detail);
  }
  const unbound = await accessToken({ cnf: {} });
  await refused(verifier().verify(request(unbound, await proof(unbound))), 'invalid-token', /not bound to a key/);
  const token = await accessToken();
  await refused(verifier().verify({ method: 'GET', url: '/x', headers: { authorization: `Bearer ${token}` } }), 'invalid-token', /DPoP <token>/);
});

test('a proof that is missing, by another key, for another method or URL, too old, replayed, or for another token is refused', async () => {
  const token = await accessToken();
  const v = verifier();
  await refused(v.verify(request(token, undefined)), 'invalid-dpop-proof', /no DPoP proof/);
  await refused(v.verify(request(token, await proof(token, { keys: strangerKeys }))), 'invalid-dpop-proof', /another key/);
  await refused(v.verify(request(token, await proof(token), 'POST')), 'invalid-dpop-proof', /for GET, not POST/);
  await refused(v.verify(request(token, await proof(token), 'GET', '/api/v1/grants')), 'invalid-dpop-proof', /not this URL/);
  await refused(v.verify(request(token, await proof(token, { claims: { iat: seconds - 61 } }))), 'invalid-dpop-proof', /61 s from now/);
  await refused(v.verify(request(token, await proof(token, { claims: { iat: seconds + 61 } }))), 'invalid-dpop-proof', /-61 s from now/);
  const other = await accessToken();
  await refused(v.verify(request(token, await proof(other))), 'invalid-dpop-proof', /another access token/);
  await refused(v.verify(request(token, await proof(token, { claims: { ath: undefined } }))), 'invalid-dpop-proof', /ath/);
  await refused(v.verify(request(token, await proof(token, { claims: { jti: 'x'.repeat(129) } }))), 'invalid-dpop-proof', /jti is a string of at most 128/);
  const once = await proof(token);
  await v.verify(request(token, once));
  await refused(v.verify(request(token, once)), 'invalid-dpop-proof', /used before/);
  // The same URL with another query, and the origin written with a default-looking difference, still match.
  await v.verify(request(token, await proof(token), 'GET', '/api/v1/security-events?limit=5'));
  await v.verify(request(token, await proof(token, { claims: { htu: `${ORIGIN.toUpperCase().replace('HTTPS', 'https')}/api/v1/security-events?x=1` } })));
});

test('a revoked grant or a removed integration stops its tokens at once', async () => {
  const token = await accessToken();
  await refused(verifier({ grantActive: false }).verify(request(token, await proof(token))), 'grant-revoked', /revoked/);
  const own = await accessToken({ claims: { [GRANT_CLAIM]: undefined } });
  await refused(verifier({ clientActive: false }).verify(request(own, await proof(own))), 'grant-revoked', /revoked/);
});

/**
 * The ACME JWS request parsing that runs before any signature is checked (RFC 8555 6.2): random
 * bodies and JWSs whose protected header is random, half-valid or valid with a wrong signature.
 * Only AcmeError comes out, every case returns in bounded time, and a refused request changes
 * nothing but the nonce it spent: no account is stored and another nonce stays good.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { AcmeError } from '../../src/acme/acme-error.js';
import { verifyAcmeRequest, verifyKeyChange } from '../../src/acme/jws-request.js';
import { VerifyingKeyCache } from '../../src/acme/jws-signature.js';
import { NonceService } from '../../src/acme/nonces.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import { asyncOutcomeOf, fuzzRuns, outcomeOf, refusedCleanly } from './fuzz-budget.js';

const URL = 'https://hearth.test:8443/acme/new-order';
const ACCOUNT_PREFIX = 'https://hearth.test:8443/acme/acct/';
const store = await openStore({ url: ':memory:' });
after(() => store.close());
const nonces = new NonceService(store, new ManualClock(new Date('2030-01-01T00:00:00Z')));
const keys = new VerifyingKeyCache();
const options = (signer: 'jwk' | 'kid' | 'either') => ({
  url: URL,
  signer,
  nonces,
  store,
  keys,
  accountIdOf: (kid: string) => (kid.startsWith(ACCOUNT_PREFIX) ? kid.slice(ACCOUNT_PREFIX.length) : undefined),
});

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicJwk = ec.publicKey.export({ format: 'jwk' });
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null')).toString('base64url');

/** JSON values, with the members ACME looks at over-represented. */
const json = fc.jsonValue({ maxDepth: 3 });
const headerValue = fc.oneof(
  json,
  fc.constantFrom('ES256', 'RS256', 'EdDSA', 'none', 'HS256', URL, `${ACCOUNT_PREFIX}1`, ACCOUNT_PREFIX, '__proto__', 'constructor'),
);
const jwk = fc.oneof(
  json,
  fc.constant(publicJwk),
  fc.record(
    {
      kty: fc.constantFrom('EC', 'RSA', 'OKP', 'oct', 'x'),
      crv: fc.constantFrom('P-256', 'P-384', 'Ed25519', 'X25519', 'secp256k1'),
      x: fc.base64String(),
      y: fc.base64String(),
      n: fc.base64String(),
      e: fc.constantFrom('AQAB', ''),
      d: fc.string(),
      k: fc.string(),
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(fc.string({ maxLength: 4 }), json).map((extra) => ({ ...publicJwk, ...extra })),
);
const header = fc
  .record(
    {
      alg: headerValue,
      nonce: fc.oneof(headerValue, fc.constant('VALID')),
      url: headerValue,
      jwk,
      kid: headerValue,
      extra: fc.dictionary(fc.constantFrom('__proto__', 'crit', 'b64', 'typ', 'x5c'), json),
    },
    { requiredKeys: [] },
  )
  .map(({ extra, ...fields }) => ({ ...extra, ...fields }));
const part = fc.oneof(
  fc.base64String().map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')),
  fc.string({ maxLength: 40 }),
  json.map(b64),
);
const jws = fc.record(
  { protected: fc.oneof(header.map(b64), part), payload: fc.oneof(part, fc.constant(''), json.map(b64)), signature: part },
  { requiredKeys: [] },
);
const body = fc.oneof(
  { weight: 4, arbitrary: jws },
  {
    weight: 1,
    arbitrary: fc.tuple(jws, fc.dictionary(fc.constantFrom('header', 'signatures', 'x', '__proto__'), json)).map(([j, extra]) => ({ ...extra, ...j })),
  },
  { weight: 1, arbitrary: json },
);

/** A fresh nonce for headers that ask for one, so the checks after the nonce are reached too. */
async function withNonce(value: unknown): Promise<unknown> {
  if (typeof value !== 'object' || value === null || typeof (value as { protected?: unknown }).protected !== 'string') return value;
  const body = value as { protected: string };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.protected, 'base64url').toString('utf8'));
  } catch {
    return value;
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { nonce?: unknown }).nonce !== 'VALID') return value;
  return { ...body, protected: b64({ ...parsed, nonce: await nonces.issue() }) };
}

test('fuzz: random ACME request bodies are refused with AcmeError and leave nothing stored', async () => {
  const sentinel = await nonces.issue();
  await fc.assert(
    fc.asyncProperty(body, fc.constantFrom('jwk' as const, 'kid' as const, 'either' as const), async (raw, signer) => {
      const request = await withNonce(raw);
      const thrown = await asyncOutcomeOf(() => verifyAcmeRequest(request, options(signer)));
      refusedCleanly(thrown, AcmeError);
      // Random signatures never verify, so every case is a refusal.
      assert.ok(thrown instanceof AcmeError, 'a random request was accepted');
    }),
    fuzzRuns(600),
  );
  assert.equal(await store.acme.getAcmeAccount('1'), undefined);
  assert.equal(await nonces.redeem(sentinel), true, 'refused requests spent no nonce but their own');
});

test('fuzz: a correctly signed request whose header is otherwise random is accepted or refused with AcmeError', async () => {
  await fc.assert(
    fc.asyncProperty(header, fc.oneof(json.map(b64), fc.constant('')), async (fields, payload) => {
      const h = { ...fields, alg: 'ES256', jwk: publicJwk, nonce: await nonces.issue(), url: URL } as Record<string, unknown>;
      delete h.kid;
      const protectedPart = b64(h);
      const signature = sign('sha256', Buffer.from(`${protectedPart}.${payload}`), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      refusedCleanly(await asyncOutcomeOf(() => verifyAcmeRequest({ protected: protectedPart, payload, signature }, options('jwk'))), AcmeError);
    }),
    fuzzRuns(300),
  );
});

test('fuzz: a random inner JWS of a key change is refused with AcmeError', async () => {
  await fc.assert(
    fc.asyncProperty(body, async (inner) => {
      refusedCleanly(await asyncOutcomeOf(() => verifyKeyChange(inner, URL)), AcmeError);
    }),
    fuzzRuns(400),
  );
  refusedCleanly(outcomeOf(() => undefined));
});

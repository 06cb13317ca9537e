/** The authorization and challenge state machine apart from HTTP, over a real store: who may act, which transitions exist, and how the order follows. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeError } from '../../src/acme/acme-error.js';
import { Authorizations, effectiveStatus } from '../../src/acme/authorizations.js';
import type { ChallengeContext, ChallengeValidator } from '../../src/acme/challenge-validators.js';
import { RateLimits } from '../../src/acme/rate-limits.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import type { AcmeAuthorizationRecord, Store } from '../../src/store/store.js';
import { HOUR, dns, newAccount, noRateLimits, refused, storedOrder } from './acme-domain-fixtures.js';

const clock = new ManualClock(new Date('2030-01-15T12:00:00Z'));
const store = await openStore({ url: ':memory:' });
after(() => store.close());

/** A validator that records what it was asked and passes, or fails with `failure`. */
function scriptedValidator(
  type = 'http-01',
  failure?: AcmeError,
  evidence?: { attestedKeySha256: string },
): ChallengeValidator & { asked: ChallengeContext[] } {
  const asked: ChallengeContext[] = [];
  return {
    type,
    identifierTypes: ['dns'],
    asked,
    async validate(context) {
      asked.push(context);
      if (failure) throw failure;
      return evidence;
    },
  };
}

function authorizations(validator: ChallengeValidator, rateLimits = noRateLimits({ store, clock }), over: Store = store): Authorizations {
  return new Authorizations({ store: over, clock, validators: new Map([[validator.type, validator]]), rateLimits });
}

/** A challenge response; `undefined` is a POST-as-GET. */
const respond = (...payload: [unknown?]) => ({ payload: payload.length === 0 ? {} : payload[0], thumbprint: 'THUMB', ip: '192.0.2.1' });

test('a passing response makes the challenge and authorization valid, and the order ready once all are', async () => {
  const validator = scriptedValidator();
  const { record: account } = await newAccount(store, clock.now());
  const {
    order,
    authorizations: [a, b],
  } = await storedOrder(store, account, dns('a.example.com', 'b.example.com'), clock.now());
  const first = await authorizations(validator).respondToChallenge(account, (a as AcmeAuthorizationRecord).id, 'http-01', respond());
  assert.deepEqual([first.authorization.status, first.challenge.status], ['valid', 'valid']);
  assert.equal(first.challenge.validated, clock.now().toISOString());
  assert.equal(validator.asked[0]?.keyAuthorization, `${first.challenge.token}.THUMB`, 'the key authorization is token.thumbprint');
  assert.deepEqual(validator.asked[0]?.identifier, { type: 'dns', value: 'a.example.com' });
  assert.equal((await store.acme.getAcmeOrder(order.id))?.status, 'pending', 'one authorization is still pending');
  await authorizations(validator).respondToChallenge(account, (b as AcmeAuthorizationRecord).id, 'http-01', respond());
  assert.equal((await store.acme.getAcmeOrder(order.id))?.status, 'ready');
});

test('evidence from the validator (the attested key) is kept on the challenge for finalize', async () => {
  const validator = scriptedValidator('http-01', undefined, { attestedKeySha256: 'ab'.repeat(32) });
  const { record: account } = await newAccount(store, clock.now());
  const {
    authorizations: [a],
  } = await storedOrder(store, account, dns('e.example.com'), clock.now());
  await authorizations(validator).respondToChallenge(account, (a as AcmeAuthorizationRecord).id, 'http-01', respond());
  assert.equal((await store.acme.getAcmeAuthorization((a as AcmeAuthorizationRecord).id))?.challenges[0]?.attestedKeySha256, 'ab'.repeat(32));
});

test('a failing response makes the challenge, the authorization and the order invalid, and counts against the failure limit', async () => {
  const limits = new RateLimits(store, clock, {
    windowSeconds: 3600,
    newAccountsPerIp: 0,
    newOrdersPerAccount: 0,
    newOrdersPerIp: 0,
    failedValidationsPerAccount: 1,
    failedValidationsPerIp: 0,
  });
  const validator = scriptedValidator('http-01', new AcmeError('incorrectResponse', 'wrong key authorization'));
  const { record: account } = await newAccount(store, clock.now());
  const {
    order,
    authorizations: [a],
  } = await storedOrder(store, account, dns('f.example.com'), clock.now());
  const outcome = await authorizations(validator, limits).respondToChallenge(account, (a as AcmeAuthorizationRecord).id, 'http-01', respond());
  assert.deepEqual([outcome.authorization.status, outcome.challenge.status], ['invalid', 'invalid']);
  assert.equal(outcome.challenge.error?.type, 'urn:ietf:params:acme:error:incorrectResponse');
  const settled = await store.acme.getAcmeOrder(order.id);
  assert.equal(settled?.status, 'invalid');
  assert.match(String(settled?.error?.detail), /f\.example\.com is invalid/);
  const {
    authorizations: [next],
  } = await storedOrder(store, account, dns('g.example.com'), clock.now());
  await refused(authorizations(validator, limits).respondToChallenge(account, (next as AcmeAuthorizationRecord).id, 'http-01', respond()), 'rateLimited', 429);
});

test('a validator that throws something else is a serverInternal failure, never a pass', async () => {
  const validator: ChallengeValidator = {
    type: 'http-01',
    identifierTypes: ['dns'],
    validate: async () => {
      throw new Error('socket exploded');
    },
  };
  const { record: account } = await newAccount(store, clock.now());
  const {
    authorizations: [a],
  } = await storedOrder(store, account, dns('x.example.com'), clock.now());
  const outcome = await authorizations(validator).respondToChallenge(account, (a as AcmeAuthorizationRecord).id, 'http-01', respond());
  assert.equal(outcome.challenge.status, 'invalid');
  assert.equal(outcome.challenge.error?.type, 'urn:ietf:params:acme:error:serverInternal');
});

test('a payload that is not an object fails the challenge as malformed', async () => {
  const validator = scriptedValidator();
  const { record: account } = await newAccount(store, clock.now());
  const {
    authorizations: [a],
  } = await storedOrder(store, account, dns('m.example.com'), clock.now());
  const outcome = await authorizations(validator).respondToChallenge(account, (a as AcmeAuthorizationRecord).id, 'http-01', respond([1, 2]));
  assert.equal(outcome.challenge.status, 'invalid');
  assert.equal(outcome.challenge.error?.type, 'urn:ietf:params:acme:error:malformed');
  assert.equal(validator.asked.length, 0);
});

test('POST-as-GET reads a challenge without validating; a settled challenge is never validated again', async () => {
  const validator = scriptedValidator();
  const { record: account } = await newAccount(store, clock.now());
  const {
    authorizations: [a],
  } = await storedOrder(store, account, dns('r.example.com'), clock.now());
  const id = (a as AcmeAuthorizationRecord).id;
  const read = await authorizations(validator).respondToChallenge(account, id, 'http-01', respond(undefined));
  assert.equal(read.challenge.status, 'pending');
  assert.equal(validator.asked.length, 0);
  await authorizations(validator).respondToChallenge(account, id, 'http-01', respond());
  const failing = scriptedValidator('http-01', new AcmeError('incorrectResponse', 'no'));
  const again = await authorizations(failing).respondToChallenge(account, id, 'http-01', respond());
  assert.deepEqual([again.authorization.status, again.challenge.status, failing.asked.length], ['valid', 'valid', 0], 'valid stays valid');
});

test('a response after the authorization expired expires it (and the order goes invalid) without validating', async () => {
  const validator = scriptedValidator();
  const { record: account } = await newAccount(store, clock.now());
  const {
    order,
    authorizations: [a],
  } = await storedOrder(store, account, dns('late.example.com'), clock.now(), { expiresAt: new Date(clock.now().getTime() + 1000) });
  clock.advance(1000);
  const outcome = await authorizations(validator).respondToChallenge(account, (a as AcmeAuthorizationRecord).id, 'http-01', respond());
  assert.equal(outcome.authorization.status, 'expired');
  assert.equal(validator.asked.length, 0);
  assert.equal((await store.acme.getAcmeOrder(order.id))?.status, 'invalid');
});

test('when a parallel response settled the authorization first, its outcome stands and is what the caller sees', async () => {
  const { record: account } = await newAccount(store, clock.now());
  const {
    authorizations: [a],
  } = await storedOrder(store, account, dns('race.example.com'), clock.now());
  const id = (a as AcmeAuthorizationRecord).id;
  // The other response lands while this one's validator runs.
  const slow: ChallengeValidator = {
    type: 'http-01',
    identifierTypes: ['dns'],
    async validate() {
      const other = (await store.acme.getAcmeAuthorization(id)) as AcmeAuthorizationRecord;
      other.status = 'invalid';
      (other.challenges[0] as AcmeAuthorizationRecord['challenges'][number]).status = 'invalid';
      assert.ok(await store.acme.saveAcmeAuthorization(other, 'pending'));
    },
  };
  const outcome = await authorizations(slow).respondToChallenge(account, id, 'http-01', respond());
  assert.deepEqual([outcome.authorization.status, outcome.challenge.status], ['invalid', 'invalid']);
  assert.equal((await store.acme.getAcmeAuthorization(id))?.status, 'invalid', 'invalid stays invalid');
});

test("another account's authorization and challenge are refused, and nothing changes", async () => {
  const validator = scriptedValidator();
  const alice = (await newAccount(store, clock.now())).record;
  const mallory = (await newAccount(store, clock.now())).record;
  const {
    authorizations: [a],
  } = await storedOrder(store, alice, dns('alice.example.com'), clock.now());
  const id = (a as AcmeAuthorizationRecord).id;
  await refused(authorizations(validator).respondToChallenge(mallory, id, 'http-01', respond()), 'unauthorized', 403, /another account/);
  await refused(authorizations(validator).readOrDeactivate(mallory, id, undefined), 'unauthorized', 403);
  await refused(authorizations(validator).readOrDeactivate(mallory, id, { status: 'deactivated' }), 'unauthorized', 403);
  assert.equal(validator.asked.length, 0);
  assert.equal((await store.acme.getAcmeAuthorization(id))?.status, 'pending');
  await refused(authorizations(validator).respondToChallenge(alice, id, 'dns-01', respond()), 'malformed', 404);
  await refused(authorizations(validator).respondToChallenge(alice, 'nope', 'http-01', respond()), 'malformed', 404);
  await refused(authorizations(validator).readOrDeactivate(alice, 'nope', undefined), 'malformed', 404);
});

test('deactivation: pending or valid become deactivated and the order invalid; other states and other changes are refused', async () => {
  const validator = scriptedValidator();
  const account = (await newAccount(store, clock.now())).record;
  const {
    order,
    authorizations: [a],
  } = await storedOrder(store, account, dns('d.example.com'), clock.now());
  const id = (a as AcmeAuthorizationRecord).id;
  await refused(authorizations(validator).readOrDeactivate(account, id, { status: 'valid' }), 'malformed', 400, /deactivated/);
  await refused(authorizations(validator).readOrDeactivate(account, id, {}), 'malformed');
  const deactivated = await authorizations(validator).readOrDeactivate(account, id, { status: 'deactivated' });
  assert.equal(deactivated.status, 'deactivated');
  assert.equal((await store.acme.getAcmeOrder(order.id))?.status, 'invalid');
  await refused(authorizations(validator).readOrDeactivate(account, id, { status: 'deactivated' }), 'malformed', 400, /deactivated cannot be deactivated/);

  const valid = await storedOrder(store, account, dns('dv.example.com'), clock.now(), { status: 'ready', authzStatus: 'valid' });
  assert.equal((await authorizations(validator).readOrDeactivate(account, valid.authorizations[0]!.id, { status: 'deactivated' })).status, 'deactivated');
  assert.equal((await store.acme.getAcmeOrder(valid.order.id))?.status, 'invalid');

  const invalid = await storedOrder(store, account, dns('di.example.com'), clock.now(), { status: 'invalid', authzStatus: 'invalid' });
  await refused(
    authorizations(validator).readOrDeactivate(account, invalid.authorizations[0]!.id, { status: 'deactivated' }),
    'malformed',
    400,
    /invalid cannot/,
  );
});

test('an authorization past its expiry reads as expired and cannot be deactivated', async () => {
  const validator = scriptedValidator();
  const account = (await newAccount(store, clock.now())).record;
  const {
    authorizations: [a],
  } = await storedOrder(store, account, dns('old.example.com'), clock.now(), { authzStatus: 'valid', expiresAt: new Date(clock.now().getTime() + HOUR) });
  const id = (a as AcmeAuthorizationRecord).id;
  assert.equal((await authorizations(validator).readOrDeactivate(account, id, undefined)).status, 'valid');
  clock.advance(HOUR);
  assert.equal((await authorizations(validator).readOrDeactivate(account, id, undefined)).status, 'expired');
  await refused(authorizations(validator).readOrDeactivate(account, id, { status: 'deactivated' }), 'malformed', 400, /expired cannot/);
  assert.equal((await store.acme.getAcmeAuthorization(id))?.status, 'valid', 'reading writes nothing');
});

test('effectiveStatus: only pending and valid expire', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const authz = (status: AcmeAuthorizationRecord['status'], expiresAt: Date) => ({ status, expiresAt }) as AcmeAuthorizationRecord;
  assert.equal(effectiveStatus(authz('pending', now), now), 'expired');
  assert.equal(effectiveStatus(authz('valid', now), now), 'expired');
  assert.equal(effectiveStatus(authz('valid', new Date(now.getTime() + 1)), now), 'valid');
  assert.equal(effectiveStatus(authz('invalid', now), now), 'invalid');
  assert.equal(effectiveStatus(authz('deactivated', now), now), 'deactivated');
});

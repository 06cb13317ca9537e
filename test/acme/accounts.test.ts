/** ACME accounts apart from HTTP: creation and binding, updates, the orders list, key change; each attacker refused. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { FlattenedSign, type JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import { Accounts } from '../../src/acme/accounts.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import type { EabKeyDerivation } from '../../src/access/eab-key-derivation.js';
import { accountKey, dns, newAccount, noRateLimits, refused, storedOrder } from './acme-domain-fixtures.js';

const clock = new ManualClock(new Date('2030-01-15T12:00:00Z'));
const store = await openStore({ url: ':memory:' });
after(() => store.close());
const URL = 'https://hearth.test/acme/new-account';
const noEab: EabKeyDerivation = { keyFor: () => new Uint8Array(32) } as unknown as EabKeyDerivation;
const accounts = new Accounts({ store, clock, rateLimits: noRateLimits({ store, clock }), externalAccountRequired: false, eabKeys: noEab });

test('newAccount makes the account of a new key once; the same key then finds it', async () => {
  const key = await accountKey();
  const made = await accounts.newAccount(
    { jwk: key.jwk, thumbprint: key.thumbprint, url: URL },
    { termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] },
    '192.0.2.1',
  );
  assert.equal(made.created, true);
  assert.deepEqual(
    [made.account.status, made.account.contact, made.account.termsAgreed, made.account.policy],
    ['valid', ['mailto:ops@example.com'], true, null],
  );
  const found = await accounts.newAccount({ jwk: key.jwk, thumbprint: key.thumbprint, url: URL }, { onlyReturnExisting: true }, '192.0.2.1');
  assert.deepEqual([found.created, found.account.id], [false, made.account.id]);
});

test('newAccount refuses what the RFC refuses, and makes nothing', async () => {
  const key = await accountKey();
  const signer = { jwk: key.jwk, thumbprint: key.thumbprint, url: URL };
  await refused(accounts.newAccount(signer, { onlyReturnExisting: true }, '192.0.2.1'), 'accountDoesNotExist');
  await refused(accounts.newAccount(signer, 'not an object', '192.0.2.1'), 'malformed', 400, /JSON object/);
  await refused(accounts.newAccount(signer, { termsOfServiceAgreed: 'yes' }, '192.0.2.1'), 'malformed', 400, /boolean/);
  await refused(accounts.newAccount(signer, { contact: ['tel:+15555550100'] }, '192.0.2.1'), 'unsupportedContact');
  await refused(accounts.newAccount(signer, { contact: ['mailto:a@example.com,b@example.com'] }, '192.0.2.1'), 'invalidContact');
  await refused(
    accounts.newAccount(signer, { contact: Array.from({ length: 11 }, (_, n) => `mailto:a${n}@example.com`) }, '192.0.2.1'),
    'malformed',
    400,
    /at most 10/,
  );
  assert.equal(await store.acme.findAcmeAccountByThumbprint(key.thumbprint), undefined);
});

test('a server that requires external account binding makes no account without one', async () => {
  const strict = new Accounts({ store, clock, rateLimits: noRateLimits({ store, clock }), externalAccountRequired: true, eabKeys: noEab });
  const key = await accountKey();
  await refused(strict.newAccount({ jwk: key.jwk, thumbprint: key.thumbprint, url: URL }, {}, '192.0.2.1'), 'externalAccountRequired');
  await refused(
    strict.newAccount({ jwk: key.jwk, thumbprint: key.thumbprint, url: URL }, { externalAccountBinding: { protected: 'x' } }, '192.0.2.1'),
    'malformed',
  );
  assert.equal(await store.acme.findAcmeAccountByThumbprint(key.thumbprint), undefined);
});

test("a deactivated account's key gets nothing, not even its account", async () => {
  const { record } = await newAccount(store, clock.now(), { status: 'deactivated' });
  await refused(accounts.newAccount({ jwk: record.jwk, thumbprint: record.thumbprint, url: URL }, {}, '192.0.2.1'), 'unauthorized', 403, /deactivated/);
});

test('an account updates its contacts and deactivates itself, which invalidates its open orders', async () => {
  const { record } = await newAccount(store, clock.now());
  const updated = await accounts.update(record, record.id, { contact: ['mailto:new@example.com'] });
  assert.deepEqual(updated.contact, ['mailto:new@example.com']);
  assert.equal((await accounts.update(record, record.id, undefined)).status, 'valid', 'POST-as-GET changes nothing');
  await refused(accounts.update(record, record.id, { status: 'revoked' }), 'malformed', 400, /deactivated/);
  const { order } = await storedOrder(store, record, dns('open.example.com'), clock.now());
  assert.equal((await accounts.update(record, record.id, { status: 'deactivated' })).status, 'deactivated');
  assert.equal((await store.acme.getAcmeOrder(order.id))?.status, 'invalid');
});

test('an account can neither read nor change another account, nor list its orders', async () => {
  const mallory = await newAccount(store, clock.now());
  const alice = await newAccount(store, clock.now());
  await storedOrder(store, alice.record, dns('alice.example.com'), clock.now());
  await refused(accounts.update(mallory.record, alice.record.id, { status: 'deactivated' }), 'unauthorized', 403);
  await refused(accounts.update(mallory.record, alice.record.id, { contact: ['mailto:mallory@example.com'] }), 'unauthorized', 403);
  await refused(accounts.update(undefined, alice.record.id, undefined), 'unauthorized', 403);
  await refused(accounts.orderIds(mallory.record, alice.record.id), 'unauthorized', 403);
  assert.equal((await store.acme.getAcmeAccount(alice.record.id))?.status, 'valid');
  assert.equal((await accounts.orderIds(alice.record, alice.record.id)).length, 1);
});

/** The inner JWS of a keyChange: signed by the new key, over the account URL and the old key. */
async function keyChangeJws(newKey: { privateKey: KeyObject; jwk: JWK }, url: string, payload: unknown): Promise<unknown> {
  return new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', jwk: newKey.jwk, url })
    .sign(newKey.privateKey);
}

test('keyChange rolls the account onto a new key; a key another account holds is a conflict naming that account', async () => {
  const url = 'https://hearth.test/acme/key-change';
  const alice = await newAccount(store, clock.now());
  const kid = `https://hearth.test/acme/acct/${alice.record.id}`;
  const fresh = await accountKey();
  const outcome = await accounts.changeKey(alice.record, { kid, url, payload: await keyChangeJws(fresh, url, { account: kid, oldKey: alice.jwk }) });
  assert.ok('changed' in outcome);
  assert.equal(outcome.changed.thumbprint, fresh.thumbprint);

  const bob = await newAccount(store, clock.now());
  const bobKid = `https://hearth.test/acme/acct/${bob.record.id}`;
  const conflict = await accounts.changeKey(bob.record, { kid: bobKid, url, payload: await keyChangeJws(fresh, url, { account: bobKid, oldKey: bob.jwk }) });
  assert.ok('conflict' in conflict);
  assert.equal(conflict.conflict?.id, alice.record.id);
  assert.equal((await store.acme.getAcmeAccount(bob.record.id))?.thumbprint, bob.record.thumbprint, "bob's key is unchanged");
});

test('keyChange refuses an inner payload for another account, a wrong old key, and the current key again', async () => {
  const url = 'https://hearth.test/acme/key-change';
  const alice = await newAccount(store, clock.now());
  const mallory = await newAccount(store, clock.now());
  const kid = `https://hearth.test/acme/acct/${alice.record.id}`;
  const fresh = await accountKey();
  await refused(
    accounts.changeKey(alice.record, {
      kid,
      url,
      payload: await keyChangeJws(fresh, url, { account: `https://hearth.test/acme/acct/${mallory.record.id}`, oldKey: alice.jwk }),
    }),
    'malformed',
    400,
    /another account/,
  );
  await refused(
    accounts.changeKey(alice.record, { kid, url, payload: await keyChangeJws(fresh, url, { account: kid, oldKey: mallory.jwk }) }),
    'malformed',
    400,
    /current key/,
  );
  await refused(
    accounts.changeKey(alice.record, { kid, url, payload: await keyChangeJws(alice, url, { account: kid, oldKey: alice.jwk }) }),
    'malformed',
    400,
    /new key is the current key/,
  );
  await refused(
    accounts.changeKey(alice.record, {
      kid,
      url: 'https://hearth.test/acme/elsewhere',
      payload: await keyChangeJws(fresh, url, { account: kid, oldKey: alice.jwk }),
    }),
    'malformed',
  );
  assert.equal((await store.acme.getAcmeAccount(alice.record.id))?.thumbprint, alice.record.thumbprint);
});

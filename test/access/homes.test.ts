/**
 * Homes (the tenants) over a real SQLite store: making one, members and their accounts, and
 * forgetting one whole — members, homeowner tokens, claims and messages in one transaction, with
 * every other home untouched. Bad ids and names are refused and change nothing.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkAccountId, Homes } from '../../src/access/homes.js';
import { createApiToken } from '../../src/access/api-tokens.js';
import { ManualClock } from '../../src/core/clock.js';
import { BadRequestError, ConflictError, NotFoundError, type HearthError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

const START = new Date('2030-01-01T00:00:00.000Z');
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

async function setup() {
  const store = await openStore({ url: ':memory:' });
  stores.push(store);
  const clock = new ManualClock(START);
  return { store, clock, homes: new Homes(store, clock) };
}

const slugOf = (slug: string, type: new (...args: never[]) => HearthError) => (error: unknown) => error instanceof type && error.slug === slug;

test('a home is made once, with its id as the name unless one is given; bad ids and names are refused', async () => {
  const { store, homes } = await setup();
  assert.deepEqual(await homes.create('flat-3'), { id: 'flat-3', name: 'flat-3', createdAt: START });
  assert.deepEqual(await homes.create('cottage', 'The Cottage'), { id: 'cottage', name: 'The Cottage', createdAt: START });
  await assert.rejects(homes.create('flat-3', 'Again'), slugOf('home-exists', ConflictError));
  for (const id of ['', '-lead', 'has space', 'x'.repeat(65), 'a/b']) await assert.rejects(homes.create(id), slugOf('invalid-home', BadRequestError), id);
  for (const name of ['', 'x'.repeat(101), 'tab\there', 'bidi\u202Eoverride'])
    await assert.rejects(homes.create(`h${randomBytes(3).toString('hex')}`, name), slugOf('invalid-name', BadRequestError), JSON.stringify(name));
  assert.deepEqual(
    (await homes.list()).map((h) => h.id),
    ['cottage', 'flat-3'],
  );
  assert.deepEqual(
    (await homes.list(['cottage'])).map((h) => h.id),
    ['cottage'],
  );
  assert.equal((await store.homes.listHomes()).length, 2, 'the refused ones left nothing');
});

test('a store failure while making a home is rethrown as it is, never reported as a duplicate', async () => {
  const { store, homes } = await setup();
  await store.close();
  stores.splice(0);
  await assert.rejects(homes.create('flat-9'), (error: unknown) => !(error instanceof ConflictError) && error instanceof Error);
});

test("members: an account is made on first use, is a member once, and leaves; the home's view lists them", async () => {
  const { store, clock, homes } = await setup();
  await homes.create('flat-3');
  await homes.create('cottage');
  assert.deepEqual(await homes.addMember('flat-3', 'alice@example.com', 'Alice'), { home: 'flat-3', account: 'alice@example.com', addedAt: START });
  assert.deepEqual(await store.homes.getAccount('alice@example.com'), { id: 'alice@example.com', name: 'Alice', createdAt: START });
  clock.advance(1000);
  // The same account in a second home: made once, its name kept.
  await homes.addMember('cottage', 'alice@example.com', 'Someone Else');
  assert.equal((await store.homes.getAccount('alice@example.com'))?.name, 'Alice');
  assert.deepEqual(await store.homes.homesOfAccount('alice@example.com'), ['cottage', 'flat-3']);
  await assert.rejects(homes.addMember('flat-3', 'alice@example.com'), slugOf('already-a-member', ConflictError));
  await assert.rejects(homes.addMember('nowhere', 'bob'), slugOf('not-found', NotFoundError));
  await assert.rejects(homes.addMember('flat-3', 'Bob'), slugOf('invalid-account', BadRequestError));
  await homes.addMember('flat-3', 'bob');
  assert.equal((await store.homes.getAccount('bob'))?.name, 'bob');
  const view = await homes.describe('flat-3');
  assert.deepEqual(
    view.members.map((m) => m.account),
    ['alice@example.com', 'bob'],
  );
  await homes.removeMember('flat-3', 'bob');
  await assert.rejects(homes.removeMember('flat-3', 'bob'), slugOf('not-found', NotFoundError));
  await assert.rejects(homes.describe('nowhere'), slugOf('not-found', NotFoundError));
  await assert.rejects(homes.describe('bad id'), slugOf('invalid-home', BadRequestError));
  assert.deepEqual(
    (await homes.describe('flat-3')).members.map((m) => m.account),
    ['alice@example.com'],
  );
});

test('account ids are lower-case, 1-64 characters of letters, digits and ._@-', () => {
  assert.equal(checkAccountId('alice@example.com'), 'alice@example.com');
  assert.equal(checkAccountId('a'.repeat(64)), 'a'.repeat(64));
  for (const id of ['', 'Alice', '.alice', 'a'.repeat(65), 'a b', 'a\n'])
    assert.throws(() => checkAccountId(id), slugOf('invalid-account', BadRequestError), JSON.stringify(id));
});

test('forgetting a home removes its members, tokens, claims and messages in one go, and nothing of another home', async () => {
  const { store, homes } = await setup();
  await homes.create('flat-3');
  await homes.create('cottage');
  await homes.addMember('flat-3', 'alice');
  await homes.addMember('cottage', 'alice');
  await createApiToken(store, { name: 'script', role: 'homeowner', home: 'flat-3', ttlMs: 60_000 }, START);
  const kept = await createApiToken(store, { name: 'script', role: 'homeowner', home: 'cottage', ttlMs: 60_000 }, START);
  await store.telemetry.insertTelemetry([
    {
      gateway: 'gw',
      messageId: '1',
      deviceId: 'sensor:t',
      topic: 't',
      payload: new Uint8Array([1]),
      qos: 0,
      publishedAt: START,
      receivedAt: START,
      home: 'flat-3',
    },
    {
      gateway: 'gw',
      messageId: '2',
      deviceId: 'sensor:t',
      topic: 't',
      payload: new Uint8Array([2]),
      qos: 0,
      publishedAt: START,
      receivedAt: START,
      home: 'cottage',
    },
  ]);
  assert.deepEqual(await homes.forget('flat-3'), { home: 'flat-3', members: 1, tokens: 1, claims: 0, gateways: 0, telemetry: 1, commands: 0, grants: 0 });
  await assert.rejects(homes.forget('flat-3'), slugOf('not-found', NotFoundError));
  await assert.rejects(homes.forget('not valid'), slugOf('invalid-home', BadRequestError));
  assert.deepEqual(
    (await homes.list()).map((h) => h.id),
    ['cottage'],
  );
  assert.deepEqual(
    (await store.tokens.listApiTokens()).map((t) => t.id),
    [kept.id],
  );
  assert.equal(await store.telemetry.countTelemetry({ homes: ['cottage'] }), 1);
  assert.deepEqual(await store.homes.homesOfAccount('alice'), ['cottage'], 'the account stays, a member of its other home');
});

test("removing a member revokes the grants they gave integrations on that home, and logs it; their other homes' grants stay", async () => {
  const { store, homes } = await setup();
  await homes.create('flat-3');
  await homes.create('cottage');
  await homes.addMember('flat-3', 'alice');
  await homes.addMember('cottage', 'alice');
  const grant = (id: string, grantHomes: string[]) => ({
    id,
    clientId: 'int_abcdefghijklmnop',
    account: 'alice',
    homes: grantHomes,
    scopes: ['devices:command'],
    salt: 's',
    createdAt: START,
    revokedAt: null,
    revokedReason: null,
  });
  await store.oauth.insertGrant(grant('g-flat', ['flat-3']));
  await store.oauth.insertGrant(grant('g-cottage', ['cottage']));
  await store.oauth.upsertArtifact('RefreshToken', 'rt-1', { grantId: 'g-flat' }, null);
  const before = await store.log.logSize();
  assert.deepEqual(await homes.removeMember('flat-3', 'alice'), { revokedGrants: 1 });
  assert.equal((await store.oauth.getGrant('g-flat'))?.revokedReason, 'member-removed');
  assert.equal((await store.oauth.getGrant('g-cottage'))?.revokedAt, null);
  assert.equal(await store.oauth.findArtifact('RefreshToken', 'id', 'rt-1', 0), undefined, 'its refresh token is gone');
  assert.equal(await store.log.logSize(), before + 1, 'one grant.revoked leaf');
  // A grant revoked already is not revoked (nor logged) again when its grantor leaves another home.
  await homes.addMember('flat-3', 'alice');
  await store.oauth.insertGrant(grant('g-both', ['flat-3', 'cottage']));
  await store.oauth.revokeGrant('g-both', START, 'revoked-by-homeowner');
  const again = await store.log.logSize();
  assert.deepEqual(await homes.removeMember('cottage', 'alice'), { revokedGrants: 1 });
  assert.equal((await store.oauth.getGrant('g-both'))?.revokedReason, 'revoked-by-homeowner');
  assert.equal(await store.log.logSize(), again + 1, 'only g-cottage is logged');
});

test('forgetting a home withdraws the grants on it, each logged as revoked (home-forgotten)', async () => {
  const { store, homes } = await setup();
  await homes.create('flat-3');
  await store.oauth.insertGrant({
    id: 'g-1',
    clientId: 'int_abcdefghijklmnop',
    account: 'alice',
    homes: ['flat-3'],
    scopes: ['devices:read'],
    salt: 's',
    createdAt: START,
    revokedAt: null,
    revokedReason: null,
  });
  const before = await store.log.logSize();
  assert.equal((await homes.forget('flat-3')).grants, 1);
  assert.equal(await store.oauth.getGrant('g-1'), undefined);
  assert.equal(await store.log.logSize(), before + 1);
  const [leaf] = await store.log.getLogLeaves(before, before + 1);
  assert.deepEqual(JSON.parse(Buffer.from(leaf as Uint8Array).toString()), {
    v: 1,
    kind: 'grant.revoked',
    time: START.toISOString(),
    grant: 'g-1',
    reason: 'home-forgotten',
  });
});

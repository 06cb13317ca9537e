/**
 * Homeowner sessions over a real SQLite store: a session's principal reads the account's homes at
 * each request (a removed member loses the home at once), the id rotates at sign-in, sessions end
 * when idle, at their absolute limit, on sign-out and when revoked, the CSRF token is bound to the
 * session, and only the SHA-256 of a session id is stored.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { csrfToken, secretHash } from '../../src/access/browser-secrets.js';
import { cookieValue, HomeownerSessions, SESSION_COOKIE } from '../../src/access/homeowner-sessions.js';
import { Homes } from '../../src/access/homes.js';
import { SignInRefusal } from '../../src/access/sign-in-refusal.js';
import { ManualClock } from '../../src/core/clock.js';
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
  const homes = new Homes(store, clock);
  for (const home of ['flat-3', 'cottage']) {
    await homes.create(home);
    await homes.addMember(home, 'ann');
  }
  return { store, clock, homes, sessions: new HomeownerSessions(store, clock) };
}

const carrying = (cookie: string, headers: Record<string, string> = {}) => ({ headers: { cookie, ...headers } });

test('a session signs its account in as a homeowner of its homes, read at each request', async () => {
  const { store, homes, sessions } = await setup();
  const started = await sessions.start('ann');
  assert.match(started.cookie, /^__Host-hearth_session=[A-Za-z0-9_-]{43}$/);
  assert.match(started.setCookie, /^__Host-hearth_session=[A-Za-z0-9_-]{43}; Max-Age=604800; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
  const request = carrying(`other=1; ${started.cookie}; more=2`);
  assert.equal(await sessions.accountOf(request), 'ann');
  assert.deepEqual(await sessions.sessionPrincipal(request), { id: 'account:ann', role: 'homeowner', homes: ['cottage', 'flat-3'] });
  await homes.removeMember('cottage', 'ann');
  assert.deepEqual((await sessions.sessionPrincipal(request))?.homes, ['flat-3'], 'a removed member loses the home at the next request');
  await homes.forget('flat-3');
  assert.deepEqual((await sessions.sessionPrincipal(request))?.homes, [], 'a member of no home is confined to nothing');
  // The store holds the hash only.
  const id = cookieValue(started.cookie, SESSION_COOKIE) as string;
  assert.ok(await store.accounts.getSession(secretHash(id)));
  assert.equal(await store.accounts.getSession(id), undefined);
});

test('unknown, malformed and missing cookies are no session', async () => {
  const { sessions } = await setup();
  for (const cookie of [
    '',
    'x=y',
    `${SESSION_COOKIE}=`,
    `${SESSION_COOKIE}=short`,
    `${SESSION_COOKIE}=${'A'.repeat(43)}`,
    `${SESSION_COOKIE}=${'A'.repeat(44)}`,
  ])
    assert.equal(await sessions.accountOf(carrying(cookie)), undefined, cookie);
  assert.equal(await sessions.accountOf({ headers: {} }), undefined);
  // The cookie's value is a session id only when it is exactly one: no more, no less, nothing around it.
  const id = 'A'.repeat(43);
  assert.equal(cookieValue(`${SESSION_COOKIE}=${id}`, SESSION_COOKIE), id);
  assert.equal(cookieValue(`a=b; ${SESSION_COOKIE}=${id}`, SESSION_COOKIE), id);
  for (const value of [`x${id}`, `${id}x`, 'short', `${id.slice(1)}+`])
    assert.equal(cookieValue(`${SESSION_COOKIE}=${value}`, SESSION_COOKIE), undefined, value);
});

test('signing in rotates the id: the session the browser carried before ends', async () => {
  const { sessions } = await setup();
  const before = await sessions.start('ann');
  const after = await sessions.start('ann', 'passkey', carrying(before.cookie));
  assert.notEqual(after.cookie, before.cookie);
  assert.equal(await sessions.accountOf(carrying(before.cookie)), undefined);
  assert.equal(await sessions.accountOf(carrying(after.cookie)), 'ann');
});

test('a session ends after 12 idle hours, and 7 days after sign-in however busy', async () => {
  const { clock, sessions } = await setup();
  const idle = await sessions.start('ann');
  const busy = await sessions.start('ann');
  clock.advance(12 * 3_600_000 - 1000);
  assert.equal(await sessions.accountOf(carrying(busy.cookie)), 'ann');
  clock.advance(1000);
  assert.equal(await sessions.accountOf(carrying(idle.cookie)), undefined, 'idle for 12 hours');
  for (let hour = 0; hour < 7 * 24 - 12; hour++) {
    clock.advance(3_600_000);
    if (clock.now().getTime() < START.getTime() + 7 * 86_400_000) assert.equal(await sessions.accountOf(carrying(busy.cookie)), 'ann', `hour ${hour}`);
  }
  assert.equal(await sessions.accountOf(carrying(busy.cookie)), undefined, '7 days after sign-in');
});

test('sign-out and revocation end sessions', async () => {
  const { sessions } = await setup();
  const one = await sessions.start('ann');
  const two = await sessions.start('ann');
  const three = await sessions.start('ann');
  assert.equal(await sessions.signOut(carrying(one.cookie)), true);
  assert.equal(await sessions.signOut(carrying(one.cookie)), false);
  assert.equal(await sessions.accountOf(carrying(one.cookie)), undefined);
  assert.equal(await sessions.accountOf(carrying(two.cookie)), 'ann');
  assert.equal(await sessions.revokeAll('ann'), 2);
  assert.equal(await sessions.accountOf(carrying(two.cookie)), undefined);
  assert.equal(await sessions.accountOf(carrying(three.cookie)), undefined);
});

test("the CSRF token is the session's own: another session's, none, or a guess is refused", async () => {
  const { sessions } = await setup();
  const mine = await sessions.start('ann');
  const theirs = await sessions.startSession('ann');
  const session = await sessions.current(carrying(mine.cookie));
  assert.ok(session);
  assert.equal(session.csrf, mine.csrf);
  assert.equal(mine.csrf, csrfToken(cookieValue(mine.cookie, SESSION_COOKIE) as string, 'session'));
  sessions.checkCsrf(session, carrying(mine.cookie, { 'x-hearth-csrf': mine.csrf }));
  for (const headers of [{} as Record<string, string>, { 'x-hearth-csrf': theirs.csrf }, { 'x-hearth-csrf': '' }, { 'x-hearth-csrf': mine.csrf.slice(1) }])
    assert.throws(
      () => sessions.checkCsrf(session, carrying(mine.cookie, headers)),
      (error: unknown) => error instanceof SignInRefusal && error.slug === 'csrf-mismatch' && error.status === 403 && error.account === 'ann',
    );
});

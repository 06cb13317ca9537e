/**
 * Homeowner passkeys over a real SQLite store, without a browser: a software authenticator
 * (`none` attestation, ES256 assertions) registers from an invitation and signs in with a
 * discoverable credential. The attacker's cases: a replayed challenge or response, an assertion
 * naming another account's user handle, a counter that goes back, another origin or RP ID, no
 * user verification, an expired, used or orphaned invitation, a reused recovery code.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { AccountInvitations } from '../../src/access/account-invitations.js';
import { AccountPasskeys } from '../../src/access/account-passkeys.js';
import { newSecret } from '../../src/access/browser-secrets.js';
import { Homes } from '../../src/access/homes.js';
import { PasskeyCeremonies } from '../../src/access/passkey-ceremonies.js';
import { RecoveryCodes } from '../../src/access/recovery-codes.js';
import { SignInRefusal } from '../../src/access/sign-in-refusal.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { SoftwareAuthenticator } from '../support/software-authenticator.js';

const START = new Date('2030-01-01T00:00:00.000Z');
const ORIGIN = 'https://hearth.home.arpa:8443';
const RP = { id: 'hearth.home.arpa', name: 'Hearth', origin: () => ORIGIN };
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const refused = (type: string) => (error: unknown) => {
  assert.ok(error instanceof SignInRefusal, `a SignInRefusal, not ${String(error)}`);
  assert.equal(error.slug, type, error.message);
  return true;
};

async function setup() {
  const store = await openStore({ url: ':memory:' });
  stores.push(store);
  const clock = new ManualClock(START);
  const homes = new Homes(store, clock);
  await homes.create('flat-3');
  await homes.addMember('flat-3', 'ann');
  await homes.addMember('flat-3', 'bob');
  const invitations = new AccountInvitations(store, clock, RP.origin);
  const ceremonies = new PasskeyCeremonies(store, clock, RP);
  return { store, clock, homes, invitations, ceremonies, recovery: new RecoveryCodes(store, clock), passkeys: new AccountPasskeys(store) };
}

/** Registers a passkey for `account` from a fresh invitation; returns the authenticator and the browser's ceremony secret. */
async function register(s: Awaited<ReturnType<typeof setup>>, account: string, authenticator = new SoftwareAuthenticator()) {
  const made = await s.invitations.create('flat-3', account, 'token:abcdefgh');
  const invitation = await s.invitations.open(made.token);
  const binding = newSecret();
  const options = await s.ceremonies.registrationOptions(binding, invitation.account, invitation.hash);
  const registered = await s.ceremonies.verifyRegistration(binding, await authenticator.create(options, { origin: ORIGIN }));
  return { authenticator, registered, made };
}

test('an invitation registers a discoverable, user-verifying passkey; it then signs the account in without a user name', async () => {
  const s = await setup();
  const made = await s.invitations.create('flat-3', 'ann', 'token:abcdefgh');
  assert.match(made.url, /^https:\/\/hearth\.home\.arpa:8443\/account\/register#hti_[A-Za-z0-9_-]{43}$/);
  assert.equal(made.expiresAt.getTime(), START.getTime() + 72 * 3_600_000);
  const binding = newSecret();
  const invitation = await s.invitations.open(made.token);
  const options = await s.ceremonies.registrationOptions(binding, 'ann', invitation.hash);
  assert.equal(options.rp.id, 'hearth.home.arpa');
  assert.equal(options.attestation, 'none');
  assert.deepEqual(options.authenticatorSelection, { residentKey: 'required', requireResidentKey: true, userVerification: 'required' });
  assert.equal(Buffer.from(options.user.id, 'base64url').length, 32, 'the user handle is 32 random bytes, not the account id');
  const authenticator = new SoftwareAuthenticator();
  const registered = await s.ceremonies.verifyRegistration(binding, await authenticator.create(options, { origin: ORIGIN }));
  assert.equal(registered.account, 'ann');
  assert.equal(registered.first, true);
  assert.equal(registered.passkey.aaguid, '01020304-0506-0708-090a-0b0c0d0e0f10');
  await assert.rejects(s.invitations.open(made.token), refused('invitation-used'));

  const signIn = newSecret();
  const request = await s.ceremonies.signInOptions(signIn);
  assert.equal(request.allowCredentials, undefined, 'discoverable: the browser is not told which credentials exist');
  assert.equal(request.userVerification, 'required');
  const outcome = await s.ceremonies.verifySignIn(signIn, await authenticator.get(request, { origin: ORIGIN }));
  assert.deepEqual(outcome, { account: 'ann', passkey: registered.passkey.id });
  const [stored] = await s.passkeys.list('ann');
  assert.equal(stored?.counter, 1);
  assert.deepEqual(stored?.lastUsedAt, START);
});

test('a challenge is answered once: the same response twice, or a response to an older challenge, is refused', async () => {
  const s = await setup();
  const { authenticator } = await register(s, 'ann');
  const binding = newSecret();
  const options = await s.ceremonies.signInOptions(binding);
  const response = await authenticator.get(options, { origin: ORIGIN });
  await s.ceremonies.verifySignIn(binding, response);
  await assert.rejects(s.ceremonies.verifySignIn(binding, response), refused('challenge-expired'));
  await s.ceremonies.signInOptions(binding);
  await assert.rejects(s.ceremonies.verifySignIn(binding, response), refused('challenge-mismatch'));
  // Another browser's challenge is not this browser's: the response answers nothing here.
  const other = newSecret();
  const theirs = await s.ceremonies.signInOptions(other);
  await assert.rejects(s.ceremonies.verifySignIn(newSecret(), await authenticator.get(theirs, { origin: ORIGIN })), refused('challenge-expired'));
});

test('a challenge lasts five minutes', async () => {
  const s = await setup();
  const { authenticator } = await register(s, 'ann');
  const binding = newSecret();
  const options = await s.ceremonies.signInOptions(binding);
  s.clock.advance(5 * 60_000);
  await assert.rejects(s.ceremonies.verifySignIn(binding, await authenticator.get(options, { origin: ORIGIN })), refused('challenge-expired'));
});

test("an assertion naming another account's user handle is refused", async () => {
  const s = await setup();
  const ann = await register(s, 'ann');
  const bob = await register(s, 'bob');
  const binding = newSecret();
  const options = await s.ceremonies.signInOptions(binding);
  const bobsHandle = bob.authenticator.credentials[0]?.userHandle as string;
  await assert.rejects(
    s.ceremonies.verifySignIn(binding, await ann.authenticator.get(options, { origin: ORIGIN, userHandle: bobsHandle })),
    (error: unknown) => refused('user-handle-mismatch')(error) && (error as SignInRefusal).account === 'ann',
  );
});

test('a counter that goes back (a cloned authenticator) is refused; a synced passkey that keeps 0 is not', async () => {
  const s = await setup();
  const { authenticator } = await register(s, 'ann');
  for (const counter of [5, 5, 3]) {
    const binding = newSecret();
    const options = await s.ceremonies.signInOptions(binding);
    const attempt = s.ceremonies.verifySignIn(binding, await authenticator.get(options, { origin: ORIGIN, counter }));
    if (counter === 5 && (await s.passkeys.list('ann'))[0]?.counter === 0) await attempt;
    else await assert.rejects(attempt, refused('counter-regression'));
  }
  const synced = await register(s, 'bob');
  for (let i = 0; i < 2; i++) {
    const binding = newSecret();
    const options = await s.ceremonies.signInOptions(binding);
    await s.ceremonies.verifySignIn(binding, await synced.authenticator.get(options, { origin: ORIGIN, counter: 0 }));
  }
});

test('a response made for another origin or RP ID, or without user verification, or of the wrong type, is refused', async () => {
  const s = await setup();
  const { authenticator } = await register(s, 'ann');
  const cases: [Parameters<SoftwareAuthenticator['get']>[1], string][] = [
    [{ origin: 'https://evil.example' }, 'origin-mismatch'],
    [{ origin: 'https://hearth.home.arpa:8444' }, 'origin-mismatch'],
    [{ origin: ORIGIN, rpId: 'evil.example' }, 'rp-id-mismatch'],
    [{ origin: ORIGIN, userVerified: false }, 'user-verification-required'],
    [{ origin: ORIGIN, type: 'webauthn.create' }, 'passkey-response-invalid'],
  ];
  for (const [knobs, type] of cases) {
    const binding = newSecret();
    const options = await s.ceremonies.signInOptions(binding);
    await assert.rejects(s.ceremonies.verifySignIn(binding, await authenticator.get(options, knobs)), refused(type), type);
  }
  // Registration checks the same.
  const invitation = await s.invitations.open((await s.invitations.create('flat-3', 'bob', 'token:abcdefgh')).token);
  for (const [knobs, type] of [
    [{ origin: 'https://evil.example' }, 'origin-mismatch'],
    [{ origin: ORIGIN, rpId: 'evil.example' }, 'rp-id-mismatch'],
    [{ origin: ORIGIN, userVerified: false }, 'user-verification-required'],
  ] as const) {
    const binding = newSecret();
    const options = await s.ceremonies.registrationOptions(binding, 'bob', invitation.hash);
    await assert.rejects(s.ceremonies.verifyRegistration(binding, await new SoftwareAuthenticator().create(options, knobs)), refused(type), type);
  }
  assert.deepEqual(await s.passkeys.list('bob'), [], 'nothing was registered');
});

test('an unknown passkey is not recognised', async () => {
  const s = await setup();
  await register(s, 'ann');
  const stranger = new SoftwareAuthenticator();
  await stranger.create(await s.ceremonies.registrationOptions(newSecret(), 'bob'), { origin: ORIGIN });
  const binding = newSecret();
  const options = await s.ceremonies.signInOptions(binding);
  await assert.rejects(s.ceremonies.verifySignIn(binding, await stranger.get(options, { origin: ORIGIN })), refused('passkey-not-recognised'));
});

test('invitations: for members only, expire after 72 hours, are used once, and die with the membership', async () => {
  const s = await setup();
  await s.homes.create('cottage');
  await assert.rejects(s.invitations.create('cottage', 'ann', 'token:x'), /not a member/);
  await assert.rejects(s.invitations.create('nowhere', 'ann', 'token:x'), /no home/);
  const expiring = await s.invitations.create('flat-3', 'ann', 'token:x');
  s.clock.advance(72 * 3_600_000);
  await assert.rejects(s.invitations.open(expiring.token), refused('invitation-expired'));
  const orphaned = await s.invitations.create('flat-3', 'bob', 'token:x');
  await s.homes.removeMember('flat-3', 'bob');
  await assert.rejects(s.invitations.open(orphaned.token), refused('invitation-expired'));
  for (const token of ['hti_short', `hti_${'A'.repeat(43)}`, 42]) await assert.rejects(s.invitations.open(token), refused('invitation-unknown'));
  // Two registrations racing on one invitation: the second is refused and registers nothing.
  const made = await s.invitations.create('flat-3', 'ann', 'token:x');
  const invitation = await s.invitations.open(made.token);
  const [one, two] = [newSecret(), newSecret()];
  const optionsOne = await s.ceremonies.registrationOptions(one, 'ann', invitation.hash);
  const optionsTwo = await s.ceremonies.registrationOptions(two, 'ann', invitation.hash);
  await s.ceremonies.verifyRegistration(one, await new SoftwareAuthenticator().create(optionsOne, { origin: ORIGIN }));
  await assert.rejects(
    s.ceremonies.verifyRegistration(two, await new SoftwareAuthenticator().create(optionsTwo, { origin: ORIGIN })),
    refused('invitation-used'),
  );
  assert.equal((await s.passkeys.list('ann')).length, 1);
});

test('recovery codes: ten, shown once, each signs in once, only for its account; new ones retire the old', async () => {
  const s = await setup();
  const codes = await s.recovery.issue('ann');
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const code of codes) assert.match(code, /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
  const code = codes[0] as string;
  await assert.rejects(s.recovery.redeem('bob', code), refused('recovery-code-invalid'));
  await s.recovery.redeem('ann', ` ${code.toUpperCase().replace(/-/g, ' ')} `);
  await assert.rejects(s.recovery.redeem('ann', code), refused('recovery-code-invalid'));
  assert.equal(await s.recovery.remaining('ann'), 9);
  for (const junk of ['', 'x', 42, undefined]) await assert.rejects(s.recovery.redeem('ann', junk), refused('recovery-code-invalid'));
  await s.recovery.issue('ann');
  await assert.rejects(s.recovery.redeem('ann', codes[1]), refused('recovery-code-invalid'));
});

test('an account holds several passkeys; another is registered while signed in, listed, and removed but never the last', async () => {
  const s = await setup();
  const { authenticator, registered } = await register(s, 'ann');
  s.clock.advance(1000);
  const binding = newSecret();
  const options = await s.ceremonies.registrationOptions(binding, 'ann');
  assert.deepEqual(
    options.excludeCredentials?.map((c) => c.id),
    [registered.passkey.id],
    'the authenticator is told not to make a second passkey for a credential it holds',
  );
  const second = await s.ceremonies.verifyRegistration(binding, await authenticator.create(options, { origin: ORIGIN }));
  assert.equal(second.first, false);
  assert.equal(second.invitation, null);
  const listed = await s.passkeys.list('ann');
  assert.deepEqual(
    listed.map((p) => p.id),
    [registered.passkey.id, second.passkey.id],
  );
  assert.equal('publicKey' in (listed[0] as object), false);
  await assert.rejects(s.passkeys.remove('bob', registered.passkey.id), /no such passkey/);
  await s.passkeys.remove('ann', registered.passkey.id);
  await assert.rejects(s.passkeys.remove('ann', second.passkey.id), refused('last-passkey'));
  // The removed passkey no longer signs in.
  const signIn = newSecret();
  const request = await s.ceremonies.signInOptions(signIn);
  await assert.rejects(
    s.ceremonies.verifySignIn(signIn, await authenticator.get(request, { origin: ORIGIN, credential: authenticator.credentials[0] })),
    refused('passkey-not-recognised'),
  );
});

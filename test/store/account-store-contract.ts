/**
 * The homeowner sign-in store in the store contract, on SQLite and PostgreSQL alike: user handles
 * are kept once and unique, passkeys round-trip and count their uses by compare-and-set, sessions,
 * invitations and recovery codes are single-use where they must be, and a ceremony's challenge is
 * taken once. Tests share one database, so each uses its own random names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { UniqueViolationError } from '../../src/core/errors.js';
import type { PasskeyRecord } from '../../src/store/account-store.js';
import type { Store } from '../../src/store/store.js';
import type { StoreFactory } from './store-contract.js';

const AT = new Date('2030-03-01T00:00:00.250Z');
const later = (ms: number) => new Date(AT.getTime() + ms);
const suffix = () => randomBytes(5).toString('hex');
const hash = () => randomBytes(32).toString('hex');

function passkey(account: string, overrides: Partial<PasskeyRecord> = {}): PasskeyRecord {
  return {
    id: randomBytes(16).toString('base64url'),
    account,
    publicKey: new Uint8Array(randomBytes(77)),
    counter: 0,
    transports: ['internal', 'hybrid'],
    deviceType: 'multiDevice',
    backedUp: true,
    aaguid: '01020304-0506-0708-0102-030405060708',
    createdAt: AT,
    lastUsedAt: null,
    ...overrides,
  };
}

export function registerAccountStoreContract(label: string, factory: StoreFactory): void {
  describe(`Account store contract: ${label}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    test("an account's user handle is kept once; another account may not take the same handle", async () => {
      const account = `a-${suffix()}`;
      assert.equal(await store.accounts.getUserHandle(account), undefined);
      const first = new Uint8Array(randomBytes(32));
      assert.deepEqual(await store.accounts.ensureUserHandle(account, first), first);
      assert.deepEqual(await store.accounts.ensureUserHandle(account, new Uint8Array(randomBytes(32))), first, 'the first handle stays');
      assert.deepEqual(await store.accounts.getUserHandle(account), first);
      await assert.rejects(store.accounts.ensureUserHandle(`b-${suffix()}`, first));
    });

    test('passkeys read back as written, list per account, count uses by compare-and-set and are removed by their account only', async () => {
      const account = `a-${suffix()}`;
      const other = `o-${suffix()}`;
      const one = passkey(account, { createdAt: AT });
      const two = passkey(account, { createdAt: later(1000), backedUp: false, deviceType: 'singleDevice', transports: [], counter: 7 });
      await store.accounts.insertPasskey(one);
      await store.accounts.insertPasskey(two);
      await store.accounts.insertPasskey(passkey(other));
      await assert.rejects(store.accounts.insertPasskey({ ...one, account: other }), UniqueViolationError);
      assert.deepEqual(await store.accounts.getPasskey(one.id), one);
      assert.deepEqual(await store.accounts.listPasskeys(account), [one, two]);
      assert.equal(await store.accounts.getPasskey('nope'), undefined);

      assert.equal(await store.accounts.recordPasskeyUse(two.id, 7, 8, later(5000)), true);
      assert.equal(await store.accounts.recordPasskeyUse(two.id, 7, 9, later(6000)), false, 'the counter moved: a second use of the same count loses');
      assert.deepEqual(await store.accounts.getPasskey(two.id), { ...two, counter: 8, lastUsedAt: later(5000) });
      // Synced passkeys report 0 forever: 0 → 0 is a use like any other.
      assert.equal(await store.accounts.recordPasskeyUse(one.id, 0, 0, later(7000)), true);

      assert.equal(await store.accounts.deletePasskey(other, one.id), false, "another account cannot remove this account's passkey");
      assert.equal(await store.accounts.deletePasskey(account, one.id), true);
      assert.equal(await store.accounts.deletePasskey(account, one.id), false);
      assert.deepEqual(
        (await store.accounts.listPasskeys(account)).map((p) => p.id),
        [two.id],
      );
    });

    test('sessions read back, are touched, deleted one by one or all of an account, and purged once expired', async () => {
      const account = `a-${suffix()}`;
      const session = { idHash: hash(), account, via: 'passkey', createdAt: AT, expiresAt: later(86_400_000), lastSeenAt: AT };
      const second = { ...session, idHash: hash(), via: 'recovery' };
      const expired = { ...session, idHash: hash(), expiresAt: later(1000) };
      for (const s of [session, second, expired]) await store.accounts.insertSession(s);
      assert.deepEqual(await store.accounts.getSession(session.idHash), session);
      await store.accounts.touchSession(session.idHash, later(60_000));
      assert.deepEqual((await store.accounts.getSession(session.idHash))?.lastSeenAt, later(60_000));
      await store.accounts.purgeExpired(later(2000));
      assert.equal(await store.accounts.getSession(expired.idHash), undefined);
      assert.equal(await store.accounts.deleteSession(session.idHash), true);
      assert.equal(await store.accounts.deleteSession(session.idHash), false);
      assert.equal(await store.accounts.getSession(session.idHash), undefined);
      assert.equal(await store.accounts.deleteSessionsOfAccount(account), 1);
      assert.equal(await store.accounts.getSession(second.idHash), undefined);
    });

    test('an invitation is used once', async () => {
      const invitation = {
        hash: hash(),
        account: `a-${suffix()}`,
        home: `h-${suffix()}`,
        createdBy: 'token:abcdefgh',
        createdAt: AT,
        expiresAt: later(3_600_000),
        usedAt: null,
      };
      await store.accounts.insertInvitation(invitation);
      assert.deepEqual(await store.accounts.getInvitation(invitation.hash), invitation);
      const uses = await Promise.all([store.accounts.useInvitation(invitation.hash, later(10)), store.accounts.useInvitation(invitation.hash, later(20))]);
      assert.deepEqual(uses.sort(), [false, true], 'two concurrent uses: one wins');
      assert.ok((await store.accounts.getInvitation(invitation.hash))?.usedAt);
      assert.equal(await store.accounts.useInvitation(hash(), AT), false);
    });

    test('recovery codes are single use, belong to their account, and replacing them retires the old ones', async () => {
      const account = `a-${suffix()}`;
      const codes = Array.from({ length: 10 }, hash);
      await store.accounts.replaceRecoveryCodes(account, codes, AT);
      assert.equal(await store.accounts.countRecoveryCodes(account), 10);
      assert.equal(await store.accounts.useRecoveryCode(`o-${suffix()}`, codes[0] as string, AT), false, "another account's code");
      assert.equal(await store.accounts.useRecoveryCode(account, codes[0] as string, AT), true);
      assert.equal(await store.accounts.useRecoveryCode(account, codes[0] as string, AT), false, 'used already');
      assert.equal(await store.accounts.countRecoveryCodes(account), 9);
      const fresh = Array.from({ length: 10 }, hash);
      await store.accounts.replaceRecoveryCodes(account, fresh, later(1000));
      assert.equal(await store.accounts.useRecoveryCode(account, codes[1] as string, AT), false, 'the old codes stopped working');
      assert.equal(await store.accounts.countRecoveryCodes(account), 10);
    });

    test("a ceremony's challenge is taken once; a new one under the same id replaces it; expired ones are purged", async () => {
      const id = hash();
      const ceremony = { id, kind: 'sign-in' as const, challenge: 'c1', account: null, invitation: null, createdAt: AT, expiresAt: later(300_000) };
      await store.accounts.putCeremony(ceremony);
      await store.accounts.putCeremony({ ...ceremony, kind: 'register', challenge: 'c2', account: 'ann', invitation: 'inv' });
      const taken = await Promise.all([store.accounts.takeCeremony(id), store.accounts.takeCeremony(id)]);
      assert.deepEqual(
        taken.filter((t) => t !== undefined),
        [{ ...ceremony, kind: 'register', challenge: 'c2', account: 'ann', invitation: 'inv' }],
      );
      const stale = { ...ceremony, id: hash(), expiresAt: later(10) };
      await store.accounts.putCeremony(stale);
      await store.accounts.purgeExpired(later(10));
      assert.equal(await store.accounts.takeCeremony(stale.id), undefined);
    });
  });
}

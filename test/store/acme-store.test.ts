/**
 * ACME nonces and accounts in the store, on SQLite and PostgreSQL: a nonce is redeemed once and
 * never after it expires, even by two stores (two processes) racing for it; an account key holds
 * one account and moves only from the key it replaces; orders are found by certificate and by
 * account, authorizations by account and name.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UniqueViolationError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeOrderRecord, Store } from '../../src/store/store.js';
import { POSTGRES_URL, dropPostgresSchemas, needsPostgres } from '../support/environment.js';
import { pendingCertificate } from './store-contract.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const later = (ms: number) => new Date(NOW.getTime() + ms);

function account(overrides: Partial<AcmeAccountRecord> = {}): AcmeAccountRecord {
  return {
    id: randomBytes(9).toString('base64url'),
    thumbprint: randomBytes(32).toString('base64url'),
    jwk: { kty: 'EC', crv: 'P-256', x: randomBytes(32).toString('base64url'), y: randomBytes(32).toString('base64url') },
    status: 'valid',
    contact: ['mailto:ops@example.com'],
    termsAgreed: true,
    createdAt: NOW,
    policy: null,
    ...overrides,
  };
}

function registerAcmeStoreContract(name: string, openPair: () => Promise<[Store, Store]>): void {
  describe(`ACME store contract: ${name}`, () => {
    const opened: Store[] = [];
    const pair = async () => {
      const stores = await openPair();
      opened.push(...stores);
      return stores;
    };
    after(async () => {
      for (const store of opened) await store.close();
    });

    test('a nonce is redeemed once, not after it expires, and expired ones are purged', async () => {
      const [store] = await pair();
      const consume = async (nonce: string, now: Date) => (await store.acme.consumeAcmeNonces([nonce], now)).has(nonce);
      await store.acme.insertAcmeNonces(['n1', 'n2'], later(1000));
      assert.equal(await consume('n1', NOW), true);
      assert.equal(await consume('n1', NOW), false, 'used');
      assert.equal(await consume('unknown', NOW), false, 'never issued');
      assert.equal(await consume('n2', later(1000)), false, 'expired at its expiry time');
      await store.acme.insertAcmeNonces(['n3'], later(10));
      await store.acme.insertAcmeNonces(['n4'], later(5000));
      assert.equal(await store.acme.deleteExpiredAcmeNonces(later(1000)), 2, 'n2 and n3 expired');
      assert.equal(await consume('n4', later(1000)), true);
      await store.acme.insertAcmeNonces(['m1', 'm2', 'm3'], later(1000));
      assert.deepEqual([...(await store.acme.consumeAcmeNonces(['m1', 'm3', 'm3', 'nope'], NOW))].sort(), ['m1', 'm3'], 'many at once');
      assert.deepEqual([...(await store.acme.consumeAcmeNonces([], NOW))], []);
    });

    test('two stores racing for one nonce: exactly one redeems it', async () => {
      const [a, b] = await pair();
      const nonces = Array.from({ length: 20 }, () => randomBytes(16).toString('base64url'));
      await a.acme.insertAcmeNonces(nonces, later(60_000));
      const results = await Promise.all(
        nonces.flatMap((nonce) => [a.acme.consumeAcmeNonces([nonce], NOW), b.acme.consumeAcmeNonces(nonces.slice(0, 10).concat(nonce), NOW)]),
      );
      for (let i = 0; i < nonces.length; i++) {
        const nonce = nonces[i] as string;
        const winners = results.filter((set) => set.has(nonce)).length;
        assert.equal(winners, 1, `nonce ${i} redeemed exactly once`);
      }
    });

    test('accounts: found by id and key thumbprint, one per key, updated in place', async () => {
      const [store, other] = await pair();
      const first = account();
      await store.acme.insertAcmeAccount(first);
      assert.deepStrictEqual(await other.acme.getAcmeAccount(first.id), first, 'another process sees it');
      assert.deepStrictEqual(await store.acme.findAcmeAccountByThumbprint(first.thumbprint), first);
      await assert.rejects(store.acme.insertAcmeAccount(account({ thumbprint: first.thumbprint })), UniqueViolationError);
      assert.equal(await store.acme.getAcmeAccount('nope'), undefined);
      const updated = await store.acme.updateAcmeAccount(first.id, { contact: ['mailto:new@example.com'] });
      assert.deepEqual(updated?.contact, ['mailto:new@example.com']);
      assert.equal(updated?.status, 'valid');
      assert.equal((await store.acme.updateAcmeAccount(first.id, { status: 'deactivated' }))?.status, 'deactivated');
      assert.equal(await store.acme.updateAcmeAccount('nope', { status: 'deactivated' }), undefined);
    });

    test('key change: only from the current key, never onto a key another account holds; racing changes, one wins', async () => {
      const [store, other] = await pair();
      const mine = account();
      const theirs = account();
      await store.acme.insertAcmeAccount(mine);
      await store.acme.insertAcmeAccount(theirs);
      const next = { jwk: { kty: 'OKP', crv: 'Ed25519', x: randomBytes(32).toString('base64url') }, thumbprint: randomBytes(32).toString('base64url') };
      await assert.rejects(store.acme.changeAcmeAccountKey(mine.id, mine.thumbprint, { jwk: theirs.jwk, thumbprint: theirs.thumbprint }), UniqueViolationError);
      assert.equal(await store.acme.changeAcmeAccountKey(mine.id, 'stale', next), false, 'not from a key it no longer has');
      assert.deepStrictEqual(await store.acme.getAcmeAccount(mine.id), mine, 'refusals change nothing');
      const racers = [0, 1].map(() => ({ jwk: next.jwk, thumbprint: randomBytes(32).toString('base64url') }));
      const results = await Promise.all([
        store.acme.changeAcmeAccountKey(mine.id, mine.thumbprint, racers[0]!),
        other.acme.changeAcmeAccountKey(mine.id, mine.thumbprint, racers[1]!),
      ]);
      assert.equal(results.filter(Boolean).length, 1, 'exactly one of two racing changes wins');
      const winner = racers[results.indexOf(true)]!;
      assert.equal((await other.acme.findAcmeAccountByThumbprint(winner.thumbprint))?.id, mine.id);
      assert.equal(await store.acme.findAcmeAccountByThumbprint(mine.thumbprint), undefined, 'the old key finds nothing');
    });

    test('renewal windows: set for live certificates chosen by serial or by CA and age, never for pending, revoked or expired ones', async () => {
      const [store, other] = await pair();
      const make = async (overrides: Parameters<typeof pendingCertificate>[0], state: 'pending' | 'issued' | 'revoked') => {
        const cert = pendingCertificate({ notBefore: NOW, notAfter: later(86_400_000), ...overrides });
        await store.certificates.insertPendingCertificate(cert);
        if (state !== 'pending') await store.certificates.markCertificateIssued(cert.serial, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]));
        if (state === 'revoked') await store.certificates.revokeCertificate(cert.serial, 1, NOW);
        return cert.serial;
      };
      const ca = `ca-${randomBytes(4).toString('hex')}`;
      const old = await make({ ca, notBefore: later(-86_400_000) }, 'issued');
      const young = await make({ ca, notBefore: later(1000) }, 'issued');
      const pending = await make({ ca }, 'pending');
      const revoked = await make({ ca }, 'revoked');
      const expired = await make({ ca, notBefore: later(-2 * 86_400_000), notAfter: later(-1) }, 'issued');
      const elsewhere = await make({}, 'issued');
      const window = { start: NOW, end: later(3_600_000), explanationUrl: 'https://status.example.com/incident' };

      assert.equal(
        await store.certificates.setRenewalWindows({ serials: [old, pending, revoked, expired, 'abcdef', old] }, window, NOW),
        1,
        'only the live certificate, once',
      );
      assert.deepStrictEqual(await other.certificates.getRenewalWindow(old), window);
      for (const serial of [pending, revoked, expired, young, elsewhere]) assert.equal(await other.certificates.getRenewalWindow(serial), undefined, serial);

      const sooner = { start: later(60_000), end: later(120_000), explanationUrl: null };
      assert.equal(await store.certificates.setRenewalWindows({ ca, issuedBefore: NOW }, sooner, NOW), 1, 'issued before NOW: the old one');
      assert.deepStrictEqual(await other.certificates.getRenewalWindow(old), sooner, 'a later setting replaces an earlier one');
      assert.equal(await store.certificates.setRenewalWindows({ ca }, sooner, NOW), 2, 'the whole CA: old and young');
      assert.deepStrictEqual(await other.certificates.getRenewalWindow(young), sooner);
      assert.equal(await other.certificates.getRenewalWindow(elsewhere), undefined, 'another CA untouched');
      const many = Array.from({ length: 2500 }, () => randomBytes(16).toString('hex'));
      assert.equal(await store.certificates.setRenewalWindows({ serials: [...many, young] }, window, NOW), 1, 'long lists go in chunks');
    });

    test('an external account binding key binds one account, also when two stores race; rate counters count every hit once', async () => {
      const [store, other] = await pair();
      const key = { kid: `eab_${randomBytes(6).toString('hex')}`, policy: 'gateways', createdAt: NOW, accountId: null, boundAt: null };
      await store.acme.insertAcmeEabKey(key);
      await assert.rejects(other.acme.insertAcmeEabKey(key), UniqueViolationError);
      assert.deepStrictEqual(await other.acme.getAcmeEabKey(key.kid), key);
      assert.equal(await other.acme.getAcmeEabKey('eab_unknown'), undefined);
      const bound = await Promise.all([store.acme.bindAcmeEabKey(key.kid, 'acct-a', later(1)), other.acme.bindAcmeEabKey(key.kid, 'acct-b', later(2))]);
      assert.equal(bound.filter(Boolean).length, 1, 'exactly one account binds it');
      const after = await store.acme.getAcmeEabKey(key.kid);
      assert.equal(after?.accountId, bound[0] ? 'acct-a' : 'acct-b');
      assert.ok(after?.boundAt, 'bound at a time');
      assert.equal(await other.acme.deleteAcmeEabKey(key.kid), 'bound');
      assert.equal(await other.acme.deleteAcmeEabKey('eab_unknown'), 'unknown');
      const spare = { ...key, kid: `eab_${randomBytes(6).toString('hex')}` };
      await store.acme.insertAcmeEabKey(spare);
      assert.equal(await other.acme.deleteAcmeEabKey(spare.kid), 'deleted');
      assert.equal(await store.acme.getAcmeEabKey(spare.kid), undefined);
      assert.equal(await store.acme.bindAcmeEabKey('eab_unknown', 'acct-c', NOW), false);

      const window = later(0);
      const purge = later(-3_600_000);
      const hits = await Promise.all(
        Array.from({ length: 20 }, (_, n) => (n % 2 ? store : other).acme.hitRateCounters(['orders:x', 'orders:ip'], window, purge)),
      );
      for (const key of ['orders:x', 'orders:ip']) {
        assert.deepEqual(
          hits.map((m) => m.get(key)).sort((a, b) => (a as number) - (b as number)),
          Array.from({ length: 20 }, (_, n) => n + 1),
          `each hit sees its own count of ${key}`,
        );
      }
      assert.deepEqual(
        await other.acme.readRateCounters(['orders:x', 'never'], window),
        new Map([
          ['orders:x', 20],
          ['never', 0],
        ]),
      );
      assert.deepEqual(await other.acme.readRateCounters(['orders:x'], later(3_600_000)), new Map([['orders:x', 0]]), 'a new window starts at zero');
      assert.deepEqual(await store.acme.hitRateCounters(['orders:y', 'orders:y'], window, purge), new Map([['orders:y', 1]]), 'a key named twice counts once');
      assert.deepEqual(await store.acme.hitRateCounters([], window, purge), new Map());
    });

    test('orders by certificate and by account; authorized identifiers are the valid, unexpired ones', async () => {
      const [store, other] = await pair();
      const owner = account();
      await store.acme.insertAcmeAccount(owner);
      const authz = (value: string, status: AcmeAuthorizationRecord['status'], expiresAt: Date): AcmeAuthorizationRecord => ({
        id: randomBytes(9).toString('base64url'),
        accountId: owner.id,
        identifier: { type: 'dns', value },
        status,
        expiresAt,
        challenges: [],
        createdAt: NOW,
      });
      const orders: AcmeOrderRecord[] = [];
      const cases: Array<[string, AcmeAuthorizationRecord['status'], Date]> = [
        ['a.hearth.test', 'valid', later(60_000)],
        ['b.hearth.test', 'valid', NOW],
        ['c.hearth.test', 'invalid', later(60_000)],
        ['d.hearth.test', 'pending', later(60_000)],
      ];
      for (const [n, [value, status, expiresAt]] of cases.entries()) {
        const authorization = authz(value, status, expiresAt);
        const order: AcmeOrderRecord = {
          id: `order-${n}-${randomBytes(4).toString('hex')}`,
          accountId: owner.id,
          status: 'pending',
          identifiers: [authorization.identifier],
          authorizationIds: [authorization.id],
          expiresAt,
          certificateSerial: null,
          error: null,
          createdAt: later(n),
          replaces: null,
        };
        orders.push(order);
        await store.transaction((tx) => tx.acme.insertAcmeOrder(order, [authorization]));
      }
      assert.deepEqual(
        await other.acme.listAuthorizedIdentifiers(owner.id, ['a.hearth.test', 'b.hearth.test', 'c.hearth.test', 'd.hearth.test', 'e.hearth.test'], NOW),
        ['a.hearth.test'],
      );
      // An authorization changes only from the status the writer read: invalid stays invalid.
      const invalid = (await other.acme.getAcmeAuthorization(orders[2]!.authorizationIds[0]!)) as AcmeAuthorizationRecord;
      assert.equal(await store.acme.saveAcmeAuthorization({ ...invalid, status: 'valid' }, 'pending'), false);
      assert.equal((await other.acme.getAcmeAuthorization(invalid.id))?.status, 'invalid');
      const pending = (await other.acme.getAcmeAuthorization(orders[3]!.authorizationIds[0]!)) as AcmeAuthorizationRecord;
      const raced = await Promise.all([
        store.acme.saveAcmeAuthorization({ ...pending, status: 'valid' }, 'pending'),
        other.acme.saveAcmeAuthorization({ ...pending, status: 'invalid' }, 'pending'),
      ]);
      assert.equal(raced.filter(Boolean).length, 1, 'of two racing outcomes exactly one is written');
      assert.deepEqual(await other.acme.listAuthorizedIdentifiers('someone-else', ['a.hearth.test'], NOW), []);
      assert.deepEqual(await other.acme.listAuthorizedIdentifiers(owner.id, [], NOW), []);
      assert.deepEqual(await other.acme.listAcmeOrderIds(owner.id, 10), orders.map((o) => o.id).reverse(), 'newest first');
      assert.deepEqual(await other.acme.listAcmeOrderIds(owner.id, 2), [orders[3]!.id, orders[2]!.id]);
      const serial = randomBytes(16).toString('hex');
      assert.equal(await store.acme.updateAcmeOrder(orders[0]!.id, 'pending', { status: 'valid', certificateSerial: serial }), true);
      assert.equal((await other.acme.findAcmeOrderByCertificate(serial))?.id, orders[0]!.id);
      assert.equal(await other.acme.findAcmeOrderByCertificate('00'), undefined);
    });
  });
}

const skip = await needsPostgres();
const dir = mkdtempSync(join(tmpdir(), 'hearth-acme-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
registerAcmeStoreContract('SQLite file', async () => {
  const path = join(dir, `acme-${files++}.db`);
  const first = await openStore({ url: `sqlite:${path}` });
  return [first, await openStore({ url: `sqlite:${path}` })];
});

if (skip === undefined) {
  const schemas: string[] = [];
  registerAcmeStoreContract('PostgreSQL', async () => {
    const schema = `hearth_acme_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const first = await openStore({ url: POSTGRES_URL, schema });
    return [first, await openStore({ url: POSTGRES_URL, schema })];
  });
  after(async () => {
    await dropPostgresSchemas(schemas);
  });
} else {
  test('ACME store contract: PostgreSQL', { skip }, () => {});
}

/**
 * ACME nonces and accounts in the store, on SQLite and PostgreSQL: a nonce is redeemed once and
 * never after it expires, even by two stores (two processes) racing for it; an account key holds
 * one account.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UniqueViolationError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { AcmeAccountRecord, Store } from '../../src/store/store.js';
import { POSTGRES_URL, dropPostgresSchemas, needsPostgres } from '../support/environment.js';

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
      await store.insertAcmeNonce('n1', later(1000));
      await store.insertAcmeNonce('n2', later(1000));
      assert.equal(await store.consumeAcmeNonce('n1', NOW), true);
      assert.equal(await store.consumeAcmeNonce('n1', NOW), false, 'used');
      assert.equal(await store.consumeAcmeNonce('unknown', NOW), false, 'never issued');
      assert.equal(await store.consumeAcmeNonce('n2', later(1000)), false, 'expired at its expiry time');
      await store.insertAcmeNonce('n3', later(10));
      await store.insertAcmeNonce('n4', later(5000));
      assert.equal(await store.deleteExpiredAcmeNonces(later(1000)), 2, 'n2 and n3 expired');
      assert.equal(await store.consumeAcmeNonce('n4', later(1000)), true);
    });

    test('two stores racing for one nonce: exactly one redeems it', async () => {
      const [a, b] = await pair();
      const nonces = Array.from({ length: 20 }, () => randomBytes(16).toString('base64url'));
      for (const nonce of nonces) await a.insertAcmeNonce(nonce, later(60_000));
      const results = await Promise.all(nonces.flatMap((nonce) => [a.consumeAcmeNonce(nonce, NOW), b.consumeAcmeNonce(nonce, NOW)]));
      for (let i = 0; i < nonces.length; i++) assert.equal(Number(results[2 * i]) + Number(results[2 * i + 1]), 1, `nonce ${i} redeemed exactly once`);
    });

    test('accounts: found by id and key thumbprint, one per key, updated in place', async () => {
      const [store, other] = await pair();
      const first = account();
      await store.insertAcmeAccount(first);
      assert.deepStrictEqual(await other.getAcmeAccount(first.id), first, 'another process sees it');
      assert.deepStrictEqual(await store.findAcmeAccountByThumbprint(first.thumbprint), first);
      await assert.rejects(store.insertAcmeAccount(account({ thumbprint: first.thumbprint })), UniqueViolationError);
      assert.equal(await store.getAcmeAccount('nope'), undefined);
      const updated = await store.updateAcmeAccount(first.id, { contact: ['mailto:new@example.com'] });
      assert.deepEqual(updated?.contact, ['mailto:new@example.com']);
      assert.equal(updated?.status, 'valid');
      assert.equal((await store.updateAcmeAccount(first.id, { status: 'deactivated' }))?.status, 'deactivated');
      assert.equal(await store.updateAcmeAccount('nope', { status: 'deactivated' }), undefined);
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

/**
 * The OAuth part of the store contract, on SQLite and PostgreSQL alike: the authorization
 * server's artifacts (found only while unexpired, consumed once, gone with their grant),
 * integrations, and grants listed by home in the query — a home whose id differs only where LIKE
 * would not notice (`_`, case) is not another's — and forgotten with their home.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { UniqueViolationError } from '../../src/core/errors.js';
import type { OauthGrantRecord } from '../../src/store/oauth-store.js';
import type { Store } from '../../src/store/store.js';
import type { StoreFactory } from './store-contract.js';

const AT = new Date('2030-04-01T00:00:00.500Z');
const suffix = () => randomBytes(5).toString('hex');

function grant(overrides: Partial<OauthGrantRecord> = {}): OauthGrantRecord {
  return {
    id: `g-${suffix()}`,
    clientId: `int_${suffix()}`,
    account: 'alice',
    homes: [],
    scopes: ['devices:read'],
    salt: 'c2FsdA',
    createdAt: AT,
    revokedAt: null,
    revokedReason: null,
    ...overrides,
  };
}

export function registerOauthStoreContract(label: string, factory: StoreFactory): void {
  describe(`OAuth store contract: ${label}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    test('an artifact is found by id or uid while unexpired, consumed once, and gone with its grant', async () => {
      const id = `a-${suffix()}`;
      const grantId = `g-${suffix()}`;
      await store.oauth.upsertArtifact('RefreshToken', id, { grantId, uid: `u-${id}`, kind: 'RefreshToken' }, 1000);
      assert.deepEqual(await store.oauth.findArtifact('RefreshToken', 'id', id, 999), {
        payload: { grantId, uid: `u-${id}`, kind: 'RefreshToken' },
        consumedAt: null,
      });
      assert.ok(await store.oauth.findArtifact('RefreshToken', 'uid', `u-${id}`, 999));
      assert.equal(await store.oauth.findArtifact('RefreshToken', 'id', id, 1000), undefined, 'expired at its expiry');
      assert.equal(await store.oauth.findArtifact('AccessToken', 'id', id, 0), undefined, 'another model');
      assert.equal(await store.oauth.consumeArtifact('RefreshToken', id, 500), true);
      assert.equal(await store.oauth.consumeArtifact('RefreshToken', id, 501), false, 'consumed once');
      assert.equal((await store.oauth.findArtifact('RefreshToken', 'id', id, 600))?.consumedAt, 500);
      // Upserting again keeps one row, with the new payload.
      await store.oauth.upsertArtifact('RefreshToken', id, { grantId, kind: 'again' }, null);
      assert.equal((await store.oauth.findArtifact('RefreshToken', 'id', id, 10 ** 9))?.payload.kind, 'again');
      assert.equal(await store.oauth.destroyArtifactsOfGrant(grantId), 1);
      assert.equal(await store.oauth.findArtifact('RefreshToken', 'id', id, 0), undefined);
      await store.oauth.upsertArtifact('Session', `s-${id}`, {}, 10);
      assert.ok((await store.oauth.purgeExpiredArtifacts(10)) >= 1);
      assert.equal(await store.oauth.findArtifact('Session', 'id', `s-${id}`, 0), undefined);
    });

    test('an integration is registered once and removed once', async () => {
      const client = {
        id: `int_${suffix()}`,
        name: 'Voice',
        redirectUris: ['https://voice.example/cb'],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['devices:read', 'devices:command'],
        createdAt: AT,
        removedAt: null,
      };
      await store.oauth.insertClient(client);
      await assert.rejects(store.oauth.insertClient(client), UniqueViolationError);
      assert.deepEqual(await store.oauth.getClient(client.id), client);
      assert.ok((await store.oauth.listClients()).some((c) => c.id === client.id));
      assert.equal(await store.oauth.removeClient(client.id, AT), true);
      assert.equal(await store.oauth.removeClient(client.id, AT), false);
      assert.deepEqual((await store.oauth.getClient(client.id))?.removedAt, AT);
    });

    test("grants are listed by home in the query, never another home's; revoked once; forgotten with their home", async () => {
      const home = `h_${suffix()}`;
      // Differs only in a character LIKE's `_` matches, and only in case: distinct homes.
      const lookalike = home.replace('_', 'x');
      const shouting = home.toUpperCase();
      const mine = grant({ homes: [home, 'elsewhere'] });
      const theirs = grant({ homes: [lookalike] });
      const loud = grant({ homes: [shouting] });
      for (const g of [mine, theirs, loud]) await store.oauth.insertGrant(g);
      await assert.rejects(store.oauth.insertGrant(mine), UniqueViolationError);
      assert.deepEqual(
        (await store.oauth.listGrants({ home, limit: 100 })).map((g) => g.id),
        [mine.id],
      );
      assert.deepEqual(
        (await store.oauth.listGrants({ homes: [home], limit: 100 })).map((g) => g.id),
        [mine.id],
      );
      assert.deepEqual(await store.oauth.listGrants({ homes: [], limit: 100 }), []);
      assert.deepEqual(
        (await store.oauth.listGrants({ clientId: theirs.clientId, limit: 100 })).map((g) => g.id),
        [theirs.id],
      );
      assert.deepEqual(await store.oauth.getGrant(mine.id), mine);
      assert.equal(await store.oauth.revokeGrant(mine.id, AT, 'revoked-by-homeowner'), true);
      assert.equal(await store.oauth.revokeGrant(mine.id, AT, 'again'), false);
      assert.equal((await store.oauth.getGrant(mine.id))?.revokedReason, 'revoked-by-homeowner');
      await store.oauth.upsertArtifact('RefreshToken', `rt-${mine.id}`, { grantId: mine.id }, null);
      assert.deepEqual(await store.oauth.deleteGrantsOfHome(home), [mine.id]);
      assert.equal(await store.oauth.getGrant(mine.id), undefined);
      assert.equal(await store.oauth.findArtifact('RefreshToken', 'id', `rt-${mine.id}`, 0), undefined);
      assert.ok(await store.oauth.getGrant(theirs.id), "the lookalike home's grant stays");
      assert.ok(await store.oauth.getGrant(loud.id));
    });
  });
}

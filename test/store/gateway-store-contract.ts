/**
 * The gateway part of the store contract (registrations, device attachments) and blocked keys,
 * run on SQLite and PostgreSQL alike. Tests share one database, so each uses its own names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { UniqueViolationError } from '../../src/core/errors.js';
import type { Store } from '../../src/store/store.js';
import type { StoreFactory } from './store-contract.js';

const suffix = () => randomBytes(5).toString('hex');

export function registerGatewayStoreContract(label: string, factory: StoreFactory): void {
  describe(`Gateway store contract: ${label}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    test('a gateway is registered once per name and key, found by the account that bound its key, and retired once', async () => {
      const name = `gw-${suffix()}.homes.example`;
      const kid = `eab_${suffix()}`;
      const at = new Date('2030-01-01T00:00:00.123Z');
      await store.gateways.insertGateway({ name, eabKid: kid, status: 'active', createdAt: at, retiredAt: null, home: null });
      await assert.rejects(
        store.gateways.insertGateway({ name, eabKid: `eab_${suffix()}`, status: 'active', createdAt: at, retiredAt: null, home: null }),
        UniqueViolationError,
      );
      await assert.rejects(
        store.gateways.insertGateway({ name: `gw-${suffix()}.example`, eabKid: kid, status: 'active', createdAt: at, retiredAt: null, home: null }),
        UniqueViolationError,
      );
      assert.deepEqual(await store.gateways.getGateway(name), { name, eabKid: kid, status: 'active', createdAt: at, retiredAt: null, home: null });

      const accountId = `acct-${suffix()}`;
      assert.equal(await store.gateways.findGatewayByAccount(accountId), undefined);
      await store.acme.insertAcmeEabKey({ kid, policy: null, createdAt: at, accountId: null, boundAt: null });
      assert.equal(await store.gateways.findGatewayByAccount(accountId), undefined, 'an unbound key names no account');
      await store.transaction(async (tx) => {
        await tx.acme.insertAcmeAccount({
          id: accountId,
          thumbprint: `t-${suffix()}`,
          jwk: { kty: 'EC' },
          status: 'valid',
          contact: [],
          termsAgreed: true,
          createdAt: at,
          policy: null,
        });
        assert.equal(await tx.acme.bindAcmeEabKey(kid, accountId, at), true);
      });
      assert.equal((await store.gateways.findGatewayByAccount(accountId))?.name, name);

      const later = new Date('2030-02-01T00:00:00.000Z');
      assert.equal(await store.gateways.retireGateway(name, later), true);
      assert.equal(await store.gateways.retireGateway(name, later), false);
      assert.deepEqual(await store.gateways.getGateway(name), { name, eabKid: kid, status: 'retired', createdAt: at, retiredAt: later, home: null });
      assert.ok((await store.gateways.listGateways()).some((g) => g.name === name));
    });

    test('a device is attached to the first gateway that reports it, until it is detached', async () => {
      const [one, two] = [`gw-${suffix()}.example`, `gw-${suffix()}.example`];
      const [a, b] = [`urn:dev:ops:acme-lamp-${suffix()}`, `urn:dev:ops:acme-lamp-${suffix()}`];
      const at = new Date('2030-01-01T00:00:00.000Z');
      assert.deepEqual(await store.gateways.attachDevices(one, [a, a], at), new Map([[a, one]]));
      assert.deepEqual(
        await store.gateways.attachDevices(two, [a, b], at),
        new Map([
          [a, one],
          [b, two],
        ]),
        'the first report keeps a',
      );
      assert.deepEqual(await store.gateways.getDeviceAttachment(a), { deviceId: a, gateway: one, attachedAt: at });
      assert.deepEqual(
        await store.gateways.findDeviceAttachments([a, b, 'urn:dev:ops:acme-lamp-none']),
        new Map([
          [a, one],
          [b, two],
        ]),
      );
      assert.equal(await store.gateways.detachDevice(a), true);
      assert.equal(await store.gateways.detachDevice(a), false);
      assert.deepEqual(await store.gateways.attachDevices(two, [a], at), new Map([[a, two]]), 'detached, the next report attaches it');
      assert.equal(await store.gateways.detachGatewayDevices(two), 2);
      assert.equal(await store.gateways.getDeviceAttachment(b), undefined);
    });

    test('a blocked key keeps its first block', async () => {
      const digest = randomBytes(32).toString('hex');
      assert.equal(await store.certificates.getBlockedKey(digest), undefined);
      const at = new Date('2030-01-01T00:00:00.000Z');
      await store.certificates.blockKeys([{ spkiSha256: digest, serial: 'ab01', reason: 'keyCompromise', blockedAt: at }]);
      await store.certificates.blockKeys([{ spkiSha256: digest, serial: 'ab02', reason: 'keyCompromise', blockedAt: new Date('2030-02-01T00:00:00.000Z') }]);
      assert.deepEqual(await store.certificates.getBlockedKey(digest), { spkiSha256: digest, serial: 'ab01', reason: 'keyCompromise', blockedAt: at });
      assert.deepEqual(
        await store.certificates.findBlockedKeys([digest, randomBytes(32).toString('hex')]),
        new Map([[digest, { spkiSha256: digest, serial: 'ab01', reason: 'keyCompromise', blockedAt: at }]]),
      );
      assert.deepEqual(await store.certificates.findBlockedKeys([]), new Map());
    });
  });
}

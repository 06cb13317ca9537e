/**
 * Homes as tenants in the store contract, run on SQLite and PostgreSQL alike: homes, accounts and
 * members, and tenant isolation in the queries themselves — a home-scoped listing of devices,
 * messages and security events returns only that home's rows, whatever else the tables hold.
 * Forgetting a home removes its members, tokens, claims and messages and nothing of another home.
 * Tests share one database, so each uses its own random names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { UniqueViolationError } from '../../src/core/errors.js';
import type { Store } from '../../src/store/store.js';
import type { StoreFactory } from './store-contract.js';
import { enrollment } from './provisioning-store-contract.js';

const AT = new Date('2030-03-01T00:00:00.250Z');
const suffix = () => randomBytes(5).toString('hex');

export function registerHomeStoreContract(label: string, factory: StoreFactory): void {
  describe(`Home store contract: ${label}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    /** Two homes, each with a member, a token, a claimed device, a gateway, a message and a security event. */
    async function twoHomes() {
      const m = `M${suffix()}`;
      const homes = [`home-a-${suffix()}`, `home-b-${suffix()}`] as const;
      const out = [];
      for (const [i, home] of homes.entries()) {
        await store.homes.insertHome({ id: home, name: `Home ${i}`, createdAt: AT });
        const account = `user-${suffix()}`;
        await store.homes.insertAccount({ id: account, name: 'A person', createdAt: AT });
        assert.equal(await store.homes.addMember({ home, account, addedAt: AT }), true);
        const tokenId = suffix().slice(0, 8);
        await store.tokens.insertApiToken({
          id: tokenId,
          hash: randomBytes(32).toString('hex'),
          name: 'x',
          role: 'homeowner',
          manufacturer: null,
          home,
          createdAt: AT,
          expiresAt: null,
        });
        const device = enrollment(m, `S-${i}`);
        await store.provisioning.insertEnrollments([device]);
        assert.equal(await store.provisioning.claimEnrollment(device.deviceId, home, AT), true);
        const gateway = `gw-${suffix()}.example`;
        await store.gateways.insertGateway({ name: gateway, eabKid: `eab_${suffix()}`, status: 'active', createdAt: AT, retiredAt: null, home });
        await store.telemetry.insertTelemetry([
          { gateway, messageId: 'm-1', deviceId: device.deviceId, topic: 't', payload: new Uint8Array([i]), qos: 1, publishedAt: AT, receivedAt: AT, home },
        ]);
        await store.provisioning.insertSecurityEvent({
          id: randomUUID(),
          type: 'security.claim_failed',
          deviceId: device.deviceId,
          detail: { i },
          createdAt: AT,
        });
        out.push({ home, account, tokenId, deviceId: device.deviceId, gateway });
      }
      return out as [(typeof out)[number], (typeof out)[number]];
    }

    test('a home, an account and a membership read back as written; ids are unique', async () => {
      const home = `h-${suffix()}`;
      await store.homes.insertHome({ id: home, name: 'Flat 3', createdAt: AT });
      assert.deepEqual(await store.homes.getHome(home), { id: home, name: 'Flat 3', createdAt: AT });
      await assert.rejects(store.homes.insertHome({ id: home, name: 'again', createdAt: AT }), UniqueViolationError);
      assert.equal(await store.homes.getHome(`h-${suffix()}`), undefined);
      const account = `a-${suffix()}`;
      await store.homes.insertAccount({ id: account, name: 'Ann', createdAt: AT });
      await assert.rejects(store.homes.insertAccount({ id: account, name: 'Bob', createdAt: AT }), UniqueViolationError);
      assert.deepEqual(await store.homes.getAccount(account), { id: account, name: 'Ann', createdAt: AT });
      assert.equal(await store.homes.addMember({ home, account, addedAt: AT }), true);
      assert.equal(await store.homes.addMember({ home, account, addedAt: AT }), false, 'a member once');
      assert.deepEqual(await store.homes.listMembers(home), [{ home, account, addedAt: AT }]);
      assert.deepEqual(await store.homes.homesOfAccount(account), [home]);
      assert.equal(await store.homes.removeMember(home, account), true);
      assert.equal(await store.homes.removeMember(home, account), false);
      assert.deepEqual(await store.homes.homesOfAccount(account), []);
    });

    test("home-scoped reads return only that home's devices, messages and events", async () => {
      const [a, b] = await twoHomes();
      assert.deepEqual(
        (await store.homes.listHomes([a.home])).map((h) => h.id),
        [a.home],
      );
      assert.deepEqual(await store.homes.listHomes([]), []);
      const all = (await store.homes.listHomes()).map((h) => h.id);
      assert.ok(all.includes(a.home) && all.includes(b.home));

      assert.deepEqual(
        (await store.provisioning.listHomeEnrollments(a.home, 100)).map((e) => e.deviceId),
        [a.deviceId],
      );
      const messages = await store.telemetry.listTelemetry({ homes: [a.home], limit: 1000 });
      assert.ok(messages.length >= 1);
      assert.ok(messages.every((m) => m.home === a.home));
      assert.ok(!messages.some((m) => m.deviceId === b.deviceId));
      assert.equal(await store.telemetry.countTelemetry({ homes: [a.home] }), 1);
      assert.equal(await store.telemetry.countTelemetry({ homes: [a.home, b.home] }), 2);
      assert.deepEqual(await store.telemetry.listTelemetry({ homes: [], limit: 10 }), []);
      assert.equal(await store.telemetry.countTelemetry({ homes: [] }), 0);
      const events = await store.provisioning.listSecurityEvents({ homes: [a.home], limit: 1000 });
      assert.deepEqual(
        events.map((e) => e.deviceId),
        [a.deviceId],
      );
      assert.deepEqual(await store.provisioning.listSecurityEvents({ homes: [], limit: 10 }), []);
      // The other filters still apply inside the tenant.
      assert.deepEqual(await store.provisioning.listSecurityEvents({ homes: [a.home], deviceId: b.deviceId, limit: 10 }), []);
    });

    test('forgetting a home removes its members, tokens, claims and messages, and nothing of another home', async () => {
      const [a, b] = await twoHomes();
      const forgotten = await store.transaction(async (tx) => {
        const outcome = await tx.homes.deleteHome(a.home);
        return { ...outcome, telemetry: await tx.telemetry.deleteTelemetryOfHome(a.home) };
      });
      assert.deepEqual(forgotten, { members: 1, tokens: 1, claims: 1, gateways: 1, telemetry: 1 });
      assert.equal(await store.homes.getHome(a.home), undefined);
      assert.deepEqual(await store.homes.listMembers(a.home), []);
      assert.equal(
        (await store.tokens.listApiTokens()).find((t) => t.id === a.tokenId),
        undefined,
      );
      assert.equal((await store.provisioning.getEnrollment(a.deviceId))?.home, null);
      assert.equal((await store.provisioning.getEnrollment(a.deviceId))?.claimedAt, null);
      assert.equal((await store.gateways.getGateway(a.gateway))?.home, null);
      assert.equal(await store.telemetry.countTelemetry({ homes: [a.home] }), 0);
      assert.equal(await store.homes.deleteHome(a.home), undefined, 'forgotten once');
      // The other home is whole.
      assert.ok(await store.homes.getHome(b.home));
      assert.equal((await store.homes.listMembers(b.home)).length, 1);
      assert.ok((await store.tokens.listApiTokens()).find((t) => t.id === b.tokenId));
      assert.equal((await store.provisioning.getEnrollment(b.deviceId))?.home, b.home);
      assert.equal((await store.gateways.getGateway(b.gateway))?.home, b.home);
      assert.equal(await store.telemetry.countTelemetry({ homes: [b.home] }), 1);
    });

    test("a gateway's home is set and cleared; a device moves between gateways only from the gateway it is on", async () => {
      const [a, b] = await twoHomes();
      assert.equal(await store.gateways.setGatewayHome(a.gateway, null), true);
      assert.equal((await store.gateways.getGateway(a.gateway))?.home, null);
      assert.equal(await store.gateways.setGatewayHome(a.gateway, a.home), true);
      assert.equal(await store.gateways.setGatewayHome(`gw-${suffix()}.example`, a.home), false);
      await store.gateways.attachDevices(a.gateway, [a.deviceId], AT);
      const later = new Date(AT.getTime() + 1000);
      assert.equal(await store.gateways.moveDevice(a.deviceId, b.gateway, a.gateway, later), false, 'not on b');
      assert.equal(await store.gateways.moveDevice(a.deviceId, a.gateway, b.gateway, later), true);
      assert.deepEqual(await store.gateways.getDeviceAttachment(a.deviceId), { deviceId: a.deviceId, gateway: b.gateway, attachedAt: later });
    });
  });
}

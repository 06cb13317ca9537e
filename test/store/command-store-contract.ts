/**
 * The command part of the store contract (commands queued for devices, numbered per gateway,
 * moving only forward), run on SQLite and PostgreSQL alike. Tests share one database, so each
 * uses its own random gateway names and device ids.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Store } from '../../src/store/store.js';
import type { CommandRecord, NewCommand } from '../../src/store/command-store.js';
import type { StoreFactory } from './store-contract.js';

const suffix = () => randomBytes(5).toString('hex');
const gatewayName = () => `gw-${suffix()}.homes.example`;
const deviceName = () => `urn:dev:ops:acme-lamp-${suffix()}`;
const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s, 123));

function command(gateway: string, deviceId: string, overrides: Partial<NewCommand> = {}): NewCommand {
  return {
    id: `cmd_${randomBytes(12).toString('base64url')}`,
    gateway,
    deviceId,
    home: null,
    name: 'light',
    payload: new Uint8Array([0x7b, 0x00, 0xff, 0x7d]),
    createdAt: at(0),
    expiresAt: at(300),
    requestedBy: 'token:abc',
    ...overrides,
  };
}

const sequences = (records: readonly CommandRecord[]) => records.map((r) => r.sequence);

export function registerCommandStoreContract(label: string, factory: StoreFactory): void {
  describe(`Command store contract: ${label}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    test('a command reads back as written, queued, with sequence 1 for a new gateway', async () => {
      const gw = gatewayName();
      const written = command(gw, deviceName(), { home: 'home-7', payload: new Uint8Array(randomBytes(16 * 1024)) });
      const inserted = await store.commands.insertCommand(written);
      const expected: CommandRecord = { ...written, state: 'queued', sequence: 1, deliveredAt: null, acknowledgedAt: null, detail: null };
      assert.deepStrictEqual(inserted, expected);
      const read = await store.commands.getCommand(written.id);
      assert.deepStrictEqual(read, expected);
      assert.equal(Object.getPrototypeOf(read?.payload), Uint8Array.prototype);
      assert.equal(await store.commands.getCommand('cmd_unknown'), undefined);
    });

    test('sequences grow per gateway, each gateway on its own, and stay unique under concurrent inserts', async () => {
      const gw1 = gatewayName();
      const gw2 = gatewayName();
      const device = deviceName();
      const inserted = await Promise.all(Array.from({ length: 20 }, (_, i) => store.commands.insertCommand(command(i % 2 === 0 ? gw1 : gw2, device))));
      const of = (gw: string) =>
        inserted
          .filter((c) => c.gateway === gw)
          .map((c) => c.sequence)
          .sort((a, b) => a - b);
      assert.deepEqual(of(gw1), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(of(gw2), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal((await store.commands.insertCommand(command(gw1, device))).sequence, 11);
    });

    test('listOpenCommands: queued and delivered above the cursor, in sequence order, limited, this gateway only', async () => {
      const gw = gatewayName();
      const other = gatewayName();
      const device = deviceName();
      const made: CommandRecord[] = [];
      for (let i = 0; i < 6; i++) made.push(await store.commands.insertCommand(command(gw, device)));
      await store.commands.insertCommand(command(other, device));
      const [c1, c2, c3, c4] = made as [CommandRecord, CommandRecord, CommandRecord, CommandRecord];
      await store.commands.applyReport({ commandId: c1.id, state: 'acknowledged', at: at(1) });
      await store.commands.applyReport({ commandId: c2.id, state: 'delivered', at: at(1) });
      await store.commands.applyReport({ commandId: c3.id, state: 'failed', at: at(1), detail: 'no such light' });
      await store.commands.applyReport({ commandId: c4.id, state: 'delivered', at: at(1) });
      assert.deepEqual(sequences(await store.commands.listOpenCommands(gw, 0, 100)), [2, 4, 5, 6]);
      assert.deepEqual(sequences(await store.commands.listOpenCommands(gw, 2, 100)), [4, 5, 6]);
      assert.deepEqual(sequences(await store.commands.listOpenCommands(gw, 2, 2)), [4, 5]);
      assert.deepEqual(sequences(await store.commands.listOpenCommands(gw, 6, 100)), []);
      assert.deepEqual(
        (await store.commands.listOpenCommands(other, 0, 100)).map((c) => c.gateway),
        [other],
      );
    });

    test('states move only forward: queued → delivered → acknowledged; failed and expired are terminal', async () => {
      const gw = gatewayName();
      const device = deviceName();
      const a = await store.commands.insertCommand(command(gw, device));
      const delivered = await store.commands.applyReport({ commandId: a.id, state: 'delivered', at: at(5) });
      assert.equal(delivered?.state, 'delivered');
      assert.deepEqual(delivered?.deliveredAt, at(5));
      const acked = await store.commands.applyReport({ commandId: a.id, state: 'acknowledged', at: at(6), detail: 'on' });
      assert.equal(acked?.state, 'acknowledged');
      assert.deepEqual(acked?.acknowledgedAt, at(6));
      assert.deepEqual(acked?.deliveredAt, at(5), 'delivery time kept');
      assert.equal(acked?.detail, 'on');
      for (const state of ['delivered', 'failed'] as const) {
        const after = await store.commands.applyReport({ commandId: a.id, state, at: at(9) });
        assert.equal(after?.state, 'acknowledged', `${state} after acknowledged changes nothing`);
        assert.deepEqual(after?.deliveredAt, at(5));
      }

      const b = await store.commands.insertCommand(command(gw, device));
      const ackedAtOnce = await store.commands.applyReport({ commandId: b.id, state: 'acknowledged', at: at(7) });
      assert.equal(ackedAtOnce?.state, 'acknowledged', 'an acknowledgement implies the delivery');
      assert.deepEqual(ackedAtOnce?.deliveredAt, at(7));

      const c = await store.commands.insertCommand(command(gw, device));
      assert.equal((await store.commands.applyReport({ commandId: c.id, state: 'failed', at: at(8), detail: 'busy' }))?.state, 'failed');
      assert.equal((await store.commands.applyReport({ commandId: c.id, state: 'acknowledged', at: at(9) }))?.state, 'failed');
      assert.equal((await store.commands.getCommand(c.id))?.detail, 'busy');

      assert.equal(await store.commands.applyReport({ commandId: 'cmd_none', state: 'delivered', at: at(1) }), undefined);
    });

    test('expireCommands ends open commands past their expiry, in the scope given; expired stays expired', async () => {
      const gw = gatewayName();
      const other = gatewayName();
      const device = deviceName();
      const soon = await store.commands.insertCommand(command(gw, device, { expiresAt: at(10) }));
      const deliveredSoon = await store.commands.insertCommand(command(gw, device, { expiresAt: at(10) }));
      await store.commands.applyReport({ commandId: deliveredSoon.id, state: 'delivered', at: at(2) });
      const ackedSoon = await store.commands.insertCommand(command(gw, device, { expiresAt: at(10) }));
      await store.commands.applyReport({ commandId: ackedSoon.id, state: 'acknowledged', at: at(2) });
      const later = await store.commands.insertCommand(command(gw, device, { expiresAt: at(100) }));
      const elsewhere = await store.commands.insertCommand(command(other, deviceName(), { expiresAt: at(10) }));

      assert.equal(await store.commands.expireCommands(at(9), { gateway: gw }), 0, 'not yet');
      assert.equal(await store.commands.expireCommands(at(10), { gateway: gw }), 2);
      const state = async (c: CommandRecord) => (await store.commands.getCommand(c.id))?.state;
      assert.equal(await state(soon), 'expired');
      assert.equal(await state(deliveredSoon), 'expired');
      assert.equal(await state(ackedSoon), 'acknowledged');
      assert.equal(await state(later), 'queued');
      assert.equal(await state(elsewhere), 'queued', 'another gateway is out of scope');
      assert.equal((await store.commands.applyReport({ commandId: soon.id, state: 'acknowledged', at: at(11) }))?.state, 'expired');
      assert.equal(await store.commands.expireCommands(at(10), { deviceId: elsewhere.deviceId }), 1);
      assert.equal(await state(elsewhere), 'expired');
    });

    test('a device lists its commands newest first, across gateways, limited; getCommands finds by ids', async () => {
      const device = deviceName();
      const gw1 = gatewayName();
      const gw2 = gatewayName();
      const c1 = await store.commands.insertCommand(command(gw1, device, { createdAt: at(1) }));
      const c3 = await store.commands.insertCommand(command(gw2, device, { createdAt: at(3) }));
      const c2 = await store.commands.insertCommand(command(gw1, device, { createdAt: at(2) }));
      await store.commands.insertCommand(command(gw1, deviceName(), { createdAt: at(4) }));
      assert.deepEqual(
        (await store.commands.listDeviceCommands(device, 10)).map((c) => c.id),
        [c3.id, c2.id, c1.id],
      );
      assert.deepEqual(
        (await store.commands.listDeviceCommands(device, 2)).map((c) => c.id),
        [c3.id, c2.id],
      );
      assert.deepEqual((await store.commands.getCommands([c1.id, 'cmd_none', c3.id, c1.id])).map((c) => c.id).sort(), [c1.id, c3.id].sort());
      assert.deepEqual(await store.commands.getCommands([]), []);
    });

    test('inside a transaction that rolls back, neither the command nor its sequence number stays', async () => {
      const gw = gatewayName();
      const device = deviceName();
      const doomed = command(gw, device);
      await assert.rejects(
        store.transaction(async (tx) => {
          assert.equal((await tx.commands.insertCommand(doomed)).sequence, 1);
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.equal(await store.commands.getCommand(doomed.id), undefined);
      assert.equal((await store.commands.insertCommand(command(gw, device))).sequence, 1);
    });
  });
}

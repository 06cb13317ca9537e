/**
 * The telemetry part of the store contract (messages forwarded by home gateways, kept once per
 * gateway and message id), run on SQLite and PostgreSQL alike. Tests share one database, so each
 * uses its own random gateway names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Store } from '../../src/store/store.js';
import type { TelemetryMessageRecord } from '../../src/store/telemetry-store.js';
import type { StoreFactory } from './store-contract.js';

const gatewayName = () => `gw-${randomBytes(5).toString('hex')}.homes.example`;

function message(gateway: string, messageId: string, overrides: Partial<TelemetryMessageRecord> = {}): TelemetryMessageRecord {
  return {
    gateway,
    messageId,
    deviceId: 'urn:dev:ops:acme-lamp-1',
    topic: 'devices/urn:dev:ops:acme-lamp-1/state',
    payload: new Uint8Array([0x7b, 0x00, 0xff, 0x7d]),
    qos: 1,
    publishedAt: new Date('2030-01-01T00:00:00.123Z'),
    receivedAt: new Date('2030-01-01T00:00:01.456Z'),
    home: null,
    ...overrides,
  };
}

const ids = (records: readonly TelemetryMessageRecord[]) => records.map((r) => r.messageId);

export function registerTelemetryStoreContract(label: string, factory: StoreFactory): void {
  describe(`Telemetry store contract: ${label}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    test('a message reads back exactly as written, as a plain Uint8Array payload', async () => {
      const gw = gatewayName();
      const written = message(gw, 'm-1', { qos: 2, publishedAt: new Date('2031-05-06T07:08:09.987Z'), receivedAt: new Date('2031-05-06T07:08:10.001Z') });
      assert.equal(await store.telemetry.insertTelemetry([written]), 1);
      const [read, ...rest] = await store.telemetry.listTelemetry({ gateway: gw, limit: 10 });
      assert.deepEqual(rest, []);
      assert.deepStrictEqual(read, written);
      assert.equal(Object.getPrototypeOf(read?.payload), Uint8Array.prototype);
    });

    test('payload bytes round-trip exactly: every byte value, NULs, 0xff, empty, large, and views into a bigger buffer', async () => {
      const gw = gatewayName();
      const everyByte = new Uint8Array(512).map((_, i) => i % 256);
      const nulsAndFfs = new Uint8Array([0x00, 0x00, 0xff, 0xff, 0x00, 0xff, 0x00]);
      const backing = new Uint8Array([0xaa, 0xbb, 0x00, 0xff, 0x01, 0xcc, 0xdd]);
      const view = backing.subarray(2, 5); // 00 ff 01, not the bytes around it
      const large = new Uint8Array(randomBytes(256 * 1024));
      const payloads: Record<string, Uint8Array> = { everyByte, nulsAndFfs, view, large, empty: new Uint8Array(0), buffer: Buffer.from([0xff, 0x00, 0xfe]) };
      const written = Object.entries(payloads).map(([id, payload]) => message(gw, id, { payload }));
      assert.equal(await store.telemetry.insertTelemetry(written), written.length);
      const read = new Map((await store.telemetry.listTelemetry({ gateway: gw, limit: 100 })).map((r) => [r.messageId, r.payload]));
      assert.equal(read.size, written.length);
      for (const [id, payload] of Object.entries(payloads)) {
        const got = read.get(id);
        assert.ok(got, id);
        assert.equal(got.byteLength, payload.byteLength, `${id}: length`);
        assert.ok(Buffer.from(got).equals(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)), `${id}: bytes`);
      }
      assert.deepEqual([...(read.get('view') ?? [])], [0x00, 0xff, 0x01]);
    });

    test('insertTelemetry counts only new rows: duplicates within one call and across calls are ignored, and the first copy wins', async () => {
      const gw = gatewayName();
      assert.equal(await store.telemetry.insertTelemetry([]), 0);
      const first = message(gw, 'a', { topic: 'first/copy' });
      const resent = message(gw, 'a', { topic: 'second/copy', payload: new Uint8Array([1]) });
      assert.equal(await store.telemetry.insertTelemetry([first, message(gw, 'b'), resent, message(gw, 'b')]), 2);
      assert.equal(await store.telemetry.insertTelemetry([message(gw, 'b'), message(gw, 'c'), resent]), 1);
      assert.equal(await store.telemetry.insertTelemetry([message(gw, 'a'), message(gw, 'b'), message(gw, 'c')]), 0);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw }), 3);
      const stored = await store.telemetry.listTelemetry({ gateway: gw, limit: 10 });
      assert.deepEqual(ids(stored).sort(), ['a', 'b', 'c']);
      const a = stored.find((r) => r.messageId === 'a');
      assert.equal(a?.topic, 'first/copy');
      assert.deepEqual([...(a?.payload ?? [])], [...first.payload]);
    });

    test('the same message id from another gateway is another message', async () => {
      const gw1 = gatewayName();
      const gw2 = gatewayName();
      assert.equal(await store.telemetry.insertTelemetry([message(gw1, 'same'), message(gw2, 'same')]), 2);
      assert.equal(await store.telemetry.insertTelemetry([message(gw2, 'same'), message(gw1, 'same')]), 0);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw1 }), 1);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw2 }), 1);
      assert.deepEqual(
        (await store.telemetry.listTelemetry({ gateway: gw2, limit: 10 })).map((r) => [r.gateway, r.messageId]),
        [[gw2, 'same']],
      );
    });

    test('listTelemetry is newest first by publishedAt (ties by message id, descending), filtered and limited', async () => {
      const gw = gatewayName();
      const other = gatewayName();
      const lamp = `urn:dev:ops:acme-lamp-${randomBytes(4).toString('hex')}`;
      const plug = `urn:dev:ops:acme-plug-${randomBytes(4).toString('hex')}`;
      const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s));
      // Inserted out of order; receivedAt runs opposite to publishedAt so ordering by it would show.
      await store.telemetry.insertTelemetry([
        message(gw, 'm3', { deviceId: lamp, publishedAt: at(3), receivedAt: at(10) }),
        message(gw, 'm1', { deviceId: plug, publishedAt: at(1), receivedAt: at(30) }),
        message(gw, 'm5', { deviceId: lamp, publishedAt: at(5), receivedAt: at(5) }),
        message(gw, 'm2', { deviceId: lamp, publishedAt: at(2), receivedAt: at(20) }),
        message(gw, 'm4a', { deviceId: plug, publishedAt: at(4), receivedAt: at(8) }),
        message(gw, 'm4b', { deviceId: plug, publishedAt: at(4), receivedAt: at(7) }),
        message(other, 'o9', { deviceId: lamp, publishedAt: at(9), receivedAt: at(9) }),
      ]);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ gateway: gw, limit: 100 })), ['m5', 'm4b', 'm4a', 'm3', 'm2', 'm1']);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ gateway: gw, limit: 2 })), ['m5', 'm4b']);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ gateway: gw, limit: 1 })), ['m5']);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ deviceId: lamp, limit: 100 })), ['o9', 'm5', 'm3', 'm2']);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ deviceId: lamp, gateway: gw, limit: 100 })), ['m5', 'm3', 'm2']);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ deviceId: plug, gateway: gw, limit: 2 })), ['m4b', 'm4a']);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ deviceId: plug, gateway: other, limit: 100 })), []);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ gateway: gatewayName(), limit: 100 })), []);
      // Unfiltered: the newest of everything in the shared database, still newest first.
      const newest = await store.telemetry.listTelemetry({ limit: 3 });
      assert.equal(newest.length, 3);
      for (let i = 1; i < newest.length; i++) {
        assert.ok((newest[i - 1]?.publishedAt.getTime() ?? 0) >= (newest[i]?.publishedAt.getTime() ?? 0), 'newest first');
      }
    });

    test('countTelemetry filters by gateway, device, both, or neither', async () => {
      const gw1 = gatewayName();
      const gw2 = gatewayName();
      const lamp = `urn:dev:ops:acme-lamp-${randomBytes(4).toString('hex')}`;
      const plug = `urn:dev:ops:acme-plug-${randomBytes(4).toString('hex')}`;
      const before = await store.telemetry.countTelemetry({});
      await store.telemetry.insertTelemetry([
        message(gw1, '1', { deviceId: lamp }),
        message(gw1, '2', { deviceId: lamp }),
        message(gw1, '3', { deviceId: plug }),
        message(gw2, '1', { deviceId: lamp }),
      ]);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw1 }), 3);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw2 }), 1);
      assert.equal(await store.telemetry.countTelemetry({ deviceId: lamp }), 3);
      assert.equal(await store.telemetry.countTelemetry({ deviceId: plug }), 1);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw1, deviceId: lamp }), 2);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw2, deviceId: plug }), 0);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gatewayName() }), 0);
      const total = await store.telemetry.countTelemetry({});
      assert.equal(typeof total, 'number');
      assert.equal(total, before + 4);
    });

    test('batches past one statement (2,500 rows) are stored whole and counted right, duplicates spanning the chunks included', async () => {
      const gw = gatewayName();
      const batch = Array.from({ length: 2500 }, (_, i) => message(gw, `n-${i}`, { publishedAt: new Date(Date.UTC(2029, 0, 1) + i) }));
      // The first chunk of 1000 already holds n-0..n-999; these resends land in later chunks.
      const withResends = [...batch, message(gw, 'n-0'), message(gw, 'n-999'), message(gw, 'n-1500')];
      assert.equal(await store.telemetry.insertTelemetry(withResends), 2500);
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw }), 2500);
      const more = Array.from({ length: 1200 }, (_, i) => message(gw, `n-${i + 2000}`, { publishedAt: new Date(Date.UTC(2029, 0, 1) + i + 2000) }));
      assert.equal(await store.telemetry.insertTelemetry(more), 700, 'n-2000..n-2499 were there; n-2500..n-3199 are new');
      const listed = await store.telemetry.listTelemetry({ gateway: gw, limit: 5000 });
      assert.equal(listed.length, 3200);
      assert.deepEqual(ids(listed.slice(0, 2)), ['n-3199', 'n-3198']);
      assert.equal(listed.at(-1)?.messageId, 'n-0');
    });

    test('a batch is all or none: a bad row in a later chunk keeps the earlier chunks out', async () => {
      const gw = gatewayName();
      const batch = Array.from({ length: 1500 }, (_, i) => message(gw, `r-${i}`));
      batch[1200] = message(gw, 'r-1200', { topic: null as unknown as string });
      await assert.rejects(store.telemetry.insertTelemetry(batch));
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw }), 0);
    });

    test('inside a transaction that rolls back nothing stays; one that commits keeps its rows', async () => {
      const gw = gatewayName();
      await assert.rejects(
        store.transaction(async (tx) => {
          assert.equal(await tx.telemetry.insertTelemetry([message(gw, 'x'), message(gw, 'y')]), 2);
          // Chunked inserts inside the caller's transaction see the rows written before them.
          assert.equal(await tx.telemetry.insertTelemetry(Array.from({ length: 1100 }, (_, i) => message(gw, i === 0 ? 'x' : `z-${i}`))), 1099);
          assert.equal(await tx.telemetry.countTelemetry({ gateway: gw }), 1101);
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.equal(await store.telemetry.countTelemetry({ gateway: gw }), 0);
      assert.deepEqual(await store.telemetry.listTelemetry({ gateway: gw, limit: 10 }), []);
      // Nothing of the rolled-back transaction counts as stored: the same ids are new afterwards.
      assert.equal(await store.telemetry.insertTelemetry([message(gw, 'x'), message(gw, 'y')]), 2);

      const committed = await store.transaction(async (tx) => tx.telemetry.insertTelemetry([message(gw, 'y'), message(gw, 'w')]));
      assert.equal(committed, 1);
      assert.deepEqual(ids(await store.telemetry.listTelemetry({ gateway: gw, limit: 10 })).sort(), ['w', 'x', 'y']);
    });
  });
}

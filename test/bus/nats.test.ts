import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { NatsBus } from '../../src/bus/nats-bus.js';
import type { NatsBusOptions } from '../../src/bus/nats-bus.js';
import { BusError } from '../../src/bus/bus-errors.js';
import { NATS_URL, needsNats } from '../support/environment.js';
import { Inbox, makeEvent, registerBusContract, waitUntil } from './bus-contract.js';

const skip = await needsNats();

/** A stream and subject prefix of its own per test, so test files can run side by side. */
function uniqueNames(): { stream: string; subjectPrefix: string } {
  const tag = randomUUID().replaceAll('-', '');
  return { stream: `HEARTH_TEST_${tag}`, subjectPrefix: `hearth_test.${tag}` };
}

let admin: NatsConnection | undefined;
async function adminConnection(): Promise<NatsConnection> {
  admin ??= await connect({ servers: NATS_URL });
  return admin;
}
after(async () => {
  await admin?.close();
});

async function deleteStream(stream: string): Promise<void> {
  const jsm = await jetstreamManager(await adminConnection());
  await jsm.streams.delete(stream).catch(() => undefined);
}

async function openNatsBus(options: Partial<NatsBusOptions> = {}): Promise<{ bus: NatsBus; dispose: () => Promise<void> }> {
  const names = uniqueNames();
  const bus = await NatsBus.connect({ url: NATS_URL, ...names, ...options });
  return {
    bus,
    dispose: async () => {
      await bus.close();
      await deleteStream(bus.stream);
    },
  };
}

registerBusContract('nats', ({ onError }) => openNatsBus({ onError }), skip);

describe('NatsBus', { skip }, () => {
  test('creates the stream with file storage, max age, duplicate window and prefixed subjects', async () => {
    const { bus, dispose } = await openNatsBus({ maxAgeMs: 60_000, duplicateWindowMs: 10_000 });
    try {
      const jsm = await jetstreamManager(await adminConnection());
      const { config } = await jsm.streams.info(bus.stream);
      assert.equal(config.storage, StorageType.File);
      assert.deepEqual(config.subjects, [`${bus.subjectPrefix}.>`]);
      assert.equal(config.max_age, 60_000 * 1e6);
      assert.equal(config.duplicate_window, 10_000 * 1e6);
    } finally {
      await dispose();
    }
  });

  test('defaults to a 7-day max age and updates an existing stream on connect', async () => {
    const names = uniqueNames();
    const first = await NatsBus.connect({ url: NATS_URL, ...names });
    try {
      const jsm = await jetstreamManager(await adminConnection());
      assert.equal((await jsm.streams.info(names.stream)).config.max_age, 7 * 24 * 3600 * 1000 * 1e6);
      const second = await NatsBus.connect({ url: NATS_URL, ...names, maxAgeMs: 3_600_000 });
      await second.close();
      assert.equal((await jsm.streams.info(names.stream)).config.max_age, 3_600_000 * 1e6);
    } finally {
      await first.close();
      await deleteStream(names.stream);
    }
  });

  test("two bus instances (two processes) see each other's events", async () => {
    const names = uniqueNames();
    const a = await NatsBus.connect({ url: NATS_URL, ...names });
    const b = await NatsBus.connect({ url: NATS_URL, ...names });
    try {
      const atA = new Inbox();
      const atB = new Inbox();
      await a.subscribe('cert.*', atA.handler);
      await b.subscribe('cert.*', atB.handler);
      const fromA = makeEvent('cert.issued', { by: 'a' });
      const fromB = makeEvent('cert.revoked', { by: 'b' });
      await a.publish(fromA);
      await b.publish(fromB);
      assert.deepEqual(await atA.waitFor(2), [fromA, fromB]);
      assert.deepEqual(await atB.waitFor(2), [fromA, fromB]);
    } finally {
      await a.close();
      await b.close();
      await deleteStream(names.stream);
    }
  });

  test('a duplicate publish of the same event id is delivered once', async () => {
    const { bus, dispose } = await openNatsBus();
    try {
      const inbox = new Inbox();
      await bus.subscribe('>', inbox.handler);
      const event = makeEvent('cert.issued');
      await bus.publish(event);
      await bus.publish(event);
      const marker = makeEvent('cert.revoked');
      await bus.publish(marker);
      await inbox.waitFor(2);
      await sleep(100);
      assert.deepEqual(
        inbox.events.map((e) => e.id),
        [event.id, marker.id],
      );
    } finally {
      await dispose();
    }
  });

  test('events published before subscribing are not replayed', async () => {
    const { bus, dispose } = await openNatsBus();
    try {
      await bus.publish(makeEvent('cert.issued', { old: true }));
      const inbox = new Inbox();
      await bus.subscribe('cert.*', inbox.handler);
      const fresh = makeEvent('cert.issued', { old: false });
      await bus.publish(fresh);
      await inbox.waitFor(1);
      await sleep(100);
      assert.deepEqual(inbox.events, [fresh]);
    } finally {
      await dispose();
    }
  });

  test('malformed messages on the stream are reported and skipped', async () => {
    const errors: unknown[] = [];
    const { bus, dispose } = await openNatsBus({ onError: (err) => errors.push(err) });
    try {
      const inbox = new Inbox();
      await bus.subscribe('>', inbox.handler);
      const js = jetstream(await adminConnection());
      const subject = `${bus.subjectPrefix}.cert.issued`;
      await js.publish(subject, 'not json');
      await js.publish(subject, JSON.stringify({ id: 'x', type: 'cert.issued' }));
      await js.publish(subject, JSON.stringify(makeEvent('cert.revoked'))); // type disagrees with subject
      const good = makeEvent('cert.issued');
      await bus.publish(good);
      assert.deepEqual(await inbox.waitFor(1), [good]);
      await waitUntil(() => errors.length >= 3);
      assert.equal(errors.length, 3);
      for (const err of errors) {
        assert.ok(err instanceof BusError);
        assert.match(err.message, /ignored malformed message \d+ on "/);
      }
    } finally {
      await dispose();
    }
  });

  test('publishing fails with a BusError when the stream is gone', async () => {
    const { bus, dispose } = await openNatsBus();
    try {
      await deleteStream(bus.stream);
      await assert.rejects(bus.publish(makeEvent('cert.issued')), (err: unknown) => {
        assert.ok(err instanceof BusError);
        assert.equal(err.status, 503);
        return true;
      });
    } finally {
      await dispose();
    }
  });
});

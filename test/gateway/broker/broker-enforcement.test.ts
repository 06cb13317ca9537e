/**
 * What ends a gateway connection, and that it ends only that one: a packet over the size limit,
 * malformed bytes, a first packet that is not CONNECT, a refused identity, the broker closing a
 * device (revocation) or sweeping expired identities and silent clients, a session takeover.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket, { type IConnackPacket, type IConnectPacket, type IDisconnectPacket, type IPublishPacket } from 'mqtt-packet';
import { CONNECTION, LAMP, SENSOR, SWITCH, connectClient, connectRaw, settlesWithin, sleep, until, type Bed, type TestClient, withBed } from './broker-bed.js';

/** A bystander that is subscribed to the shared state topics, to show it is still connected and served. */
async function bystander(bed: Bed, version: 4 | 5 = 5): Promise<TestClient> {
  const client = await connectClient(await bed.listen(SWITCH), { protocolVersion: version, clientId: `bystander-${version}` });
  await client.client.subscribeAsync('home/lights/+/state', { qos: 1 });
  return client;
}

/** The bystander is connected and still receives: a message published now arrives. */
async function stillServed(bed: Bed, watcher: TestClient, marker: string): Promise<void> {
  assert.equal(watcher.isClosed(), false, 'the bystander is still connected');
  const lamp = await connectClient(await bed.listen(LAMP), { protocolVersion: 5, clientId: `lamp-${marker}` });
  const before = watcher.messages.length;
  await lamp.client.publishAsync('home/lights/check/state', marker, { qos: 1 });
  await until(() => watcher.messages.length > before, `the marker ${marker}`);
  assert.equal(Buffer.from((watcher.messages.at(-1) as IPublishPacket).payload).toString(), marker);
  await lamp.end();
}

describe('packet size limit', () => {
  test('MQTT 5: a PUBLISH over maxPacketSize gets DISCONNECT 0x95 and its connection closes; others go on', () =>
    withBed(async (bed) => {
      const watcher = await bystander(bed);
      const big = await connectClient(await bed.listen(LAMP), { protocolVersion: 5, clientId: 'big' });
      big.client.publish('home/lights/big/state', Buffer.alloc(4 * CONNECTION.maxPacketSize, 0x61), { qos: 0 });
      const closed = await settlesWithin(big.closed, 1_000);
      assert.ok(closed, 'the connection of the oversized packet was closed');
      assert.deepEqual(
        big.disconnects.map((d) => d.reasonCode),
        [0x95],
      );
      assert.equal(watcher.messages.length, 0, 'the oversized message was not routed');
      assert.ok(bed.events.some((e) => e.kind === 'protocolViolation' && e.info.reason === 'packet-too-large'));
      await stillServed(bed, watcher, 'after-big-5');
      await watcher.end();
    }));

  test('MQTT 3.1.1: a PUBLISH over maxPacketSize closes its connection; others go on', () =>
    withBed(async (bed) => {
      const watcher = await bystander(bed, 4);
      const big = await connectClient(await bed.listen(LAMP), { protocolVersion: 4, clientId: 'big' });
      big.client.publish('home/lights/big/state', Buffer.alloc(4 * CONNECTION.maxPacketSize, 0x61), { qos: 0 });
      assert.ok(await settlesWithin(big.closed, 1_000), 'the connection of the oversized packet was closed');
      assert.equal(watcher.messages.length, 0, 'the oversized message was not routed');
      await stillServed(bed, watcher, 'after-big-4');
      await watcher.end();
    }));

  test('the declared length is refused as soon as the fixed header is read, before the body is sent', () =>
    withBed(async (bed) => {
      const raw = await connectRaw(await bed.listen(LAMP), 5);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'raw-big', clean: true, keepalive: 0 });
      assert.equal(((await raw.waitFor('connack')) as IConnackPacket).reasonCode, 0);
      const whole = mqttPacket.generate(
        { cmd: 'publish', topic: 'home/lights/big/state', payload: Buffer.alloc(2 * CONNECTION.maxPacketSize), qos: 0, retain: false, dup: false },
        { protocolVersion: 5 },
      );
      raw.socket.write(whole.subarray(0, 64)); // the fixed header says 2 KiB; the body is not sent
      const disconnect = (await raw.waitFor('disconnect')) as IDisconnectPacket;
      assert.equal(disconnect.reasonCode, 0x95);
      assert.ok(await settlesWithin(raw.closed, 2_500));
    }));

  test('a packet just under the limit is accepted', () =>
    withBed(async (bed) => {
      const watcher = await bystander(bed);
      const lamp = await connectClient(await bed.listen(LAMP), { protocolVersion: 5, clientId: 'lamp' });
      await lamp.client.publishAsync('home/lights/ok/state', Buffer.alloc(CONNECTION.maxPacketSize - 100, 0x62), { qos: 1 });
      assert.equal((await watcher.waitForMessages(1))[0]?.payload.length, CONNECTION.maxPacketSize - 100);
      await Promise.all([lamp.end(), watcher.end()]);
    }));
});

describe('malformed and out-of-order packets', () => {
  for (const version of [4, 5] as const) {
    test(`MQTT ${version === 5 ? '5' : '3.1.1'}: garbage after CONNECT closes only that connection`, () =>
      withBed(async (bed) => {
        const watcher = await bystander(bed);
        const raw = await connectRaw(await bed.listen(LAMP), version);
        raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `garbled-${version}`, clean: true, keepalive: 0 });
        await raw.waitFor('connack');
        // 0xff: packet type 15 with flag bits that type never has; then more noise.
        raw.socket.write(Buffer.from('ffffffffff00deadbeef', 'hex'));
        assert.ok(await settlesWithin(raw.closed, 2_500), 'the garbled connection was closed');
        if (version === 5) assert.equal(raw.packets.find((p): p is IDisconnectPacket => p.cmd === 'disconnect')?.reasonCode, 0x81);
        assert.ok(bed.events.some((e) => e.kind === 'protocolViolation' && e.info.reason === 'malformed' && e.deviceId === LAMP));
        assert.ok(bed.events.some((e) => e.kind === 'disconnected' && e.info.clientId === `garbled-${version}`));
        await stillServed(bed, watcher, `after-garbage-${version}`);
        await watcher.end();
      }));
  }

  test('a PUBLISH with both QoS bits set is malformed', () =>
    withBed(async (bed) => {
      const raw = await connectRaw(await bed.listen(LAMP), 4);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'qos3', clean: true, keepalive: 0 });
      await raw.waitFor('connack');
      raw.socket.write(Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]));
      assert.ok(await settlesWithin(raw.closed, 2_500));
    }));

  test('a first packet that is not CONNECT closes the connection without a CONNACK', () =>
    withBed(async (bed) => {
      const raw = await connectRaw(await bed.listen(LAMP), 4);
      raw.send({ cmd: 'pingreq' });
      assert.ok(await settlesWithin(raw.closed, 2_500));
      assert.equal(raw.packets.length, 0);
      assert.ok(bed.events.some((e) => e.kind === 'protocolViolation' && e.info.reason === 'protocol' && e.deviceId === undefined));
    }));

  test('a second CONNECT is a protocol error', () =>
    withBed(async (bed) => {
      const raw = await connectRaw(await bed.listen(LAMP), 5);
      const connect: IConnectPacket = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'twice', clean: true, keepalive: 0 };
      raw.send(connect);
      await raw.waitFor('connack');
      raw.send(connect);
      assert.equal(((await raw.waitFor('disconnect')) as IDisconnectPacket).reasonCode, 0x82);
      assert.ok(await settlesWithin(raw.closed, 2_500));
    }));

  test('a refused identity hears "not authorized" in its CONNACK and gets no session', () =>
    withBed(async (bed) => {
      const port = await bed.listenWith({ refused: 'revoked', detail: 'certificate c0ffee is revoked' });
      for (const version of [5, 4] as const) {
        const raw = await connectRaw(port, version);
        raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: 'revoked', clean: true, keepalive: 0 });
        const connack = (await raw.waitFor('connack')) as IConnackPacket;
        if (version === 5) assert.equal(connack.reasonCode, 0x87);
        else assert.equal(connack.returnCode, 5);
        assert.ok(await settlesWithin(raw.closed, 2_500));
      }
      assert.equal(bed.broker.connectionCount, 0);
      assert.equal(bed.events.filter((e) => e.kind === 'connected').length, 0);
    }));
});

describe('the broker ending connections', () => {
  test('disconnectDevice closes every live connection of the device with 0x87, publishes their wills, leaves others', () =>
    withBed(async (bed) => {
      const watcher = await bystander(bed);
      const lampPort = await bed.listen(LAMP);
      const will = { topic: 'home/lights/revoked/state', payload: Buffer.from('will'), qos: 1 as const, retain: false };
      const v5 = await connectClient(lampPort, { protocolVersion: 5, clientId: 'lamp-5', will });
      const v4 = await connectClient(lampPort, { protocolVersion: 4, clientId: 'lamp-4' });
      assert.equal(bed.broker.disconnectDevice(LAMP, 0x87, 'the certificate was revoked'), 2);
      assert.ok(await settlesWithin(Promise.all([v5.closed, v4.closed]), 2_000), 'both connections of the device were closed');
      assert.deepEqual(
        v5.disconnects.map((d) => [d.reasonCode, d.properties?.reasonString]),
        [[0x87, 'the certificate was revoked']],
      );
      assert.deepEqual(
        (await watcher.waitForMessages(1)).map((m) => Buffer.from(m.payload).toString()),
        ['will'],
      );
      assert.equal(bed.broker.disconnectDevice(LAMP, 0x87, 'again'), 0);
      assert.equal(bed.broker.connectionCount, 1);
      await stillServed(bed, watcher, 'after-revocation');
      await watcher.end();
    }));

  test('a device down from two connections to one is still found and closed by disconnectDevice', () =>
    withBed(async (bed) => {
      const lampPort = await bed.listen(LAMP);
      const first = await connectClient(lampPort, { protocolVersion: 5, clientId: 'first' });
      const second = await connectClient(lampPort, { protocolVersion: 5, clientId: 'second' });
      await first.end();
      await bed.waitForEvent((e) => e.kind === 'disconnected' && e.info.clientId === 'first', 'the first connection to end');
      assert.equal(bed.broker.disconnectDevice(LAMP, 0x87, 'revoked'), 1);
      assert.ok(await settlesWithin(second.closed, 2_000));
      assert.equal(bed.broker.disconnectDevice(LAMP, 0x87, 'again'), 0);
      assert.equal(bed.broker.connectionCount, 0);
    }));

  test('disconnectDevice with a filter closes only the connections it selects', () =>
    withBed(async (bed) => {
      const lampPort = await bed.listen(LAMP);
      const a = await connectClient(lampPort, { protocolVersion: 5, clientId: 'a' });
      assert.equal(
        bed.broker.disconnectDevice(LAMP, 0x87, 'revoked', (who) => who.kind === 'device' && who.serial === 'other-serial'),
        0,
      );
      await sleep(100);
      assert.equal(a.isClosed(), false);
      assert.equal(
        bed.broker.disconnectDevice(LAMP, 0x87, 'revoked', (who) => who.kind === 'device' && who.serial === 'c0ffee'),
        1,
      );
      assert.ok(await settlesWithin(a.closed, 2_000));
    }));

  test('sweep closes a connection whose certificate has expired with 0xA0, and one silent past its keepalive with 0x8D', () =>
    withBed(async (bed) => {
      const start = Date.now();
      const shortLived = await connectClient(await bed.listen(LAMP, new Date(start + 10_000)), { protocolVersion: 5, clientId: 'short' });
      const longLived = await connectClient(await bed.listen(SWITCH, new Date(start + 3_600_000)), { protocolVersion: 5, clientId: 'long' });
      bed.broker.sweep(new Date(start + 9_000));
      await sleep(100);
      assert.equal(shortLived.isClosed(), false, 'not yet expired');
      bed.broker.sweep(new Date(start + 20_000));
      assert.ok(await settlesWithin(shortLived.closed, 2_000));
      assert.deepEqual(
        shortLived.disconnects.map((d) => d.reasonCode),
        [0xa0],
      );
      await sleep(100);
      assert.equal(longLived.isClosed(), false, 'a certificate valid for another hour is not touched');

      // Keepalive 1 s, measured in real time: the gateway allows one and a half times that since
      // the client was last heard, whatever the injected clock says.
      const quiet = await connectRaw(await bed.listen(SENSOR), 5);
      quiet.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'quiet', clean: true, keepalive: 1 });
      await quiet.waitFor('connack');
      await sleep(1_000);
      bed.broker.sweep(new Date());
      assert.equal(quiet.isClosed(), false, 'within 1.5 x keepalive');
      await sleep(700);
      bed.broker.sweep(new Date());
      assert.ok(await settlesWithin(quiet.closed, 2_000));
      assert.deepEqual(
        quiet.packets.filter((p) => p.cmd === 'disconnect').map((p) => (p as { reasonCode?: number }).reasonCode),
        [0x8d],
      );
      assert.equal(longLived.isClosed(), false, 'keepalive 60 s is not up');
      await longLived.end();
    }));

  test('a second connection with the same client id takes the session over: the first hears 0x8E', () =>
    withBed(async (bed) => {
      const port = await bed.listen(LAMP);
      const first = await connectClient(port, { protocolVersion: 5, clientId: 'same' });
      const second = await connectClient(port, { protocolVersion: 5, clientId: 'same' });
      assert.ok(await settlesWithin(first.closed, 2_000));
      assert.deepEqual(
        first.disconnects.map((d) => d.reasonCode),
        [0x8e],
      );
      assert.equal(second.isClosed(), false);
      assert.equal(bed.broker.connectionCount, 1);
      // The same client id under another device is another session.
      const other = await connectClient(await bed.listen(SWITCH), { protocolVersion: 5, clientId: 'same' });
      await sleep(100);
      assert.equal(second.isClosed(), false);
      assert.equal(bed.broker.connectionCount, 2);
      await Promise.all([second.end(), other.end()]);
    }));
});

/**
 * Delivery details seen from a raw MQTT client, where MQTT.js would hide them: the receive
 * maximum (MQTT 5 flow control), unacknowledged QoS 1 messages sent again with DUP on a resumed
 * session, inbound QoS 2 routed once, UNSUBSCRIBE, and where the packet size limit lies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket, {
  type IConnackPacket,
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type IUnsubackPacket,
  type Packet,
} from 'mqtt-packet';
import { CONNECTION, LAMP, SWITCH, connectClient, connectRaw, settlesWithin, sleep, until, withBed } from './broker-bed.js';

const publishes = (packets: Packet[]) => packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
const text = (p: IPublishPacket) => Buffer.from(p.payload).toString();

test('MQTT 5 receive maximum: no more unacknowledged QoS 1 messages in flight than the client allows', () =>
  withBed(async (bed) => {
    const raw = await connectRaw(await bed.listen(SWITCH), 5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'slow', clean: true, keepalive: 0, properties: { receiveMaximum: 2 } });
    await raw.waitFor('connack');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'home/lights/+/state', qos: 1 }] });
    await raw.waitFor('suback');
    const lamp = await connectClient(await bed.listen(LAMP), { protocolVersion: 5, clientId: 'lamp' });
    for (const n of [1, 2, 3, 4, 5]) await lamp.client.publishAsync('home/lights/a/state', `m${n}`, { qos: 1 });
    await sleep(100);
    assert.deepEqual(publishes(raw.packets).map(text), ['m1', 'm2']);
    const [first] = publishes(raw.packets);
    const roundTrips = () => bed.events.filter((e) => e.kind === 'roundTrip');
    assert.equal(roundTrips().length, 0, 'no round trip before a PUBACK');
    raw.send({ cmd: 'puback', messageId: first?.messageId ?? 0 });
    await until(() => publishes(raw.packets).length === 3, 'the third message after one PUBACK');
    await sleep(50);
    assert.deepEqual(publishes(raw.packets).map(text), ['m1', 'm2', 'm3']);
    for (const p of publishes(raw.packets).slice(1)) raw.send({ cmd: 'puback', messageId: p.messageId ?? 0 });
    await until(() => publishes(raw.packets).length === 5, 'the rest');
    assert.deepEqual(publishes(raw.packets).map(text), ['m1', 'm2', 'm3', 'm4', 'm5']);
    // m1 waited for its PUBACK at least the 100 ms sleep; a PUBACK for an unknown id counts nothing.
    raw.send({ cmd: 'puback', messageId: 999 });
    await until(() => roundTrips().length === 3, 'the round trips of the three acknowledged messages');
    await sleep(50);
    const seconds = roundTrips().map((e) => (e.kind === 'roundTrip' ? e.info.seconds : -1));
    assert.equal(seconds.length, 3);
    assert.ok((seconds[0] ?? 0) >= 0.09 && (seconds[0] ?? 0) < 5, `m1's round trip ${seconds[0]} s`);
    assert.ok(
      seconds.every((s) => s >= 0 && s < 5),
      `round trips ${seconds.join(', ')}`,
    );
    raw.socket.destroy();
    await lamp.end();
  }));

test('a resumed session sends unacknowledged QoS 1 messages again with DUP, then what queued offline', () =>
  withBed(async (bed) => {
    const port = await bed.listen(SWITCH);
    const connect: IConnectPacket = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'forgetful', clean: false, keepalive: 0 };
    const first = await connectRaw(port, 4);
    first.send(connect);
    assert.equal(((await first.waitFor('connack')) as IConnackPacket).sessionPresent, false);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'home/lights/+/state', qos: 1 }] });
    await first.waitFor('suback');
    const lamp = await connectClient(await bed.listen(LAMP), { protocolVersion: 4, clientId: 'lamp' });
    await lamp.client.publishAsync('home/lights/a/state', 'unacked', { qos: 1 });
    const sent = (await first.waitFor('publish')) as IPublishPacket;
    assert.equal(sent.dup, false);
    first.socket.destroy(); // never acknowledged
    await bed.waitForEvent((e) => e.kind === 'disconnected' && e.info.clientId === 'forgetful', 'the drop');
    await lamp.client.publishAsync('home/lights/b/state', 'queued', { qos: 1 });

    const second = await connectRaw(port, 4);
    second.send(connect);
    assert.equal(((await second.waitFor('connack')) as IConnackPacket).sessionPresent, true);
    await until(() => publishes(second.packets).length === 2, 'two messages on resume');
    const [again, queued] = publishes(second.packets);
    assert.deepEqual([again && text(again), again?.dup, again?.messageId], ['unacked', true, sent.messageId]);
    assert.deepEqual([queued && text(queued), queued?.dup], ['queued', false]);
    assert.notEqual(queued?.messageId, sent.messageId);
    second.socket.destroy();
    await lamp.end();
  }));

test('inbound QoS 2: PUBREC, PUBREL, PUBCOMP; a resent PUBLISH before PUBREL is routed once; subscribers get QoS 1', () =>
  withBed(async (bed) => {
    const watcher = await connectClient(await bed.listen(SWITCH), { protocolVersion: 5, clientId: 'watcher' });
    await watcher.client.subscribeAsync('home/lights/+/state', { qos: 2 });
    const raw = await connectRaw(await bed.listen(LAMP), 5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'qos2', clean: true, keepalive: 0 });
    await raw.waitFor('connack');
    const publish: IPublishPacket = {
      cmd: 'publish',
      topic: 'home/lights/a/state',
      payload: Buffer.from('exactly once'),
      qos: 2,
      messageId: 77,
      retain: false,
      dup: false,
    };
    raw.send(publish);
    await raw.waitFor('pubrec');
    raw.send({ ...publish, dup: true });
    await until(() => raw.packets.filter((p) => p.cmd === 'pubrec').length === 2, 'the second PUBREC');
    raw.send({ cmd: 'pubrel', messageId: 77 });
    await raw.waitFor('pubcomp');
    const [heard] = await watcher.waitForMessages(1);
    assert.equal(heard?.qos, 1, 'the gateway sends at most QoS 1');
    await sleep(100);
    assert.deepEqual(watcher.messages.map(text), ['exactly once']);
    raw.socket.destroy();
    await watcher.end();
  }));

for (const version of [5, 4] as const) {
  test(`MQTT ${version === 5 ? '5' : '3.1.1'}: UNSUBSCRIBE stops delivery${version === 5 ? ' and UNSUBACK says which filters existed' : ''}`, () =>
    withBed(async (bed) => {
      const raw = await connectRaw(await bed.listen(SWITCH), version);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: 'unsub', clean: true, keepalive: 0 });
      await raw.waitFor('connack');
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'home/lights/+/state', qos: 1 }] });
      await raw.waitFor('suback');
      raw.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['home/lights/+/state', 'home/never/subscribed'] });
      const unsuback = (await raw.waitFor('unsuback')) as IUnsubackPacket;
      assert.equal(unsuback.messageId, 2);
      if (version === 5) assert.deepEqual(unsuback.granted, [0x00, 0x11]);
      const lamp = await connectClient(await bed.listen(LAMP), { protocolVersion: 5, clientId: 'lamp' });
      await lamp.client.publishAsync('home/lights/a/state', 'after unsubscribe', { qos: 1 });
      await sleep(100);
      assert.equal(publishes(raw.packets).length, 0);
      assert.equal(raw.isClosed(), false);
      raw.socket.destroy();
      await lamp.end();
    }));
}

test('the size limit counts the whole packet, fixed header included (MQTT 5 §3.1.2.11.4), as the CONNACK announced', () =>
  withBed(async (bed) => {
    const watcher = await connectClient(await bed.listen(SWITCH), { protocolVersion: 5, clientId: 'watcher' });
    await watcher.client.subscribeAsync('home/lights/+/state', { qos: 1 });
    const port = await bed.listen(LAMP);
    /** A QoS 0 PUBLISH of exactly `total` bytes; all but its last byte are sent first, so only the header check can see it. */
    const sendOfTotalSize = async (clientId: string, total: number) => {
      const raw = await connectRaw(port, 5);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0 });
      assert.equal(((await raw.waitFor('connack')) as IConnackPacket).properties?.maximumPacketSize, CONNECTION.maxPacketSize);
      const topic = 'home/lights/size/state';
      const overhead = mqttPacket.generate(
        { cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: false, dup: false },
        { protocolVersion: 5 },
      ).length;
      // The remaining length takes two bytes from 128 on, one more than with the empty payload.
      const packet = mqttPacket.generate(
        { cmd: 'publish', topic, payload: Buffer.alloc(total - overhead - 1, 0x63), qos: 0, retain: false, dup: false },
        { protocolVersion: 5 },
      );
      assert.equal(packet.length, total);
      raw.socket.write(packet.subarray(0, packet.length - 1));
      await sleep(50);
      raw.socket.write(packet.subarray(packet.length - 1));
      await sleep(100);
      return raw;
    };
    const atLimit = await sendOfTotalSize('at-limit', CONNECTION.maxPacketSize);
    assert.equal(atLimit.isClosed(), false);
    await watcher.waitForMessages(1);
    const over = await sendOfTotalSize('just-over', CONNECTION.maxPacketSize + 2);
    assert.equal(
      over.packets.find((p): p is IDisconnectPacket => p.cmd === 'disconnect')?.reasonCode,
      0x95,
      'a packet of maxPacketSize + 2 bytes is over the limit',
    );
    assert.ok(await settlesWithin(over.closed, 2_500));
    assert.equal(watcher.messages.length, 1);
    atLimit.socket.destroy();
    await watcher.end();
  }));

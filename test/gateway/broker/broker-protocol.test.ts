/**
 * The gateway broker end to end over TCP, with MQTT.js 5 speaking MQTT 5 and 3.1.1: routing at
 * QoS 0 and 1 through per-model shared topics, retained messages, wills, persistent sessions and
 * the ACL's answers in SUBACK and PUBACK.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket, ISubackPacket, IPubackPacket } from 'mqtt-packet';
import { LAMP, SENSOR, SWITCH, connectClient, sleep, until, withBed } from './broker-bed.js';

const VERSIONS = [5, 4] as const;
const text = (packet: IPublishPacket) => Buffer.from(packet.payload).toString();

for (const version of VERSIONS) {
  describe(`MQTT ${version === 5 ? '5' : '3.1.1'}`, () => {
    test('QoS 0 and 1 between two devices through per-model shared topics, both ways', () =>
      withBed(async (bed) => {
        const lamp = await connectClient(await bed.listen(LAMP), { protocolVersion: version, clientId: 'lamp' });
        const sw = await connectClient(await bed.listen(SWITCH), { protocolVersion: version, clientId: 'switch' });
        assert.equal(lamp.connack.sessionPresent, false);
        const lampGrant = await lamp.client.subscribeAsync('home/lights/+/set', { qos: 1 });
        const switchGrant = await sw.client.subscribeAsync('home/lights/kitchen/state', { qos: 1 });
        assert.deepEqual([lampGrant[0]?.qos, switchGrant[0]?.qos], [1, 1]);

        await lamp.client.publishAsync('home/lights/kitchen/state', 'q0', { qos: 0 });
        await lamp.client.publishAsync('home/lights/kitchen/state', 'q1', { qos: 1 });
        await lamp.client.publishAsync('home/lights/hall/state', 'not subscribed', { qos: 1 });
        await sw.client.publishAsync('home/lights/kitchen/set', 'on', { qos: 1 });

        const atSwitch = await sw.waitForMessages(2);
        assert.deepEqual(
          atSwitch.map((m) => [m.topic, text(m), m.qos]),
          [
            ['home/lights/kitchen/state', 'q0', 0],
            ['home/lights/kitchen/state', 'q1', 1],
          ],
        );
        assert.equal(typeof atSwitch[1]?.messageId, 'number');
        const atLamp = await lamp.waitForMessages(1);
        assert.deepEqual(
          atLamp.map((m) => [m.topic, text(m), m.qos, m.retain]),
          [['home/lights/kitchen/set', 'on', 1, false]],
        );
        // Nothing else arrives: a later message is the next one each sees.
        await lamp.client.publishAsync('home/lights/kitchen/state', 'last', { qos: 1 });
        const next = await sw.waitForMessages(3);
        assert.equal(text(next[2] as IPublishPacket), 'last');
        await Promise.all([lamp.end(), sw.end()]);
      }));

    test('a subscription at QoS 0 gets QoS 1 messages at QoS 0; overlapping filters deliver once at the higher QoS', () =>
      withBed(async (bed) => {
        const sensor = await connectClient(await bed.listen(SENSOR), { protocolVersion: version, clientId: 'sensor' });
        const lamp = await connectClient(await bed.listen(LAMP), { protocolVersion: version, clientId: 'lamp' });
        await sensor.client.subscribeAsync('home/lights/+/state', { qos: 0 });
        await lamp.client.publishAsync('home/lights/a/state', 'one', { qos: 1 });
        assert.deepEqual(
          (await sensor.waitForMessages(1)).map((m) => [text(m), m.qos]),
          [['one', 0]],
        );
        await sensor.client.subscribeAsync('home/lights/a/state', { qos: 1 });
        await lamp.client.publishAsync('home/lights/a/state', 'two', { qos: 1 });
        await lamp.client.publishAsync('home/lights/b/state', 'three', { qos: 1 });
        const messages = await sensor.waitForMessages(3);
        assert.deepEqual(
          messages.map((m) => [text(m), m.qos]),
          [
            ['one', 0],
            ['two', 1],
            ['three', 0],
          ],
        );
        await sleep(50);
        assert.equal(sensor.messages.length, 3, 'a message matching two filters of a session is delivered once');
        await Promise.all([sensor.end(), lamp.end()]);
      }));

    test('a retained message reaches a later subscriber with retain set, and an empty retained payload clears it', () =>
      withBed(async (bed) => {
        const lampPort = await bed.listen(LAMP);
        const switchPort = await bed.listen(SWITCH);
        const lamp = await connectClient(lampPort, { protocolVersion: version, clientId: 'lamp' });
        await lamp.client.publishAsync('home/lights/hall/state', 'on', { qos: 1, retain: true });

        const first = await connectClient(switchPort, { protocolVersion: version, clientId: 'switch-1' });
        await first.client.subscribeAsync('home/lights/+/state', { qos: 1 });
        const [retained] = await first.waitForMessages(1);
        assert.deepEqual([retained?.topic, text(retained as IPublishPacket), retained?.retain, retained?.qos], ['home/lights/hall/state', 'on', true, 1]);

        // Routed live to a subscription that exists, a retained message has retain cleared (no retain-as-published).
        await lamp.client.publishAsync('home/lights/hall/state', 'off', { qos: 1, retain: true });
        const live = (await first.waitForMessages(2))[1] as IPublishPacket;
        assert.deepEqual([text(live), live.retain], ['off', false]);

        // The newest retained message replaces the older.
        const second = await connectClient(switchPort, { protocolVersion: version, clientId: 'switch-2' });
        await second.client.subscribeAsync('home/lights/hall/state', { qos: 1 });
        assert.deepEqual(
          (await second.waitForMessages(1)).map((m) => [text(m), m.retain]),
          [['off', true]],
        );

        await lamp.client.publishAsync('home/lights/hall/state', '', { qos: 1, retain: true });
        await first.waitForMessages(3); // the empty message is routed like any other
        const third = await connectClient(switchPort, { protocolVersion: version, clientId: 'switch-3' });
        await third.client.subscribeAsync('home/lights/+/state', { qos: 1 });
        await lamp.client.publishAsync('home/lights/hall/state', 'marker', { qos: 1 });
        const afterClear = await third.waitForMessages(1);
        assert.deepEqual(
          afterClear.map((m) => [text(m), m.retain]),
          [['marker', false]],
          'nothing retained is left for the topic',
        );
        await Promise.all([lamp.end(), first.end(), second.end(), third.end()]);
      }));

    test('the will is published when the connection drops without DISCONNECT, not after a clean disconnect', () =>
      withBed(async (bed) => {
        const lampPort = await bed.listen(LAMP);
        const watcher = await connectClient(await bed.listen(SWITCH), { protocolVersion: version, clientId: 'watcher' });
        await watcher.client.subscribeAsync('home/lights/+/state', { qos: 1 });
        const will = { topic: 'home/lights/desk/state', payload: Buffer.from('gone'), qos: 1 as const, retain: false };

        const dropped = await connectClient(lampPort, { protocolVersion: version, clientId: 'lamp-drops', will });
        dropped.client.stream.destroy();
        const [heard] = await watcher.waitForMessages(1);
        assert.deepEqual([heard?.topic, text(heard as IPublishPacket), heard?.qos], ['home/lights/desk/state', 'gone', 1]);

        const polite = await connectClient(lampPort, { protocolVersion: version, clientId: 'lamp-polite', will: { ...will, payload: Buffer.from('polite') } });
        await polite.end();
        await bed.waitForEvent((e) => e.kind === 'disconnected' && e.info.clientId === 'lamp-polite', 'the clean disconnect');
        const marker = await connectClient(lampPort, { protocolVersion: version, clientId: 'lamp-marker' });
        await marker.client.publishAsync('home/lights/desk/state', 'marker', { qos: 1 });
        const messages = await watcher.waitForMessages(2);
        assert.deepEqual(messages.map(text), ['gone', 'marker'], 'no will after DISCONNECT');
        await Promise.all([watcher.end(), marker.end()]);
      }));

    test('a will on a topic the device may not publish to refuses the CONNECT', () =>
      withBed(async (bed) => {
        const port = await bed.listen(LAMP);
        await assert.rejects(
          connectClient(port, {
            protocolVersion: version,
            clientId: 'lamp-bad-will',
            will: { topic: `hearth/${SWITCH}/state`, payload: Buffer.from('x'), qos: 0, retain: false },
          }),
        );
        await bed.waitForEvent((e) => e.kind === 'denied' && e.info.action === 'will', 'the will denial');
        assert.equal(bed.broker.connectionCount, 0);
      }));

    test('a persistent session keeps QoS 1 messages while offline and delivers them on reconnect with sessionPresent', () =>
      withBed(async (bed) => {
        const lampPort = await bed.listen(LAMP);
        const switchPort = await bed.listen(SWITCH);
        const persistent = {
          protocolVersion: version,
          clientId: 'switch-persistent',
          clean: false,
          ...(version === 5 ? { properties: { sessionExpiryInterval: 30 } } : {}),
        };
        const first = await connectClient(switchPort, persistent);
        assert.equal(first.connack.sessionPresent, false);
        await first.client.subscribeAsync('home/lights/+/state', { qos: 1 });
        await first.end();
        await bed.waitForEvent((e) => e.kind === 'disconnected' && e.info.clientId === 'switch-persistent', 'the switch to go offline');

        const lamp = await connectClient(lampPort, { protocolVersion: version, clientId: 'lamp' });
        await lamp.client.publishAsync('home/lights/a/state', 'm1', { qos: 1 });
        await lamp.client.publishAsync('home/lights/b/state', 'dropped at QoS 0', { qos: 0 });
        await lamp.client.publishAsync('home/lights/c/state', 'm2', { qos: 1 });
        await lamp.client.publishAsync('home/lights/d/state', 'm3', { qos: 1 });

        const again = await connectClient(switchPort, persistent);
        assert.equal(again.connack.sessionPresent, true);
        const queued = await again.waitForMessages(3);
        assert.deepEqual(
          queued.map((m) => [text(m), m.qos]),
          [
            ['m1', 1],
            ['m2', 1],
            ['m3', 1],
          ],
        );
        // The subscription came back with the session: live messages flow without a new SUBSCRIBE.
        await lamp.client.publishAsync('home/lights/e/state', 'live', { qos: 1 });
        assert.equal(text((await again.waitForMessages(4))[3] as IPublishPacket), 'live');
        await again.end();
        await until(() => bed.events.filter((e) => e.kind === 'disconnected' && e.info.clientId === 'switch-persistent').length === 2, 'the second disconnect');

        // A clean start ends the session: nothing present, nothing queued, no subscription.
        await lamp.client.publishAsync('home/lights/f/state', 'for the old session', { qos: 1 });
        const clean = await connectClient(switchPort, { protocolVersion: version, clientId: 'switch-persistent', clean: true });
        assert.equal(clean.connack.sessionPresent, false);
        await lamp.client.publishAsync('home/lights/g/state', 'unsubscribed', { qos: 1 });
        await sleep(100);
        assert.equal(clean.messages.length, 0);
        await Promise.all([clean.end(), lamp.end()]);
      }));

    test('ACL denials: SUBACK failure codes per filter, PUBACK for a refused PUBLISH, nothing routed', () =>
      withBed(async (bed) => {
        const lampPort = await bed.listen(LAMP);
        const switchPort = await bed.listen(SWITCH);
        const lamp = await connectClient(lampPort, { protocolVersion: version, clientId: 'lamp' });
        const sw = await connectClient(switchPort, { protocolVersion: version, clientId: 'switch' });
        const failure = version === 5 ? 0x87 : 0x80;

        // MQTT.js rejects the call when any filter failed; the SUBACK itself is what counts.
        await lamp.client
          .subscribeAsync({
            [`hearth/${LAMP}/cmd/#`]: { qos: 1 },
            [`hearth/+/cmd/#`]: { qos: 1 },
            [`hearth/${LAMP}/#`]: { qos: 0 },
            'home/lights/+/set': { qos: 1 },
          })
          .catch(() => undefined);
        const suback = await until(() => lamp.received.find((p): p is ISubackPacket => p.cmd === 'suback'), 'SUBACK');
        assert.deepEqual(suback.granted, [1, failure, failure, 1]);
        assert.deepEqual(
          bed.events.filter((e) => e.kind === 'denied').map((e) => (e.kind === 'denied' ? [e.deviceId, e.info.action, e.info.topic] : [])),
          [
            [LAMP, 'subscribe', 'hearth/+/cmd/#'],
            [LAMP, 'subscribe', `hearth/${LAMP}/#`],
          ],
        );

        // The switch listens to its own commands; the lamp tries to send one.
        await sw.client.subscribeAsync(`hearth/${SWITCH}/cmd/#`, { qos: 1 });
        const publishError = await lamp.client.publishAsync(`hearth/${SWITCH}/cmd/off`, 'forged', { qos: 1 }).then(
          () => undefined,
          (err: Error & { code?: number }) => err,
        );
        const puback = await until(() => lamp.received.find((p): p is IPubackPacket => p.cmd === 'puback'), 'PUBACK');
        if (version === 5) {
          assert.equal(puback.reasonCode, 0x87);
          assert.equal(publishError?.code, 0x87);
        } else {
          assert.equal(publishError, undefined, '3.1.1 acknowledges a refused PUBLISH plainly');
        }
        await lamp.client.publishAsync(`hearth/${SWITCH}/cmd/off`, 'forged at QoS 0', { qos: 0 });
        // A second connection of the switch itself may publish there.
        const switchAgain = await connectClient(switchPort, { protocolVersion: version, clientId: 'switch-2' });
        await switchAgain.client.publishAsync(`hearth/${SWITCH}/cmd/marker`, 'marker', { qos: 1 });
        const messages = await sw.waitForMessages(1);
        assert.deepEqual(messages.map(text), ['marker'], 'the forged commands were not routed');
        assert.ok(!lamp.isClosed(), 'a denial does not end the connection');
        await Promise.all([lamp.end(), sw.end(), switchAgain.end()]);
      }));
  });
}

test('MQTT 5: a session asked to expire at disconnect (the default interval 0) is not present on reconnect', () =>
  withBed(async (bed) => {
    const port = await bed.listen(SWITCH);
    const first = await connectClient(port, { protocolVersion: 5, clientId: 'switch', clean: false });
    await first.client.subscribeAsync('home/lights/+/state', { qos: 1 });
    await first.end();
    await bed.waitForEvent((e) => e.kind === 'disconnected', 'the disconnect');
    const again = await connectClient(port, { protocolVersion: 5, clientId: 'switch', clean: false });
    assert.equal(again.connack.sessionPresent, false);
    await again.end();
  }));

test('MQTT 5: a session expiry above the gateway maximum is lowered and the CONNACK says so', () =>
  withBed(async (bed) => {
    const port = await bed.listen(SWITCH);
    const client = await connectClient(port, { protocolVersion: 5, clientId: 'switch', clean: false, properties: { sessionExpiryInterval: 3_600 } });
    assert.equal(client.connack.properties?.sessionExpiryInterval, 60);
    assert.equal(client.connack.properties?.maximumPacketSize, 1024);
    assert.equal(client.connack.properties?.topicAliasMaximum, 0);
    await client.end();
  }));

test('MQTT 5: an empty client id is assigned one by the gateway', () =>
  withBed(async (bed) => {
    const client = await connectClient(await bed.listen(LAMP), { protocolVersion: 5, clientId: '' });
    assert.match(String(client.connack.properties?.assignedClientIdentifier), /^auto-/);
    await client.end();
  }));

test('MQTT 5: the will waits for its delay interval, and is not sent when the session resumes in time', () =>
  withBed(async (bed) => {
    const lampPort = await bed.listen(LAMP);
    const watcher = await connectClient(await bed.listen(SWITCH), { protocolVersion: 5, clientId: 'watcher' });
    await watcher.client.subscribeAsync('home/lights/+/state', { qos: 1 });
    const options = (clientId: string, payload: string) => ({
      protocolVersion: 5 as const,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: { topic: 'home/lights/desk/state', payload: Buffer.from(payload), qos: 1 as const, retain: false, properties: { willDelayInterval: 1 } },
    });

    // Dropped and not back: the will goes out after about a second, not at once.
    const gone = await connectClient(lampPort, options('lamp-gone', 'delayed will'));
    gone.client.stream.destroy();
    await sleep(400);
    assert.equal(watcher.messages.length, 0, 'the will waits for its delay');
    assert.deepEqual((await watcher.waitForMessages(1, 2_000)).map(text), ['delayed will']);

    // Dropped and back within the delay (MQTT 5 §3.1.3.2.2): the will must not be sent.
    const flaky = await connectClient(lampPort, options('lamp-flaky', 'should not be sent'));
    flaky.client.stream.destroy();
    await bed.waitForEvent((e) => e.kind === 'disconnected' && e.info.clientId === 'lamp-flaky', 'the drop');
    const back = await connectClient(lampPort, options('lamp-flaky', 'second will'));
    assert.equal(back.connack.sessionPresent, true);
    await sleep(1_400);
    assert.deepEqual(watcher.messages.map(text), ['delayed will'], 'the session resumed before the will delay passed');
    // Clear the second connection's will so it cannot confuse a later reading.
    await back.end();
    await watcher.end();
  }));

/**
 * Home Assistant's commands after the bridge imported them, on the real broker with MQTT.js
 * devices: forwarded to a device only for an entity the mapping forwards, with an allowed payload,
 * to a device the gateway has seen; everything else under the prefix is dropped and counted.
 * Attacker cases: another device's entity, an unknown node id, a lookalike node id, extra levels,
 * a payload Home Assistant would not send, a message that did not come through the bridge, and an
 * import that would land in hearth/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../src/core/logger.js';
import { BRIDGE_ORIGIN } from '../../../src/gateway/bridge/upstream-bridge.js';
import { CommandRouter, HOME_ASSISTANT_ORIGIN } from '../../../src/gateway/home-assistant/command-router.js';
import { homeAssistantConfigSchema } from '../../../src/gateway/home-assistant/home-assistant-config.js';
import { KnownDevices } from '../../../src/gateway/home-assistant/known-devices.js';
import type { BrokerMessage } from '../../../src/gateway/mqtt/mqtt-session.js';
import { TopicAcl } from '../../../src/gateway/policy/topic-acl.js';
import { connectClient, sleep, startBed, until, type Bed, type TestClient } from '../broker/broker-bed.js';

const THERMOSTAT = 'urn:dev:ops:acme-thermostat-0001';
const PLUG = 'urn:dev:ops:acme-plug-0002';
/** Never connected: Home Assistant cannot know it through the gateway. */
const STRANGER = 'urn:dev:ops:acme-plug-0003';
const PREFIX = 'bridge/hearth-ha/';

const config = homeAssistantConfigSchema.parse({
  models: {
    'acme-thermostat': [
      { component: 'sensor', key: 'temperature', name: 'Temperature', stateTopic: 'state/temperature' },
      { component: 'switch', key: 'heating', name: 'Heating', command: { name: 'heating', forward: true, payloads: { on: { on: true }, off: { on: false } } } },
      { component: 'switch', key: 'eco', name: 'Eco', command: { name: 'eco' } },
    ],
    'acme-plug': [{ component: 'switch', key: 'power', name: 'Power', command: { name: 'power', forward: true } }],
  },
});

describe('Home Assistant commands through the bridge', () => {
  let bed: Bed;
  let dir: string;
  let router: CommandRouter;
  let thermostat: TestClient;
  let plug: TestClient;
  let stranger: TestClient;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hearth-ha-router-'));
    const known = await KnownDevices.open(join(dir, 'home-assistant.json'));
    known.remember(THERMOSTAT, '01');
    known.remember(PLUG, '02');
    bed = await startBed({ routed: (message) => router.observe(message) });
    router = new CommandRouter({
      localPrefix: PREFIX,
      known,
      entitiesOf: (deviceId) =>
        deviceId === THERMOSTAT
          ? (config.models['acme-thermostat'] ?? [])
          : deviceId.startsWith('urn:dev:ops:acme-plug-')
            ? (config.models['acme-plug'] ?? [])
            : [],
      broker: bed.broker,
      logger: createLogger('silent'),
    });
    thermostat = await connectClient(await bed.listen(THERMOSTAT), { protocolVersion: 5, clientId: 'thermostat' });
    plug = await connectClient(await bed.listen(PLUG), { protocolVersion: 5, clientId: 'plug' });
    stranger = await connectClient(await bed.listen(STRANGER), { protocolVersion: 5, clientId: 'stranger' });
    await thermostat.client.subscribeAsync(`hearth/${THERMOSTAT}/cmd/#`, { qos: 1 });
    await plug.client.subscribeAsync(`hearth/${PLUG}/cmd/#`, { qos: 1 });
    await stranger.client.subscribeAsync(`hearth/${STRANGER}/cmd/#`, { qos: 1 });
  });

  after(async () => {
    await Promise.all([thermostat, plug, stranger].map((c) => c?.end()));
    await bed?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** As the bridge injects an upstream message. */
  function imported(topic: string, payload: string, from = BRIDGE_ORIGIN): void {
    const message: BrokerMessage = { topic, payload: Buffer.from(payload), qos: 1, retain: false, from };
    bed.broker.publish(message);
  }

  function received(client: TestClient): { topic: string; payload: string }[] {
    return client.messages.map((m) => ({ topic: m.topic, payload: m.payload.toString() }));
  }

  test('a mapped, forwarded command reaches its device, translated to what the device takes', async () => {
    imported(`${PREFIX}acme-thermostat-0001/heating/set`, 'ON');
    imported(`${PREFIX}acme-plug-0002/power/set`, 'OFF');
    await until(() => thermostat.messages.length >= 1 && plug.messages.length >= 1, 'both devices to get their command');
    assert.deepEqual(received(thermostat), [{ topic: `hearth/${THERMOSTAT}/cmd/heating`, payload: '{"on":true}' }]);
    assert.deepEqual(received(plug), [{ topic: `hearth/${PLUG}/cmd/power`, payload: 'OFF' }]);
    assert.equal(router.stats().forwarded, 2);
  });

  test('attacks and mistakes are dropped and counted, and reach no device', async () => {
    const before = { thermostat: thermostat.messages.length, plug: plug.messages.length, stranger: stranger.messages.length };
    const start = router.stats();
    // The plug's entity on the thermostat's node: another model's command name.
    imported(`${PREFIX}acme-thermostat-0001/power/set`, 'ON');
    // The thermostat's entity on the plug: not the plug model's.
    imported(`${PREFIX}acme-plug-0002/heating/set`, 'ON');
    // A read-only entity, and an unknown key.
    imported(`${PREFIX}acme-thermostat-0001/temperature/set`, 'ON');
    imported(`${PREFIX}acme-thermostat-0001/update/set`, 'ON');
    // A device the gateway never showed (connected here, but not through discovery), a raw device id, a lookalike.
    imported(`${PREFIX}acme-plug-0003/power/set`, 'ON');
    imported(`${PREFIX}urn:dev:ops:acme-plug-0002/power/set`, 'ON');
    imported(`${PREFIX}acme-plug-0002 /power/set`, 'ON');
    // Extra or missing levels, and relative-path tricks.
    imported(`${PREFIX}acme-plug-0002/power/set/x`, 'ON');
    imported(`${PREFIX}acme-plug-0002/power`, 'ON');
    imported(`${PREFIX}../acme-plug-0002/power/set`, 'ON');
    imported(`${PREFIX}acme-thermostat-0001/../../acme-plug-0002/power/set`, 'ON');
    // A payload Home Assistant would not send for that entity.
    imported(`${PREFIX}acme-plug-0002/power/set`, '{"on":true,"firmware":"http://evil/fw.bin"}');
    imported(`${PREFIX}acme-plug-0002/power/set`, 'on');
    imported(`${PREFIX}acme-plug-0002/power/set`, 'ON ');
    // Left to local rules by the mapping.
    imported(`${PREFIX}acme-thermostat-0001/eco/set`, 'ON');
    // Not from the bridge: a device (or rule) publishing on the prefix does not speak for Home Assistant.
    imported(`${PREFIX}acme-plug-0002/power/set`, 'ON', THERMOSTAT);
    imported(`${PREFIX}acme-plug-0002/power/set`, 'ON', 'rules:x');
    // Upstream published to a device command topic: the import lands it under bridge/, where no device listens.
    imported(`bridge/hearth/${PLUG}/cmd/power`, 'ON');
    await sleep(200);
    assert.deepEqual(
      { thermostat: thermostat.messages.length, plug: plug.messages.length, stranger: stranger.messages.length },
      before,
      'no device received anything',
    );
    const stats = router.stats();
    assert.equal(stats.forwarded, start.forwarded);
    const delta = Object.fromEntries(Object.entries(stats.dropped).map(([k, v]) => [k, v - start.dropped[k as keyof typeof start.dropped]]));
    assert.deepEqual(delta, {
      'unmapped-entity': 4,
      'unknown-device': 3,
      'malformed-topic': 4,
      'payload-not-allowed': 3,
      'not-forwarded': 1,
    });
  });

  test('what the router publishes has the gateway origin, which no device id can be', async () => {
    const seen: BrokerMessage[] = [];
    const broker = { publish: (m: BrokerMessage) => (seen.push(m), 1) };
    const known = await KnownDevices.open(join(dir, 'other.json'));
    known.remember(PLUG, '02');
    const own = new CommandRouter({ localPrefix: PREFIX, known, entitiesOf: () => config.models['acme-plug'] ?? [], broker, logger: createLogger('silent') });
    own.observe({ topic: `${PREFIX}acme-plug-0002/power/set`, payload: Buffer.from('ON'), qos: 0, retain: false, from: BRIDGE_ORIGIN });
    assert.equal(seen[0]?.from, HOME_ASSISTANT_ORIGIN);
    assert.equal(seen[0]?.topic, `hearth/${PLUG}/cmd/power`);
    assert.equal(seen[0]?.qos, 1);
  });
});

describe('the topic ACL and the bridge origin', () => {
  test('the bridge origin may not publish into a device tree, nor subscribe to commands', () => {
    const acl = new TopicAcl();
    for (const topic of [`hearth/${PLUG}/cmd/power`, `hearth/${PLUG}/state`, `hearth/${THERMOSTAT}/cmd/heating`]) {
      assert.equal(acl.mayPublish(BRIDGE_ORIGIN, topic).allowed, false, topic);
    }
    assert.equal(acl.maySubscribe(BRIDGE_ORIGIN, `hearth/${PLUG}/cmd/#`).allowed, false);
    assert.equal(acl.mayPublish(HOME_ASSISTANT_ORIGIN, `hearth/${PLUG}/cmd/power`).allowed, false, 'as a client the origin would have no rights either');
  });
});

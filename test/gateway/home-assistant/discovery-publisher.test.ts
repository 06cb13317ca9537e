/**
 * The discovery publisher through a real UpstreamBridge to the shared Mosquitto on 127.0.0.1:1883
 * (standing in for Home Assistant's broker): documents published retained when a device connects,
 * not again when nothing changed, removed (empty retained) when the mapping drops them at a
 * restart, when Home Assistant is disabled, and when the device's certificate is revoked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { parseBridgeConfig } from '../../../src/gateway/bridge/bridge-config.js';
import { UpstreamBridge } from '../../../src/gateway/bridge/upstream-bridge.js';
import { DiscoveryPublisher } from '../../../src/gateway/home-assistant/discovery-publisher.js';
import { homeAssistantConfigSchema, type HomeAssistantConfigInput } from '../../../src/gateway/home-assistant/home-assistant-config.js';
import { KnownDevices } from '../../../src/gateway/home-assistant/known-devices.js';
import {
  collectingLogger,
  collector,
  endAll,
  FAST_RECONNECT,
  needsSharedMosquitto,
  RUN,
  SHARED_URL,
  sleep,
  waitFor,
  type Received,
} from '../bridge/bridge-bed.js';
import { assertValidDiscovery } from './home-assistant-schema.js';

const skip = await needsSharedMosquitto();
const DISCOVERY = `hearth-ha-test-${RUN}/discovery`;
const THERMOSTAT = 'urn:dev:ops:acme-thermostat-0001';
const PLUG = 'urn:dev:ops:acme-plug-0002';

const MAPPING: HomeAssistantConfigInput = {
  discoveryPrefix: DISCOVERY,
  commandPrefix: `hearth-ha-test-${RUN}/set/`,
  models: {
    'acme-thermostat': [
      { component: 'sensor', key: 'temperature', name: 'Temperature', stateTopic: 'state/temperature', unit: '°C', deviceClass: 'temperature' },
      { component: 'binary_sensor', key: 'window', name: 'Window', stateTopic: 'state/window', deviceClass: 'window' },
    ],
    'acme-plug': [{ component: 'switch', key: 'power', name: 'Power', stateTopic: 'state/power', command: { name: 'power', forward: true } }],
  },
};

describe('discovery documents on a real upstream broker', { skip }, () => {
  let dir: string;
  let bridge: UpstreamBridge;
  const clients: MqttClient[] = [];
  const bridgeConfig = parseBridgeConfig({
    url: SHARED_URL,
    clientId: `hearth-ha-test-${RUN}`,
    export: [{ filter: 'hearth/+/state/#', prefix: `hearth-ha-test-${RUN}/home/` }],
    import: [{ filter: `hearth-ha-test-${RUN}/set/#` }],
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hearth-ha-publisher-'));
    bridge = new UpstreamBridge(bridgeConfig, { logger: collectingLogger().logger, inject: () => undefined, reconnectDelayMs: FAST_RECONNECT });
    await bridge.start();
    await waitFor(() => bridge.stats().connected, 'the bridge to connect');
  });

  after(async () => {
    await bridge?.stop();
    await endAll(clients);
    await rm(dir, { recursive: true, force: true });
  });

  async function publisher(input: HomeAssistantConfigInput): Promise<{ publisher: DiscoveryPublisher; known: KnownDevices }> {
    const known = await KnownDevices.open(join(dir, 'home-assistant.json'));
    const { logger } = collectingLogger();
    return {
      publisher: new DiscoveryPublisher({ config: homeAssistantConfigSchema.parse(input), bridge: bridgeConfig, known, upstream: bridge, logger }),
      known,
    };
  }

  /** What a subscriber arriving now is given: the retained documents under the prefix. */
  async function retained(): Promise<Map<string, Received>> {
    const { client, received } = await collector(SHARED_URL, `${DISCOVERY}/#`);
    clients.push(client);
    await sleep(300);
    return new Map(received.filter((m) => m.retain).map((m) => [m.topic, m]));
  }

  async function flushed(): Promise<void> {
    await waitFor(() => bridge.stats().buffered === 0, 'the bridge to send what it holds');
    await sleep(100);
  }

  test('a connecting device of a mapped model gets one retained document per entity; others get none', async () => {
    const { publisher: p } = await publisher(MAPPING);
    await p.reconcile();
    await p.deviceConnected(THERMOSTAT, '0a');
    await p.deviceConnected(PLUG, '0b');
    await p.deviceConnected('urn:dev:ops:acme-lock-0003', '0c');
    await p.deviceConnected('sensor:door', '0d');
    await flushed();
    const docs = await retained();
    assert.deepEqual([...docs.keys()].sort(), [
      `${DISCOVERY}/binary_sensor/acme-thermostat-0001/window/config`,
      `${DISCOVERY}/sensor/acme-thermostat-0001/temperature/config`,
      `${DISCOVERY}/switch/acme-plug-0002/power/config`,
    ]);
    const power = JSON.parse(docs.get(`${DISCOVERY}/switch/acme-plug-0002/power/config`)?.payload ?? '{}') as Record<string, unknown>;
    assertValidDiscovery('switch', power);
    assert.equal(power.state_topic, `hearth-ha-test-${RUN}/home/hearth/${PLUG}/state/power`);
    assert.equal(power.command_topic, `hearth-ha-test-${RUN}/set/acme-plug-0002/power/set`);
    assert.equal(p.stats().published, 3);
    // Reconnecting changes nothing: nothing is published again.
    await p.deviceConnected(THERMOSTAT, '0a');
    assert.equal(p.stats().published, 3);
  });

  test('a restart with a changed mapping removes what it no longer lists and updates what changed', async () => {
    const changed: HomeAssistantConfigInput = {
      ...MAPPING,
      models: {
        'acme-thermostat': [{ component: 'sensor', key: 'temperature', name: 'Room temperature', stateTopic: 'state/temperature', unit: '°C' }],
        'acme-plug': MAPPING.models?.['acme-plug'] ?? [],
      },
    };
    const { publisher: p } = await publisher(changed);
    await p.reconcile();
    await flushed();
    const docs = await retained();
    assert.equal(docs.has(`${DISCOVERY}/binary_sensor/acme-thermostat-0001/window/config`), false, 'the dropped entity is gone from Home Assistant');
    const temperature = JSON.parse(docs.get(`${DISCOVERY}/sensor/acme-thermostat-0001/temperature/config`)?.payload ?? '{}') as Record<string, unknown>;
    assert.equal(temperature.name, 'Room temperature');
    assert.deepEqual(p.stats(), { devices: 2, published: 1, removed: 1, skipped: 0 });
  });

  test("a revocation of the device's current certificate removes it; another certificate's does not", async () => {
    const { publisher: p, known } = await publisher(MAPPING);
    await p.reconcile();
    await p.certificateRevoked('ff', THERMOSTAT); // an older certificate of the thermostat
    await p.certificateRevoked('0a', PLUG); // names another device
    assert.equal(known.size, 2);
    await p.certificateRevoked('0A', null); // from a CRL: the serial alone
    await flushed();
    const docs = await retained();
    assert.deepEqual([...docs.keys()], [`${DISCOVERY}/switch/acme-plug-0002/power/config`]);
    assert.equal(known.get(THERMOSTAT), undefined);
    const file = JSON.parse(await readFile(join(dir, 'home-assistant.json'), 'utf8')) as { devices: { deviceId: string }[] };
    assert.deepEqual(
      file.devices.map((d) => d.deviceId),
      [PLUG],
    );
  });

  test('disabled, everything published before is removed', async () => {
    const { publisher: p, known } = await publisher({ ...MAPPING, enabled: false });
    await p.reconcile();
    await p.deviceConnected(PLUG, '0b');
    await flushed();
    assert.equal((await retained()).size, 0);
    assert.equal(known.size, 0);
  });
});

/**
 * Home Assistant through the gateway's bridge, end to end: a real control plane and gateway
 * (`hearth` processes), a Mosquitto of the test's own standing in for Home Assistant's broker, and
 * a device with its certificate (MQTT.js over mutual TLS). The device connects → its discovery
 * documents appear retained upstream → its state appears at the documents' state_topic → a
 * command at the command_topic reaches the device as `hearth/<id>/cmd/<name>` → commands for
 * unmapped entities, with other payloads or straight at the device tree never reach it → the
 * device's certificate is revoked and Home Assistant's documents for it are removed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { freeLoopbackPort } from '../support/commands.js';
import { startGatewayBed, type GatewayBed } from '../support/gateway-bed.js';
import { collector, endAll, needsMosquittoBinary, OwnMosquitto, sleep, waitFor, type Received } from '../gateway/bridge/bridge-bed.js';
import { assertValidDiscovery } from '../gateway/home-assistant/home-assistant-schema.js';

const skip = needsMosquittoBinary();
const PLUG = 'urn:dev:ops:acme-plug-0001';
const NODE = 'acme-plug-0001';
const CONFIG_TOPIC = `homeassistant/switch/${NODE}/power/config`;
const SENSOR_TOPIC = `homeassistant/sensor/${NODE}/energy/config`;

let bed: GatewayBed;
let home: OwnMosquitto;
const clients: MqttClient[] = [];

before(async () => {
  if (skip) return;
  home = await OwnMosquitto.create(await freeLoopbackPort());
  await home.start();
  bed = await startGatewayBed({
    gatewayYaml: {
      bridge: {
        url: home.url,
        export: [{ filter: 'hearth/+/state/#', prefix: 'hearth-home/' }],
        import: [{ filter: 'hearth-ha/#', localPrefix: 'bridge/' }],
      },
      homeAssistant: {
        models: {
          'acme-plug': [
            {
              component: 'switch',
              key: 'power',
              name: 'Power',
              stateTopic: 'state/power',
              deviceClass: 'outlet',
              command: { name: 'power', forward: true, payloads: { on: { on: true }, off: { on: false } } },
            },
            {
              component: 'sensor',
              key: 'energy',
              name: 'Energy',
              stateTopic: 'state/energy',
              valueTemplate: '{{ value_json.kwh }}',
              unit: 'kWh',
              deviceClass: 'energy',
              stateClass: 'total_increasing',
            },
            // Left to local rules: Home Assistant sees it, the gateway does not forward it.
            { component: 'switch', key: 'led', name: 'LED', command: { name: 'led' } },
          ],
        },
      },
    },
  });
});

after(async () => {
  await endAll(clients);
  await bed?.close();
  await home?.dispose();
});

/** A client of Home Assistant's broker: what it holds retained under the filter now. */
async function retainedNow(filter: string): Promise<Map<string, Received>> {
  const { client, received } = await collector(home.url, filter);
  clients.push(client);
  await sleep(300);
  client.end(true);
  return new Map(received.filter((m) => m.retain).map((m) => [m.topic, m]));
}

/** Polls an asynchronous condition (a metric) until it holds. */
async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .join('\n');
}

test(
  'a device appears in Home Assistant with its state, takes its mapped commands and nothing else, and leaves when revoked',
  { skip, timeout: 120_000 },
  async () => {
    const plug = await bed.issueDevice(PLUG);
    const ha = await collector(home.url, '#');
    clients.push(ha.client);

    const device = await mqtt.connectAsync({
      protocol: 'mqtts',
      host: 'localhost',
      port: bed.gateway.mqttPort,
      ca: readFileSync(bed.rootFile, 'utf8'),
      key: plug.keyPem,
      cert: plug.certPem,
      protocolVersion: 5,
      clientId: 'plug',
      reconnectPeriod: 0,
    });
    clients.push(device);
    const commands: { topic: string; payload: string }[] = [];
    device.on('message', (topic, payload) => commands.push({ topic, payload: payload.toString() }));
    await device.subscribeAsync(`hearth/${PLUG}/cmd/+`, { qos: 1 });

    // Connected: the discovery documents are on Home Assistant's broker, retained.
    await waitFor(() => ha.received.some((m) => m.topic === CONFIG_TOPIC), `${CONFIG_TOPIC} upstream`, 20_000);
    const docs = await retainedNow('homeassistant/#');
    assert.deepEqual([...docs.keys()].sort(), [`homeassistant/sensor/${NODE}/energy/config`, CONFIG_TOPIC, `homeassistant/switch/${NODE}/led/config`].sort());
    const power = JSON.parse(docs.get(CONFIG_TOPIC)?.payload ?? '{}') as Record<string, unknown>;
    assertValidDiscovery('switch', power);
    assert.deepEqual(power, {
      name: 'Power',
      unique_id: `hearth_${NODE}_power`,
      device: { identifiers: [PLUG], manufacturer: 'acme', model: 'plug', name: 'acme plug 0001', serial_number: '0001' },
      origin: { name: 'Hearth gateway' },
      qos: 1,
      state_topic: `hearth-home/hearth/${PLUG}/state/power`,
      device_class: 'outlet',
      command_topic: `hearth-ha/${NODE}/power/set`,
      payload_on: 'ON',
      payload_off: 'OFF',
    });
    const energy = JSON.parse(docs.get(SENSOR_TOPIC)?.payload ?? '{}') as Record<string, unknown>;
    assertValidDiscovery('sensor', energy);
    assert.equal(energy.state_topic, `hearth-home/hearth/${PLUG}/state/energy`);

    // The device's state reaches Home Assistant where the document says.
    await device.publishAsync(`hearth/${PLUG}/state/power`, 'OFF', { qos: 1 });
    await waitFor(() => ha.received.some((m) => m.topic === power.state_topic && m.payload === 'OFF'), 'the state at the state_topic upstream');

    // Home Assistant's command reaches the device through the mapping, as the device's command.
    await ha.client.publishAsync(power.command_topic, 'ON', { qos: 1 });
    await waitFor(() => commands.length >= 1, 'the command at the device', 10_000);
    assert.deepEqual(commands, [{ topic: `hearth/${PLUG}/cmd/power`, payload: '{"on":true}' }]);

    // What the mapping does not forward never reaches the device.
    await ha.client.publishAsync(`hearth-ha/${NODE}/led/set`, 'ON', { qos: 1 }); // left to rules
    await ha.client.publishAsync(`hearth-ha/${NODE}/firmware/set`, 'ON', { qos: 1 }); // no such entity
    await ha.client.publishAsync(`hearth-ha/${NODE}/energy/set`, 'ON', { qos: 1 }); // read-only
    await ha.client.publishAsync(`hearth-ha/${NODE}/power/set`, '{"url":"http://evil"}', { qos: 1 }); // not payload_on/off
    await ha.client.publishAsync(`hearth-ha/acme-plug-0002/power/set`, 'ON', { qos: 1 }); // another device, never seen
    await ha.client.publishAsync(`hearth/${PLUG}/cmd/power`, 'ON', { qos: 1 }); // the device tree upstream: not imported
    await eventually(async () => /outcome="unknown-device"\} 1/.test(await metric('hearth_gateway_home_assistant_commands_total')), 'the drops to be counted');
    await sleep(500);
    assert.deepEqual(commands, [{ topic: `hearth/${PLUG}/cmd/power`, payload: '{"on":true}' }], 'nothing else reached the device');
    const counted = await metric('hearth_gateway_home_assistant_commands_total');
    for (const line of [
      'outcome="forwarded"} 1',
      'outcome="not-forwarded"} 1',
      'outcome="unmapped-entity"} 2',
      'outcome="payload-not-allowed"} 1',
      'outcome="unknown-device"} 1',
    ]) {
      assert.ok(counted.includes(line), `${line} in\n${counted}`);
    }
    const health = (await (await fetch(`${bed.gateway.metricsUrl}/healthz`)).json()) as { homeAssistant: { devices: number; commands: { forwarded: number } } };
    assert.equal(health.homeAssistant.devices, 1);
    assert.equal(health.homeAssistant.commands.forwarded, 1);

    // Revoked: Home Assistant's documents for the device are removed (empty retained payloads).
    await bed.revoke(plug.serial);
    await waitFor(() => ha.received.some((m) => m.topic === CONFIG_TOPIC && m.payload === ''), 'the document removed upstream', 20_000);
    await waitFor(() => ha.received.filter((m) => m.topic.startsWith('homeassistant/') && m.payload === '').length >= 3, 'every document removed');
    assert.equal((await retainedNow('homeassistant/#')).size, 0, 'nothing retained for the revoked device');
    // And its commands are no longer routed.
    await ha.client.publishAsync(power.command_topic, 'OFF', { qos: 1 });
    await eventually(
      async () => /outcome="unknown-device"\} 2/.test(await metric('hearth_gateway_home_assistant_commands_total')),
      "the revoked device's command dropped",
    );
  },
);

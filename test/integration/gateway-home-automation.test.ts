/**
 * The gateway as the home's hub, with the control plane stopped: the bridge exports device state
 * to the home's own broker (Debian's Mosquitto on 1883, standing in for Home Assistant's) and
 * imports its commands, a local rule turns an imported command into a device command, and a sensor
 * on the loopback-only plaintext listener gets its token over plain HTTP and publishes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { parse, stringify } from 'yaml';
import { requestSensorToken, SensorMessageCounter } from '../../src/device/sensor-client.js';
import { freeLoopbackPort } from '../support/commands.js';
import { startGatewayBed, type GatewayBed } from '../support/gateway-bed.js';
import { runCli } from '../support/hearth-process.js';

const RUN = `hearth-test-${randomBytes(4).toString('hex')}`;
const LAMP = 'urn:dev:ops:acme-lamp-porch';
const SENSOR = 'door-porch';

let bed: GatewayBed;
let rootPem: string;
let sensorPort: number;
let tokenPort: number;
const clients: MqttClient[] = [];

async function connect(options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect({ reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

function nextMessage(client: MqttClient, topic: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic} in ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (received: string, payload: Buffer) => {
      if (received !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(payload.toString());
    };
    client.on('message', onMessage);
  });
}

before(async () => {
  sensorPort = await freeLoopbackPort();
  tokenPort = await freeLoopbackPort();
  bed = await startGatewayBed({
    gatewayYaml: {
      sensors: { enabled: true, transport: 'loopback-plaintext', mqttPort: sensorPort, tokenPort },
      rules: { reloadSeconds: 1 },
      bridge: {
        url: 'mqtt://127.0.0.1:1883',
        clientId: `${RUN}-bridge`,
        export: [{ filter: 'hearth/+/state', prefix: `${RUN}/` }],
        import: [{ filter: `${RUN}/ha/#`, localPrefix: 'bridge/' }],
      },
    },
  });
  rootPem = readFileSync(bed.rootFile, 'utf8');
});

after(async () => {
  for (const client of clients) client.end(true);
  await bed?.close();
});

test('with the control plane down, state goes to the home broker and its commands reach a device through a local rule', { timeout: 120_000 }, async () => {
  const lamp = await bed.issueDevice(LAMP);
  await bed.server.stop();
  mkdirSync(bed.gatewayDir, { recursive: true });
  writeFileSync(
    join(bed.gatewayDir, 'rules.yaml'),
    stringify({
      rules: [
        {
          name: 'porch-light-from-home-assistant',
          when: { topic: `bridge/${RUN}/ha/porch/set`, match: [{ path: 'on', equals: true }] },
          then: [{ publish: { topic: `hearth/${LAMP}/cmd/light`, payload: { on: true }, qos: 1 } }],
        },
      ],
    }),
  );
  const home = await connect({ host: '127.0.0.1', port: 1883, protocolVersion: 5, clientId: `${RUN}-home` });
  await home.subscribeAsync(`${RUN}/hearth/+/state`, { qos: 1 });
  const device = await connect({
    protocol: 'mqtts',
    host: 'localhost',
    port: bed.gateway.mqttPort,
    ca: rootPem,
    key: lamp.keyPem,
    cert: lamp.certPem,
    protocolVersion: 5,
    clientId: 'lamp-porch',
  });
  await device.subscribeAsync(`hearth/${LAMP}/cmd/#`, { qos: 1 });

  const exported = nextMessage(home, `${RUN}/hearth/${LAMP}/state`);
  await device.publishAsync(`hearth/${LAMP}/state`, '{"on":false}', { qos: 1 });
  assert.equal(await exported, '{"on":false}', 'the lamp state reached the home broker');

  // The rules file is polled every second; the home broker's command is sent until the rule has it.
  const commanded = nextMessage(device, `hearth/${LAMP}/cmd/light`, 15_000);
  const sending = setInterval(() => void home.publishAsync(`${RUN}/ha/porch/set`, '{"on":true}', { qos: 1 }).catch(() => {}), 500);
  try {
    assert.equal(await commanded, '{"on":true}', 'the command came through the bridge and the rule');
  } finally {
    clearInterval(sending);
  }

  // An imported message cannot address a device directly: it lands under bridge/.
  const health = (await (await fetch(`${bed.gateway.metricsUrl}/healthz`)).json()) as { bridge: { connected: boolean; imported: number; forwarded: number } };
  assert.equal(health.bridge.connected, true);
  assert.ok(health.bridge.imported >= 1 && health.bridge.forwarded >= 1);
});

test('a sensor on the loopback plaintext listener gets its token over HTTP and publishes', { timeout: 60_000 }, async () => {
  const paired = runCli(['sensor', 'pair', SENSOR, '--dir', bed.gatewayDir], process.env);
  assert.equal(paired.status, 0, paired.stderr);
  const key = Buffer.from(/pairing key: ([A-Za-z0-9_-]+)/.exec(paired.stdout)?.[1] ?? '', 'base64url');
  const issued = await requestSensorToken({ baseUrl: `http://127.0.0.1:${tokenPort}`, sensorId: SENSOR, key, audience: 'localhost' });
  const sensor = await connect({ host: '127.0.0.1', port: sensorPort, username: SENSOR, password: issued.token, protocolVersion: 5, clientId: SENSOR });
  const counter = new SensorMessageCounter(Date.now());
  await sensor.publishAsync(`hearth/sensor:${SENSOR}/state`, '{"open":true}', { qos: 1, properties: counter.next() });
  const metrics = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
  assert.match(metrics, new RegExp(`hearth_gateway_messages_received_total\\{device="sensor:${SENSOR}"\\} 1`));
  // The same listener over TLS is not offered: a TLS ClientHello on it is not MQTT.
  await assert.rejects(
    connect({ protocol: 'mqtts', host: 'localhost', port: sensorPort, ca: rootPem, username: SENSOR, password: issued.token, protocolVersion: 5 }),
  );
});

test('a plaintext sensor listener on a non-loopback address is refused at start', () => {
  const dir = join(bed.work, 'plaintext-everywhere');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(dir, 'gateway.yaml'),
    stringify({ controlPlane: 'https://localhost:1', sensors: { enabled: true, transport: 'loopback-plaintext', host: '0.0.0.0' } }),
  );
  const result = runCli(['gateway', '--dir', dir], process.env);
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /sensors\.host: loopback-plaintext listens on 127\.0\.0\.1, ::1 or localhost only/);
  assert.equal((parse(readFileSync(join(dir, 'gateway.yaml'), 'utf8')) as { sensors: { host: string } }).sensors.host, '0.0.0.0');
});

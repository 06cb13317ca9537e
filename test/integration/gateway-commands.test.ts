/**
 * A command from the API to a device, end to end, with the real `hearth serve` and `hearth
 * gateway` processes and MQTT.js as the device: POST /api/v1/devices/:id/commands → the gateway's
 * downlink → the device, subscribed to `hearth/<id>/cmd/+` over mutual TLS, receives it at QoS 1
 * (its PUBACK makes it `delivered`) → the device publishes to the response topic → GET shows
 * `acknowledged`. The gateway is stopped and started again between queueing and delivery, and
 * between delivery and acknowledgement; an acknowledged command is never delivered again, across
 * restarts too. Another device can neither subscribe to this device's commands nor acknowledge
 * them, and an MQTT 3.1.1 device acknowledges by name.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { startGatewayBed, type DeviceFiles, type GatewayBed } from '../support/gateway-bed.js';

let bed: GatewayBed;
let rootPem: string;
let lamp: DeviceFiles;
let intruder: DeviceFiles;

interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

interface Device {
  client: MqttClient;
  received: Received[];
  next(count: number, timeoutMs?: number): Promise<Received[]>;
}

async function connectDevice(device: DeviceFiles, protocolVersion: 4 | 5 = 5): Promise<Device> {
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: 'localhost',
    port: bed.gateway.mqttPort,
    ca: rootPem,
    key: device.keyPem,
    cert: device.certPem,
    protocolVersion,
    reconnectPeriod: 0,
    clientId: `${device.deviceId.slice(-12)}-${protocolVersion}`,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => {}); // the gateway may go away under it
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload, packet }));
  return {
    client,
    received,
    async next(count, timeoutMs = 15_000) {
      await waitFor(`${count} messages at ${device.deviceId}`, async () => received.length >= count, timeoutMs, 20);
      return received;
    },
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

interface CommandView {
  id: string;
  state: string;
  sequence: number;
  deliveredAt: string | null;
  acknowledgedAt: string | null;
  detail: string | null;
}

const queue = (deviceId: string, body: Record<string, unknown>) => bed.server.client.call<CommandView>('POST', `/api/v1/devices/${deviceId}/commands`, body);
const read = (deviceId: string, id: string) => bed.server.client.call<CommandView>('GET', `/api/v1/devices/${deviceId}/commands/${id}`);
const waitForState = (deviceId: string, id: string, state: string, timeoutMs = 15_000) =>
  waitFor(`${id} to be ${state}`, async () => (await read(deviceId, id)).state === state, timeoutMs);

async function restartGateway(): Promise<void> {
  await bed.gateway.stop();
  bed.gateway = await bed.startGateway();
}

/** The device attaches itself to the gateway the way devices do: its first message goes up through it. */
async function attach(device: DeviceFiles): Promise<void> {
  const client = await connectDevice(device);
  await client.client.publishAsync(`hearth/${device.deviceId}/state`, '{"online":true}', { qos: 1 });
  client.client.end(true);
  await waitFor(
    `${device.deviceId} attached`,
    async () => {
      const answer = await bed.server.client.call<{ count: number }>('GET', `/api/v1/telemetry?deviceId=${encodeURIComponent(device.deviceId)}&limit=1`);
      return answer.count > 0;
    },
    30_000,
  );
}

before(async () => {
  bed = await startGatewayBed();
  rootPem = readFileSync(bed.rootFile, 'utf8');
  lamp = await bed.issueDevice('urn:dev:ops:acme-lamp-cmd1');
  intruder = await bed.issueDevice('urn:dev:ops:acme-lamp-cmd2');
  await attach(lamp);
  await attach(intruder);
});

after(async () => {
  await bed?.close();
});

test('API → downlink → device → acknowledgement: delivered at the PUBACK, acknowledged at the ack, never delivered twice', { timeout: 60_000 }, async () => {
  const device = await connectDevice(lamp);
  await device.client.subscribeAsync(`hearth/${lamp.deviceId}/cmd/+`, { qos: 1 });
  const command = await queue(lamp.deviceId, { name: 'light', payload: { on: true } });
  assert.equal(command.state, 'queued');
  const [message] = await device.next(1);
  assert.equal(message?.topic, `hearth/${lamp.deviceId}/cmd/light`);
  assert.equal(message?.payload.toString(), '{"on":true}');
  assert.equal(message?.packet.qos, 1);
  const properties = message?.packet.properties;
  assert.equal(properties?.responseTopic, `hearth/${lamp.deviceId}/cmd/light/ack`);
  assert.equal(Buffer.from(properties?.correlationData ?? []).toString(), command.id);
  assert.deepEqual({ ...properties?.userProperties }, { 'hearth-command-id': command.id });
  await waitForState(lamp.deviceId, command.id, 'delivered');

  await device.client.publishAsync(properties?.responseTopic ?? '', '{"detail":"light is on"}', {
    qos: 1,
    properties: { correlationData: properties?.correlationData as Buffer },
  });
  await waitForState(lamp.deviceId, command.id, 'acknowledged');
  const done = await read(lamp.deviceId, command.id);
  assert.ok(done.deliveredAt !== null && done.acknowledgedAt !== null && done.deliveredAt <= done.acknowledgedAt);
  assert.equal(done.detail, 'light is on');

  // Past the gateway's resend interval for unanswered commands: nothing comes again.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  assert.equal(device.received.length, 1, 'delivered once');
  device.client.end(true);
});

test(
  'queued while the gateway is down, delivered after its restart; delivered before a restart, acknowledged after it; never again after',
  { timeout: 180_000 },
  async () => {
    await bed.gateway.stop();
    const whileDown = await queue(lamp.deviceId, { name: 'light', payload: { on: false }, ttlSeconds: 600 });
    bed.gateway = await bed.startGateway();
    const device = await connectDevice(lamp);
    await device.client.subscribeAsync(`hearth/${lamp.deviceId}/cmd/+`, { qos: 1 });
    const [first] = await device.next(1, 30_000);
    assert.equal(Buffer.from(first?.packet.properties?.correlationData ?? []).toString(), whileDown.id);
    await waitForState(lamp.deviceId, whileDown.id, 'delivered');

    // Delivered, not acknowledged, when the gateway stops: after its restart it still knows the
    // command (on its disk), so the device's late acknowledgement counts, and it is not sent again.
    device.client.end(true);
    await restartGateway();
    const again = await connectDevice(lamp);
    await again.client.subscribeAsync(`hearth/${lamp.deviceId}/cmd/+`, { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(again.received.length, 0, 'a delivered command is not delivered again');
    await again.client.publishAsync(`hearth/${lamp.deviceId}/cmd/light/ack`, '', { qos: 1, properties: { correlationData: Buffer.from(whileDown.id) } });
    await waitForState(lamp.deviceId, whileDown.id, 'acknowledged');
    again.client.end(true);

    await restartGateway();
    const afterAck = await connectDevice(lamp);
    await afterAck.client.subscribeAsync(`hearth/${lamp.deviceId}/cmd/+`, { qos: 1 });
    const fresh = await queue(lamp.deviceId, { name: 'reboot' });
    const [only] = await afterAck.next(1);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.deepEqual(
      afterAck.received.map((m) => m.topic),
      [`hearth/${lamp.deviceId}/cmd/reboot`],
      'only the new command: the acknowledged one is not replayed',
    );
    assert.equal(Buffer.from(only?.packet.properties?.correlationData ?? []).toString(), fresh.id);
    afterAck.client.end(true);
  },
);

test("another device may not subscribe to this device's commands, nor acknowledge them", { timeout: 60_000 }, async () => {
  const attacker = await connectDevice(intruder);
  for (const filter of [`hearth/${lamp.deviceId}/cmd/+`, `hearth/${lamp.deviceId}/cmd/#`, 'hearth/+/cmd/#', '#']) {
    const granted = await attacker.client.subscribeAsync(filter, { qos: 1 }).then(
      ([grant]) => grant?.qos,
      (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0],
    );
    assert.equal(granted, 0x87, `${filter}: not authorized`);
  }
  const device = await connectDevice(lamp);
  await device.client.subscribeAsync(`hearth/${lamp.deviceId}/cmd/+`, { qos: 1 });
  const command = await queue(lamp.deviceId, { name: 'unlock', payload: { door: 'front' } });
  await device.next(1);
  await waitForState(lamp.deviceId, command.id, 'delivered');
  const forged = await new Promise<number | undefined>((resolve) => {
    attacker.client.publish(
      `hearth/${lamp.deviceId}/cmd/unlock/ack`,
      '',
      { qos: 1, properties: { correlationData: Buffer.from(command.id) } },
      (_err, packet) => resolve((packet as { reasonCode?: number } | undefined)?.reasonCode),
    );
  });
  assert.equal(forged, 0x87, 'the forged acknowledgement is refused');
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal((await read(lamp.deviceId, command.id)).state, 'delivered');
  assert.equal(attacker.received.length, 0, 'the attacker heard nothing');
  await device.client.publishAsync(`hearth/${lamp.deviceId}/cmd/unlock/ack`, '{"error":"jammed"}', { qos: 1 });
  await waitForState(lamp.deviceId, command.id, 'failed');
  assert.equal((await read(lamp.deviceId, command.id)).detail, 'jammed');
  attacker.client.end(true);
  device.client.end(true);
});

test('an MQTT 3.1.1 device gets the bare command and acknowledges it by name', { timeout: 60_000 }, async () => {
  const device = await connectDevice(lamp, 4);
  await device.client.subscribeAsync(`hearth/${lamp.deviceId}/cmd/+`, { qos: 1 });
  const command = await queue(lamp.deviceId, { name: 'dim', payloadBase64: Buffer.from([0x28]).toString('base64') });
  const [message] = await device.next(1);
  assert.deepEqual([...(message?.payload ?? [])], [0x28]);
  await device.client.publishAsync(`hearth/${lamp.deviceId}/cmd/dim/ack`, '', { qos: 1 });
  await waitForState(lamp.deviceId, command.id, 'acknowledged');
  device.client.end(true);
});

/**
 * Store-and-forward from a real gateway to a real control plane: with the control plane stopped,
 * 10,000 QoS 1 messages are acknowledged by the gateway and wait on its disk; when the control
 * plane is back every one of them is stored, exactly once. A gateway killed (SIGKILL) in the middle
 * of sending loses none of the messages it acknowledged and, sending again after its restart,
 * stores none twice.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { startGatewayBed, type DeviceFiles, type GatewayBed } from '../support/gateway-bed.js';

let bed: GatewayBed;
let rootPem: string;

before(async () => {
  bed = await startGatewayBed({ fixedPorts: true });
  rootPem = readFileSync(bed.rootFile, 'utf8');
});

after(async () => {
  await bed?.close();
});

async function connectDevice(device: DeviceFiles): Promise<MqttClient> {
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: 'localhost',
    port: bed.gateway.mqttPort,
    ca: rootPem,
    key: device.keyPem,
    cert: device.certPem,
    protocolVersion: 5,
    reconnectPeriod: 0,
    clientId: device.deviceId.slice(-20),
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

/** QoS 1 publishes with at most `window` unacknowledged, as a device with a small receive buffer would send them. */
async function publishAll(client: MqttClient, topic: string, count: number, label: string, window = 200): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await client.publishAsync(topic, JSON.stringify({ label, i }), { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

/** What the control plane stored for a device, read from its database: every payload, and how often. */
function storedPayloads(deviceId: string): Map<string, number> {
  const db = new Database(join(bed.installation.dir, 'hearth.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT payload, count(*) AS n FROM telemetry_messages WHERE device_id = ? GROUP BY payload').all(deviceId) as {
      payload: Buffer;
      n: number;
    }[];
    return new Map(rows.map((r) => [Buffer.from(r.payload).toString('utf8'), r.n]));
  } finally {
    db.close();
  }
}

async function telemetryCount(deviceId: string): Promise<number> {
  const answer = await bed.server.client.call<{ count: number }>('GET', `/api/v1/telemetry?deviceId=${encodeURIComponent(deviceId)}&limit=1`);
  return answer.count;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function assertExactlyOnce(deviceId: string, label: string, count: number): void {
  const stored = storedPayloads(deviceId);
  const mine = [...stored].filter(([payload]) => (JSON.parse(payload) as { label?: string }).label === label);
  const twice = mine.filter(([, n]) => n > 1);
  assert.equal(
    twice.length,
    0,
    `stored more than once: ${twice
      .slice(0, 3)
      .map(([p]) => p)
      .join(', ')}`,
  );
  const seen = new Set(mine.map(([payload]) => (JSON.parse(payload) as { i: number }).i));
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${count} never arrived`);
  assert.equal(mine.length, count);
}

async function gatewayMetric(name: string): Promise<number> {
  const text = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : Number.NaN;
}

test('through a control-plane outage, 10,000 acknowledged messages arrive exactly once', { timeout: 240_000 }, async (t) => {
  const device = await bed.issueDevice('urn:dev:ops:acme-meter-outage');
  const topic = `hearth/${device.deviceId}/energy`;
  const client = await connectDevice(device);
  await publishAll(client, topic, 5, 'before');
  await waitFor('the first messages at the control plane', async () => (await telemetryCount(device.deviceId)) === 5, 30_000);

  await bed.server.stop();
  const started = performance.now();
  await publishAll(client, topic, 10_000, 'outage');
  t.diagnostic(`10,000 QoS 1 messages acknowledged by the gateway with the control plane down in ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(await gatewayMetric('hearth_gateway_uplink_queued'), 10_000, 'all of them wait in the queue on disk');
  const health = (await (await fetch(`${bed.gateway.metricsUrl}/healthz`)).json()) as { uplink: { reachable: boolean; queued: number } };
  assert.equal(health.uplink.reachable, false);

  await bed.restartServer();
  const back = performance.now();
  await waitFor('the queue to drain', async () => (await gatewayMetric('hearth_gateway_uplink_queued')) === 0, 120_000);
  t.diagnostic(`the queue drained ${(performance.now() - back).toFixed(0)} ms after the control plane came back`);
  assert.equal(await telemetryCount(device.deviceId), 10_005);
  assertExactlyOnce(device.deviceId, 'outage', 10_000);
  assertExactlyOnce(device.deviceId, 'before', 5);
  client.end(true);
});

test('a gateway killed while it sends loses no acknowledged message and stores none twice', { timeout: 240_000 }, async (t) => {
  const device = await bed.issueDevice('urn:dev:ops:acme-meter-killed');
  const topic = `hearth/${device.deviceId}/energy`;
  const client = await connectDevice(device);
  client.on('error', () => {}); // the gateway goes away under it
  await bed.server.stop();
  await publishAll(client, topic, 3_000, 'killed');
  const sentBefore = await gatewayMetric('hearth_gateway_uplink_sent_total');
  await bed.restartServer();
  // Killed as soon as the first batch is confirmed: the rest is on disk, perhaps one batch in flight.
  await waitFor('the first batch sent', async () => (await gatewayMetric('hearth_gateway_uplink_sent_total')) > sentBefore, 60_000, 5);
  bed.gateway.process.kill('SIGKILL');
  await bed.gateway.stop();
  client.end(true);
  const storedAtKill = await telemetryCount(device.deviceId);
  t.diagnostic(`stored when the gateway was killed: ${storedAtKill} of 3,000`);
  assert.ok(storedAtKill < 3_000, 'the kill came before the queue had drained');

  bed.gateway = await bed.startGateway();
  await waitFor('the restarted gateway to drain its queue', async () => (await gatewayMetric('hearth_gateway_uplink_queued')) === 0, 120_000);
  assert.equal(await telemetryCount(device.deviceId), 3_000);
  assertExactlyOnce(device.deviceId, 'killed', 3_000);
});

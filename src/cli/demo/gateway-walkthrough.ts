/**
 * The home gateway part of `hearth demo`: a gateway started in this process enrolls itself over
 * ACME (http-01 on loopback), the demo's device certificates connect to it as MQTT 5 clients over
 * mutual TLS and publish telemetry, the revoked one is refused at CONNECT, a live one is revoked
 * through the API and its session closed by the gateway, a paired sensor publishes with a token
 * and counters, and the control plane's store and the gateway's metrics show what happened.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger } from '../../core/logger.js';
import { HttpsTransport } from '../../device/https-transport.js';
import { requestSensorToken, SensorMessageCounter } from '../../device/sensor-client.js';
import { gatewayConfigSchema } from '../../gateway/gateway-config.js';
import { startGateway, type RunningGateway } from '../../gateway/gateway.js';
import type { ApiClient } from '../api-client.js';
import type { DemoDevice } from './demo-devices.js';
import { haveCommand, runShown } from './run-shown.js';

const MESSAGES_PER_DEVICE = 3;
const SENSOR_ID = 'pir-demo';
const REVOCATION_WAIT_MS = 10_000;
const STORED_WAIT_MS = 20_000;
const METRICS = [
  'hearth_gateway_mqtt_connects_total',
  'hearth_gateway_connections_refused_total',
  'hearth_gateway_uplink_sent_total',
  'hearth_gateway_revocation_disconnects_total',
];

export interface GatewayWalkthroughOptions {
  /** The demo folder; the gateway gets `gateway/` inside it. */
  dir: string;
  client: ApiClient;
  apiUrl: string;
  rootPem: string;
  /** The port the control plane's http-01 validation connects to on 127.0.0.1. */
  http01Port: number;
  devices: DemoDevice[];
  /** Issues one more device certificate (when too few are left to revoke one live). */
  issueDevice(): Promise<DemoDevice>;
}

const short = (deviceId: string) => deviceId.padEnd(34);

function connectClient(options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect({ protocol: 'mqtts', host: 'localhost', reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 5, ...options });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

function publishTelemetry(client: MqttClient, topic: string, count: number, first = 1): Promise<unknown> {
  const sends: Promise<unknown>[] = [];
  for (let i = first; i < first + count; i++) {
    sends.push(client.publishAsync(topic, JSON.stringify({ seq: i, temperatureC: Math.round((19 + Math.random() * 4) * 10) / 10 }), { qos: 1 }));
  }
  return Promise.all(sends);
}

/** Starts the gateway and walks through it; the gateway is returned running. */
export async function gatewayWalkthrough(options: GatewayWalkthroughOptions): Promise<RunningGateway> {
  const { dir, client, rootPem } = options;
  console.log('\nHome gateway: it enrolls over ACME, then the devices connect over mutual TLS and publish\n');
  const gatewayDir = join(dir, 'gateway');
  // Registered first, as an operator does (`hearth gateways register`): the registration's EAB key
  // makes the gateway's ACME account the one that gets gateway certificates for its name.
  const registration = await client.call<{ eabKid: string; hmacKey: string }>('POST', '/api/v1/gateways', { name: 'localhost' });
  mkdirSync(gatewayDir, { recursive: true, mode: 0o700 });
  const hmacKeyFile = join(gatewayDir, 'eab-hmac.key');
  writeFileSync(hmacKeyFile, registration.hmacKey, { mode: 0o600 });
  console.log(`registered gateway localhost (EAB key ${registration.eabKid})`);
  const config = gatewayConfigSchema.parse({
    controlPlane: options.apiUrl,
    name: 'localhost',
    enrollment: { http01Host: '127.0.0.1', http01Port: options.http01Port, eab: { kid: registration.eabKid, hmacKeyFile } },
    mqtt: { host: '127.0.0.1', port: 0 },
    sensors: { enabled: true, host: '127.0.0.1', mqttPort: 0, tokenPort: 0 },
    metrics: { port: 0 },
  });
  // The demo reports what the gateway does itself; its own log is for errors unless asked for more.
  const gateway = await startGateway({ dir: gatewayDir, config, logger: createLogger(process.env.HEARTH_LOG_LEVEL ?? 'error'), rootPem });
  const clients: MqttClient[] = [];
  const transport = new HttpsTransport({ caPem: rootPem });
  try {
    const own = gateway.credentials();
    console.log(`gateway    localhost in ${gatewayDir}`);
    console.log(`           gateway certificate ${own.serial} from the services CA (ACME http-01 with the EAB key), until ${own.notAfter.toISOString()}`);
    console.log(`mqtts      localhost:${gateway.mqttPort}   (devices, mutual TLS)`);
    const sensors = gateway.sensors;
    if (sensors) console.log(`sensors    localhost:${sensors.mqttPort}   (token auth), pairing https://localhost:${sensors.tokenPort}/sensor/v1/token`);
    console.log(`metrics    ${gateway.metricsUrl}/metrics\n`);

    const connect = (device: DemoDevice) =>
      connectClient({ port: gateway.mqttPort, ca: rootPem, key: device.keyPem, cert: device.chainPem, clientId: `demo-bulb-${device.index}` });
    let live = options.devices.filter((d) => !d.revoked);
    if (live.length < 2) live = [...live, await options.issueDevice()];
    const connected = new Map<DemoDevice, MqttClient>();
    for (const device of live) {
      const mqttClient = await connect(device);
      clients.push(mqttClient);
      connected.set(device, mqttClient);
      console.log(`connected  ${short(device.deviceId)} MQTT 5 over mutual TLS, certificate ${device.serial}`);
    }
    await Promise.all([...connected].map(([device, mqttClient]) => publishTelemetry(mqttClient, `hearth/${device.deviceId}/telemetry`, MESSAGES_PER_DEVICE)));
    console.log(
      `published  ${MESSAGES_PER_DEVICE} QoS 1 messages from each on hearth/<device-id>/telemetry, every one acknowledged (PUBACK after the gateway queued it on disk)`,
    );

    for (const device of options.devices.filter((d) => d.revoked)) {
      try {
        clients.push(await connect(device));
        console.log(`ACCEPTED   ${short(device.deviceId)} although its certificate ${device.serial} is revoked`);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const reason = code === 0x87 ? 'CONNACK 0x87 Not authorized' : `refused (${(err as Error).message})`;
        console.log(`refused    ${short(device.deviceId)} ${reason}: certificate ${device.serial} is revoked`);
      }
    }

    // A live device revoked through the API: the push stream tells the gateway, which cuts it off.
    const victim = live[live.length - 1] as DemoDevice;
    const victimClient = connected.get(victim) as MqttClient;
    let disconnectReason: number | undefined;
    victimClient.on('disconnect', (packet) => (disconnectReason = packet.reasonCode));
    victimClient.on('error', () => {});
    const closed = new Promise<number>((resolve) => victimClient.stream.once('close', () => resolve(performance.now())));
    const start = performance.now();
    await client.call('POST', `/api/v1/certificates/${victim.serial}/revoke`, { reason: 'keyCompromise' });
    victim.revoked = true;
    const waited = new AbortController();
    const timedOut = new Promise<undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), REVOCATION_WAIT_MS);
      waited.signal.addEventListener('abort', () => clearTimeout(timer));
    });
    const closedAt = await Promise.race([closed, timedOut]);
    waited.abort();
    if (closedAt === undefined)
      console.log(`revoked    ${short(victim.deviceId)} while connected, but its session was still open after ${REVOCATION_WAIT_MS / 1000} s`);
    else {
      const why =
        disconnectReason === 0x87
          ? 'DISCONNECT 0x87 Not authorized'
          : disconnectReason === undefined
            ? 'connection closed'
            : `DISCONNECT 0x${disconnectReason.toString(16)}`;
      console.log(
        `revoked    ${short(victim.deviceId)} while connected: the gateway closed its session ${(closedAt - start).toFixed(1)} ms after the revoke call (${why})`,
      );
    }

    const expected = new Map<string, number>(live.map((d) => [d.deviceId, MESSAGES_PER_DEVICE]));
    for (const device of options.devices.filter((d) => d.revoked && d !== victim)) expected.set(device.deviceId, 0);

    if (sensors) {
      const key = await sensors.registry.pair(SENSOR_ID);
      console.log(`paired     sensor ${SENSOR_ID}   (what \`hearth sensor pair ${SENSOR_ID} --dir ${gatewayDir}\` does)`);
      const issued = await requestSensorToken({
        baseUrl: `https://localhost:${sensors.tokenPort}`,
        sensorId: SENSOR_ID,
        key,
        audience: 'localhost',
        transport,
      });
      const sensor = await connectClient({ port: sensors.mqttPort, ca: rootPem, username: SENSOR_ID, password: issued.token, clientId: SENSOR_ID });
      clients.push(sensor);
      const counter = new SensorMessageCounter(0);
      for (let i = 1; i <= MESSAGES_PER_DEVICE; i++) {
        await sensor.publishAsync(`hearth/sensor:${SENSOR_ID}/telemetry`, JSON.stringify({ seq: i, motion: i % 2 === 1 }), {
          qos: 1,
          properties: counter.next(),
        });
      }
      console.log(`sensor     ${SENSOR_ID} answered the pairing challenge for a token (valid until ${issued.expiresAt.toISOString()}),`);
      console.log(`           connected with it over TLS and published ${MESSAGES_PER_DEVICE} QoS 1 messages with counters 1-${counter.value}`);
      expected.set(`sensor:${SENSOR_ID}`, MESSAGES_PER_DEVICE);
    }

    // mosquitto as the first live device, with the files in the demo folder.
    const device = live[0] as DemoDevice;
    const base = `-V mqttv5 -h localhost -p ${gateway.mqttPort} --cafile ca/root.pem --cert ${device.files.chain} --key ${device.files.key}`;
    const publish = `mosquitto_pub ${base} -d -q 1 -t 'hearth/${device.deviceId}/telemetry' -m '{"seq":${MESSAGES_PER_DEVICE + 1},"from":"mosquitto"}'`;
    console.log(`\nTalk to the gateway as ${device.files.cert.replace('.pem', '')} with mosquitto (in ${dir}):\n`);
    if (haveCommand('mosquitto_pub')) {
      if (await runShown(publish, dir)) expected.set(device.deviceId, (expected.get(device.deviceId) ?? 0) + 1);
    } else console.log(`$ ${publish}`);
    console.log(`$ mosquitto_sub ${base} -t 'hearth/${device.deviceId}/cmd/#' -v`);
    console.log(`$ mosquitto_pub ${base} -t 'hearth/${device.deviceId}/cmd/light' -m '{"on":true}'   # in another terminal`);

    console.log('\nStored by the control plane (GET /api/v1/telemetry), sent up by the gateway:\n');
    const counts = await storedCounts(client, expected);
    for (const [deviceId, want] of expected) {
      const note = want === 0 ? '   (refused at CONNECT)' : counts.get(deviceId) === want ? '' : `   (expected ${want})`;
      console.log(`  ${short(deviceId)} ${counts.get(deviceId) ?? 0} messages${note}`);
    }

    console.log(`\nGateway metrics (${gateway.metricsUrl}/metrics):\n`);
    // The gateway counts a message sent once it has read the control plane's answer, which can be
    // a moment after the store shows the message: wait (briefly) for the counter to catch up.
    const sent = [...expected.values()].reduce((sum, n) => sum + n, 0);
    let text = '';
    for (const deadline = Date.now() + 5_000; ;) {
      text = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
      const counted = Number(/^hearth_gateway_uplink_sent_total (\d+)$/m.exec(text)?.[1] ?? 0);
      if (counted >= sent || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const line of text.split('\n')) if (METRICS.some((name) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))) console.log(`  ${line}`);
  } catch (err) {
    for (const mqttClient of clients) mqttClient.end(true);
    transport.close();
    await gateway.close();
    throw err;
  }
  await Promise.all(clients.map((mqttClient) => mqttClient.endAsync(true)));
  transport.close();
  return gateway;
}

/** Per device, what the control plane has stored, waited for until it is what was sent (or time is up). */
async function storedCounts(client: ApiClient, expected: Map<string, number>): Promise<Map<string, number>> {
  const deadline = Date.now() + STORED_WAIT_MS;
  const counts = new Map<string, number>();
  for (;;) {
    for (const deviceId of expected.keys()) {
      const answer = await client.call<{ count: number }>('GET', `/api/v1/telemetry?deviceId=${encodeURIComponent(deviceId)}&limit=1`);
      counts.set(deviceId, answer.count);
    }
    if ([...expected].every(([deviceId, want]) => counts.get(deviceId) === want) || Date.now() > deadline) return counts;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

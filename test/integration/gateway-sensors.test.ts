/**
 * Constrained sensors on a real gateway: paired with `hearth sensor pair`, a sensor answers the
 * gateway's challenge for a token and connects with it (MQTT.js, MQTT 5 and 3.1.1) over
 * server-authenticated TLS. Its messages carry counters; a replay is dropped. Tokens with another
 * audience, `alg: none`, an HMAC algorithm, an expired lifetime or no token at all are refused
 * with "not authorized" while the good sensor's session goes on. A local rule turns the sensor's
 * motion into a command for a lamp, and the sensor's messages reach the control plane.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { HttpsTransport } from '../../src/device/https-transport.js';
import { requestSensorToken, SensorMessageCounter } from '../../src/device/sensor-client.js';
import { pairingProof } from '../../src/protocols/sensor-pairing.js';
import { freeLoopbackPort } from '../support/commands.js';
import { startGatewayBed, type GatewayBed } from '../support/gateway-bed.js';
import { runCli } from '../support/hearth-process.js';

const SENSOR = 'pir-hall';
const LAMP = 'urn:dev:ops:acme-lamp-hall';

let bed: GatewayBed;
let rootPem: string;
let sensorPort: number;
let tokenPort: number;
let transport: HttpsTransport;
const clients: MqttClient[] = [];

before(async () => {
  sensorPort = await freeLoopbackPort();
  tokenPort = await freeLoopbackPort();
  bed = await startGatewayBed({ gatewayYaml: { sensors: { enabled: true, mqttPort: sensorPort, tokenPort }, rules: { reloadSeconds: 1 } } });
  rootPem = readFileSync(bed.rootFile, 'utf8');
  transport = new HttpsTransport({ caPem: rootPem });
});

after(async () => {
  for (const client of clients) client.end(true);
  await bed?.close();
});

function pair(sensorId: string): Buffer {
  const result = runCli(['sensor', 'pair', sensorId, '--dir', bed.gatewayDir], process.env);
  assert.equal(result.status, 0, result.stderr);
  const key = /pairing key: ([A-Za-z0-9_-]+)/.exec(result.stdout)?.[1];
  assert.ok(key, result.stdout);
  return Buffer.from(key, 'base64url');
}

async function connect(options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect({ protocol: 'mqtts', host: 'localhost', ca: rootPem, reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

/** What a CONNECT with this password gets: 'connected', or the CONNACK reason code. */
async function connectOutcome(password: string | undefined, protocolVersion: 4 | 5 = 5): Promise<'connected' | number> {
  try {
    const client = await connect({ port: sensorPort, username: SENSOR, ...(password !== undefined ? { password } : {}), protocolVersion });
    client.end(true);
    return 'connected';
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

async function gatewayMetric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A token signed with the gateway's own key but with claims of the test's choosing. */
async function forgedToken(claims: { aud?: string; iat?: number; exp?: number }): Promise<string> {
  const stored = JSON.parse(readFileSync(join(bed.gatewayDir, 'sensors', 'token-key.json'), 'utf8')) as JWK & { alg: string };
  const key = await importJWK(stored, stored.alg);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: stored.alg, typ: 'hearth-sensor+jwt' })
    .setIssuer('localhost')
    .setSubject(SENSOR)
    .setJti(randomUUID())
    .setAudience(claims.aud ?? 'localhost')
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 300)
    .sign(key);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('a paired sensor gets a token, connects, and its counted messages drive a local rule and reach the control plane', { timeout: 120_000 }, async (t) => {
  const lamp = await bed.issueDevice(LAMP);
  const lampClient = await connect({ port: bed.gateway.mqttPort, key: lamp.keyPem, cert: lamp.certPem, protocolVersion: 5, clientId: 'lamp-hall' });
  const commands: string[] = [];
  lampClient.on('message', (topic, payload) => commands.push(`${topic} ${payload.toString()}`));
  await lampClient.subscribeAsync(`hearth/${LAMP}/cmd/#`, { qos: 1 });
  writeFileSync(
    join(bed.gatewayDir, 'rules.yaml'),
    [
      'rules:',
      '  - name: hall-light-on-motion',
      '    when:',
      `      topic: hearth/sensor:${SENSOR}/state`,
      '      match:',
      '        - { path: motion, equals: true }',
      '    then:',
      `      - publish: { topic: "hearth/${LAMP}/cmd/light", payload: { on: true }, qos: 1 }`,
      '',
    ].join('\n'),
  );
  await waitFor(
    'the rules to be loaded',
    async () => ((await (await fetch(`${bed.gateway.metricsUrl}/healthz`)).json()) as { rules?: { evaluated: number } }).rules !== undefined,
  );

  const key = pair(SENSOR);
  const issued = await requestSensorToken({ baseUrl: `https://localhost:${tokenPort}`, sensorId: SENSOR, key, audience: 'localhost', transport });
  assert.ok(issued.expiresAt.getTime() - Date.now() <= 900_000, 'a token lives at most 15 minutes');
  const sensor = await connect({ port: sensorPort, username: SENSOR, password: issued.token, protocolVersion: 5, clientId: 'pir-hall' });
  const counter = new SensorMessageCounter(1_000);
  // The rules file is polled every second: publish until the rule has fired once.
  await waitFor('the rule to command the lamp', async () => {
    await sensor.publishAsync(`hearth/sensor:${SENSOR}/state`, JSON.stringify({ motion: true }), { qos: 1, properties: counter.next() });
    return commands.length > 0;
  });
  assert.equal(commands[0], `hearth/${LAMP}/cmd/light {"on":true}`);

  // The same counter again: a replay, dropped and refused.
  const replayed = { userProperties: { counter: String(counter.value) } };
  const before = commands.length;
  await assert.rejects(
    sensor.publishAsync(`hearth/sensor:${SENSOR}/state`, JSON.stringify({ motion: true }), { qos: 1, properties: replayed }),
    /Not authorized|135/i,
  );
  await assert.rejects(sensor.publishAsync(`hearth/sensor:${SENSOR}/state`, JSON.stringify({ motion: true }), { qos: 1 }), /Payload format invalid|153/i);
  assert.equal(await gatewayMetric('hearth_gateway_sensor_replays_rejected_total', '{verdict="replayed"}'), 1);
  assert.equal(await gatewayMetric('hearth_gateway_sensor_replays_rejected_total', '{verdict="no-counter"}'), 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(commands.length, before, 'a replayed message triggers nothing');

  // Outside its own tree a sensor is refused like a device.
  await assert.rejects(sensor.publishAsync(`hearth/${LAMP}/cmd/light`, '{"on":false}', { qos: 1, properties: counter.next() }), /Not authorized|135/i);

  // An MQTT 3.1.1 sensor puts its counter in the JSON payload.
  const old = await connect({ port: sensorPort, username: SENSOR, password: issued.token, protocolVersion: 4, clientId: 'pir-hall-311' });
  await old.publishAsync(`hearth/sensor:${SENSOR}/battery`, JSON.stringify({ counter: counter.value + 10, level: 80 }), { qos: 1 });
  old.end(true);

  await waitFor('the sensor messages at the control plane', async () => {
    const answer = await bed.server.client.call<{ count: number }>('GET', `/api/v1/telemetry?deviceId=${encodeURIComponent(`sensor:${SENSOR}`)}&limit=1`);
    return answer.count >= 2;
  });
  t.diagnostic(`rule fired after ${counter.value - 1_000} published messages`);

  // Bad tokens, each refused at CONNECT while the good session stays up.
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'none', typ: 'hearth-sensor+jwt' };
  const claims = { iss: 'localhost', aud: 'localhost', sub: SENSOR, iat: now, exp: now + 300, jti: randomUUID() };
  const cases: [string, string | undefined, string][] = [
    ['no token', undefined, 'no-token'],
    ['alg none', `${b64url(header)}.${b64url(claims)}.`, 'algorithm'],
    ['HS256', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'hearth-sensor+jwt' }).sign(Buffer.alloc(32, 7)), 'algorithm'],
    ['another audience', await forgedToken({ aud: 'other-gateway.home.arpa' }), 'audience'],
    ['expired', await forgedToken({ iat: now - 1_000, exp: now - 100 }), 'expired'],
    ['over 15 minutes', await forgedToken({ iat: now, exp: now + 3_600 }), 'lifetime'],
    ['garbage', 'not-a-jwt', 'malformed'],
  ];
  for (const [name, password, reason] of cases) {
    const beforeCount = await gatewayMetric('hearth_gateway_sensor_auth_failures_total', `{reason="${reason}"}`);
    assert.equal(await connectOutcome(password), 135, `${name}: refused as not authorized`);
    assert.equal(await gatewayMetric('hearth_gateway_sensor_auth_failures_total', `{reason="${reason}"}`), beforeCount + 1, `${name}: counted as ${reason}`);
  }
  assert.equal(await connectOutcome('not-a-jwt', 4), 5, 'MQTT 3.1.1: CONNACK 5, not authorized');
  assert.ok(sensor.connected, 'the good sensor stayed connected through all of it');

  // A wrong pairing proof gets no token.
  const challenge = (
    JSON.parse(
      (
        await transport.send('POST', `https://localhost:${tokenPort}/sensor/v1/challenge`, JSON.stringify({ sensorId: SENSOR }), {
          'content-type': 'application/json',
        })
      ).body.toString(),
    ) as { challenge: string }
  ).challenge;
  const wrong = await transport.send(
    'POST',
    `https://localhost:${tokenPort}/sensor/v1/token`,
    JSON.stringify({ sensorId: SENSOR, challenge, proof: pairingProof(Buffer.alloc(32), SENSOR, 'localhost', challenge) }),
    { 'content-type': 'application/json' },
  );
  assert.equal(wrong.status, 401);
  assert.equal(await gatewayMetric('hearth_gateway_sensor_auth_failures_total', '{reason="wrong-proof"}'), 1);

  // Unpaired while connected: cut off within the registry's reload period.
  const unpairedAt = Date.now();
  const closed = new Promise<void>((resolve) => sensor.once('close', () => resolve()));
  const result = runCli(['sensor', 'unpair', SENSOR, '--dir', bed.gatewayDir], process.env);
  assert.equal(result.status, 0, result.stderr);
  await closed;
  t.diagnostic(`unpaired sensor disconnected ${Date.now() - unpairedAt} ms after hearth sensor unpair`);
  assert.equal(await connectOutcome(issued.token), 135, 'its token no longer admits it');
});

test('the replay windows outlive a gateway restart', { timeout: 120_000 }, async () => {
  const sensorId = 'thermo-attic';
  const key = pair(sensorId);
  const publishWith = async (counter: number) => {
    const issued = await requestSensorToken({ baseUrl: `https://localhost:${tokenPort}`, sensorId, key, audience: 'localhost', transport });
    const client = await connect({ port: sensorPort, username: sensorId, password: issued.token, protocolVersion: 5, clientId: sensorId });
    try {
      await client.publishAsync(`hearth/sensor:${sensorId}/temperature`, '21.5', { qos: 1, properties: { userProperties: { counter: String(counter) } } });
      return 'accepted';
    } catch (err) {
      return (err as Error).message;
    } finally {
      client.end(true);
    }
  };
  assert.equal(await publishWith(41), 'accepted');
  await bed.gateway.stop();
  bed.gateway = await bed.startGateway();
  assert.match(await publishWith(41), /Not authorized/i, 'the counter seen before the restart is a replay after it');
  assert.equal(await publishWith(42), 'accepted');
});

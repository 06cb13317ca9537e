/**
 * A gateway's live sessions under the things that must end them, measured with MQTT.js: a
 * revocation closes the device's session within a second of the revoke call; TLS session
 * resumption does not get a revoked certificate back in; an oversized or malformed packet and a
 * connect flood end only the offender's connection. The TLS offered is checked with openssl.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { installedTcmalloc, runCommand } from '../support/commands.js';
import { startGatewayBed, type DeviceFiles, type GatewayBed } from '../support/gateway-bed.js';

let bed: GatewayBed;
let rootPem: string;

before(async () => {
  // Session tickets on (they are off by default), for the resumption test below.
  bed = await startGatewayBed({
    gatewayYaml: { mqtt: { tlsMinVersion: 'TLSv1.2', tlsSessionTickets: true, maxPacketSize: 4096, connectRatePerSecond: 5, connectBurst: 100 } },
  });
  rootPem = readFileSync(bed.rootFile, 'utf8');
});

after(async () => {
  await bed?.close();
});

async function connectDevice(device: DeviceFiles, protocolVersion: 4 | 5 = 5): Promise<MqttClient> {
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
  return client;
}

test('the gateway started by bin/hearth runs on tcmalloc and says so in its health', async () => {
  const health = (await (await fetch(`${bed.gateway.metricsUrl}/healthz`)).json()) as { runtime: { node: string; allocator: string } };
  assert.equal(health.runtime.node, process.version);
  assert.equal(health.runtime.allocator, installedTcmalloc() ? 'tcmalloc' : 'system');
});

const closed = (client: MqttClient) => new Promise<number>((resolve) => client.stream.once('close', () => resolve(performance.now())));

test('a revoked device is disconnected within a second of the revoke call, and no one else is', { timeout: 60_000 }, async (t) => {
  const victim = await bed.issueDevice('urn:dev:ops:acme-lock-revoked');
  const bystander = await bed.issueDevice('urn:dev:ops:acme-lock-bystander');
  const samples: number[] = [];
  const other = await connectDevice(bystander);
  for (let i = 0; i < 5; i++) {
    const device = i === 0 ? victim : await bed.issueDevice(`urn:dev:ops:acme-lock-revoked${i}`);
    const client = await connectDevice(device);
    let reason: number | undefined;
    client.on('disconnect', (packet) => (reason = packet.reasonCode));
    const gone = closed(client);
    const start = performance.now();
    await bed.revoke(device.serial);
    samples.push((await gone) - start);
    assert.equal(reason, 0x87, 'the DISCONNECT says Not authorized');
    client.end(true);
  }
  assert.ok(other.connected, 'the bystander stayed connected');
  other.end(true);
  samples.sort((a, b) => a - b);
  t.diagnostic(`revoke call to disconnect: ${samples.map((s) => s.toFixed(1)).join(', ')} ms`);
  assert.ok((samples.at(-1) as number) < 1000, `the slowest disconnect took ${samples.at(-1)} ms`);
});

test('with session tickets on, a resumed TLS session does not let a revoked certificate back in', { timeout: 60_000 }, async () => {
  const device = await bed.issueDevice('urn:dev:ops:acme-lock-resumed');
  const open = (session?: Buffer) =>
    new Promise<{ socket: TLSSocket; session: Buffer | undefined }>((resolve, reject) => {
      let ticket: Buffer | undefined;
      const socket = tlsConnect({
        host: 'localhost',
        port: bed.gateway.mqttPort,
        ca: rootPem,
        key: device.keyPem,
        cert: device.certPem,
        minVersion: 'TLSv1.3',
        ...(session ? { session } : {}),
      });
      socket.on('session', (s: Buffer) => (ticket = s));
      socket.once('secureConnect', () => setTimeout(() => resolve({ socket, session: ticket }), 100));
      socket.once('error', reject);
    });
  const connack = (socket: TLSSocket) =>
    new Promise<number>((resolve, reject) => {
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (packet) => packet.cmd === 'connack' && resolve(packet.reasonCode ?? -1));
      socket.on('data', (chunk: Buffer) => parser.parse(chunk));
      socket.once('close', () => reject(new Error('closed before CONNACK')));
      socket.write(
        mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'resume', clean: true, keepalive: 0 }, { protocolVersion: 5 }),
      );
    });
  const first = await open();
  assert.equal(await connack(first.socket), 0);
  assert.ok(first.session, 'the gateway issued a session ticket');
  first.socket.destroy();
  await bed.revoke(device.serial);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = await open(first.session);
  assert.equal(second.socket.isSessionReused(), true, 'the TLS session was resumed');
  assert.equal(await connack(second.socket), 0x87, 'the resumed session is refused: Not authorized');
  second.socket.destroy();
});

test('an oversized packet ends only its own connection, with Packet too large', { timeout: 60_000 }, async () => {
  const sender = await connectDevice(await bed.issueDevice('urn:dev:ops:acme-cam-big'));
  const bystander = await connectDevice(await bed.issueDevice('urn:dev:ops:acme-cam-small'));
  let reason: number | undefined;
  sender.on('disconnect', (packet) => (reason = packet.reasonCode));
  const gone = closed(sender);
  // Written past MQTT.js, which keeps to the maximum packet size the CONNACK announced.
  sender.stream.write(
    mqttPacket.generate(
      { cmd: 'publish', topic: 'hearth/urn:dev:ops:acme-cam-big/frame', payload: Buffer.alloc(10_000), qos: 0, retain: false, dup: false },
      { protocolVersion: 5 },
    ),
  );
  await gone;
  assert.equal(reason, 0x95);
  assert.ok(bystander.connected);
  sender.end(true);
  bystander.end(true);
});

test('malformed MQTT bytes end only their own connection', { timeout: 60_000 }, async () => {
  const device = await bed.issueDevice('urn:dev:ops:acme-cam-garbled');
  const bystander = await connectDevice(await bed.issueDevice('urn:dev:ops:acme-cam-fine'));
  const socket = tlsConnect({ host: 'localhost', port: bed.gateway.mqttPort, ca: rootPem, key: device.keyPem, cert: device.certPem });
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('close', () => reject(new Error('the gateway closed the connection before the handshake ended')));
  });
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'garbled', clean: true, keepalive: 0 }));
  // A PUBLISH with both QoS bits set: a malformed packet (MQTT 3.1.1 §3.3.1.2).
  socket.write(Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]));
  // The gateway ends the connection; its CONNACK is read and dropped so 'end' can arrive.
  socket.resume();
  await new Promise((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  socket.destroy();
  assert.ok(bystander.connected);
  const metrics = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
  assert.match(metrics, /hearth_gateway_protocol_violations_total\{reason="malformed"\} [1-9]/);
  bystander.end(true);
});

test('openssl s_client: TLS 1.2 only with ECDHE and AEAD; TLS 1.3 with its three suites', { timeout: 60_000 }, async () => {
  const device = await bed.issueDevice('urn:dev:ops:acme-cam-tls');
  const probe = async (args: string[]) => {
    const result = await runCommand(
      'openssl',
      [
        's_client',
        '-connect',
        `localhost:${bed.gateway.mqttPort}`,
        '-CAfile',
        bed.rootFile,
        '-cert',
        device.certFile,
        '-key',
        device.keyFile,
        '-brief',
        ...args,
      ],
      { env: process.env, timeoutMs: 10_000 },
    );
    return {
      ok:
        /Protocol version|CONNECTION ESTABLISHED/.test(result.stdout + result.stderr) &&
        !/alert|error/i.test(
          result.stderr
            .split('\n')
            .filter((l) => !/verify/i.test(l))
            .join('\n'),
        ),
      out: result.stdout + result.stderr,
    };
  };
  for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
    const result = await probe(['-tls1_3', '-ciphersuites', suite]);
    assert.ok(result.ok, `TLS 1.3 ${suite} was refused:\n${result.out}`);
  }
  for (const cipher of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
    const result = await probe(['-tls1_2', '-cipher', cipher]);
    assert.ok(result.ok, `TLS 1.2 ${cipher} was refused:\n${result.out}`);
  }
  for (const cipher of ['ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA', 'AES128-GCM-SHA256', 'AES256-SHA256']) {
    const result = await probe(['-tls1_2', '-cipher', cipher]);
    assert.ok(!result.ok, `TLS 1.2 ${cipher} (CBC or no ECDHE) was accepted:\n${result.out}`);
  }
  const old = await probe(['-tls1_1']);
  assert.ok(!old.ok, `TLS 1.1 was accepted:\n${old.out}`);
});

test('a client flooding connects is turned away; live sessions are not disturbed', { timeout: 60_000 }, async () => {
  const bystander = await connectDevice(await bed.issueDevice('urn:dev:ops:acme-cam-steady'));
  let refused = 0;
  await Promise.all(
    Array.from(
      { length: 300 },
      () =>
        new Promise<void>((resolve) => {
          const socket = netConnect(bed.gateway.mqttPort, '127.0.0.1');
          socket.on('error', () => undefined);
          socket.once('close', () => {
            refused++;
            resolve();
          });
          socket.setTimeout(1_500, () => {
            socket.destroy();
            resolve();
          });
        }),
    ),
  );
  assert.ok(refused > 150, `only ${refused} of 300 flooding connections were dropped`);
  assert.ok(bystander.connected);
  const metrics = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
  assert.match(metrics, /hearth_gateway_connects_rate_limited_total [1-9]/);
  bystander.end(true);
});

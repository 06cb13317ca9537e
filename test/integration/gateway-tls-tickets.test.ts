/**
 * The device listener's TLS session tickets, off by default (each costs an idle connection about
 * 4 KiB): a device that offers back whatever session it was given gets a full handshake, and its
 * connection works as before. With `mqtt.tlsSessionTickets: true` resumption works and is checked
 * again (gateway-sessions.test.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { startGatewayBed, type GatewayBed } from '../support/gateway-bed.js';

let bed: GatewayBed;

before(async () => {
  bed = await startGatewayBed();
});

after(async () => {
  await bed?.close();
});

test('by default a device gets no TLS session to resume: each connection is a full handshake', { timeout: 60_000 }, async () => {
  const device = await bed.issueDevice('urn:dev:ops:acme-plug-tickets');
  const rootPem = readFileSync(bed.rootFile, 'utf8');
  const open = (session?: Buffer) =>
    new Promise<{ socket: TLSSocket; session: Buffer | undefined; connack: number }>((resolve, reject) => {
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
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (packet) => {
        // A little longer for any NewSessionTicket that follows the handshake.
        if (packet.cmd === 'connack') setTimeout(() => resolve({ socket, session: ticket, connack: packet.reasonCode ?? -1 }), 100);
      });
      socket.on('data', (chunk: Buffer) => parser.parse(chunk));
      socket.once('secureConnect', () =>
        socket.write(
          mqttPacket.generate(
            { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'tickets', clean: true, keepalive: 0 },
            { protocolVersion: 5 },
          ),
        ),
      );
      socket.once('error', reject);
    });
  const first = await open();
  assert.equal(first.connack, 0);
  assert.equal(first.socket.isSessionReused(), false);
  first.socket.destroy();
  // OpenSSL may still hand out a stateful session id; the gateway keeps no session to match it.
  const second = await open(first.session);
  assert.equal(second.connack, 0);
  assert.equal(second.socket.isSessionReused(), false, 'the session was resumed, though tickets are off');
  second.socket.destroy();
});

/**
 * DeviceListener's admission, over real TLS with certificates made by the openssl binary in the
 * shape of a Hearth hierarchy (a root over a devices CA and a services CA): a device certificate
 * from the devices CA is admitted as its SAN URI; a client with no certificate is refused inside
 * the TLS handshake (it hears the TLS 1.3 `certificate_required` alert); one from the services CA
 * (sent with its chain), from the root itself, from an unrelated CA with the devices CA's name, or
 * expired by the system clock, is cut off as its TLS handshake ends (counted by reason), so not
 * one MQTT byte of theirs is parsed and no CONNACK is sent; no single device identifier,
 * a revoked serial, and expiry and not-yet-valid by the gateway's own clock are refused with
 * their reasons, each heard as "not authorized" in the MQTT 5 CONNACK.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';
import { ManualClock } from '../../../src/core/clock.js';
import { ConnectRateLimit } from '../../../src/gateway/listener/connect-rate-limit.js';
import { DeviceListener } from '../../../src/gateway/listener/device-listener.js';
import type { RefusalReason } from '../../../src/gateway/listener/client-identity.js';
import { RevocationSet } from '../../../src/gateway/revocation/revocation-set.js';
import { needsOpenssl } from '../../support/environment.js';
import { CA_AND_SERVER_SECTIONS } from '../../support/openssl-extensions.js';
import { CONNECTION, startBed, type Bed } from '../broker/broker-bed.js';

const skip = await needsOpenssl();
const dir = mkdtempSync(join(tmpdir(), 'hearth-device-listener-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EXTENSIONS = `${CA_AND_SERVER_SECTIONS}[device]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:urn:dev:ops:acme-lamp-1
[dns-only]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:lamp.local
[two-uris]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:urn:dev:ops:acme-lamp-1, URI:urn:dev:ops:acme-lamp-2
`;

const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const read = (name: string) => readFileSync(join(dir, name), 'utf8');
let serials = 0x1000;

function newKey(name: string): void {
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
}

function issue(name: string, subject: string, issuer: string, section: string): string {
  newKey(name);
  run(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-config', 'ext.cnf', '-out', `${name}.csr`]);
  const serial = (serials++).toString(16);
  run([
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${issuer}.pem`,
    '-CAkey',
    `${issuer}.key`,
    '-set_serial',
    `0x${serial}`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    'ext.cnf',
    '-extensions',
    section,
    '-out',
    `${name}.pem`,
  ]);
  return serial;
}

/** A device certificate from the devices CA that expired yesterday (openssl 3.0 cannot backdate one). */
async function issueExpired(name: string): Promise<void> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const pkcs8 = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const caKey = await webcrypto.subtle.importKey('pkcs8', pkcs8(read('devices.key')), algorithm, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: (serials++).toString(16),
    subject: 'CN=lamp',
    issuer: new x509.X509Certificate(read('devices.pem')).subject,
    notBefore: new Date(Date.now() - 3 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'urn:dev:ops:acme-lamp-1' }]),
    ],
  });
  writeFileSync(join(dir, `${name}.pem`), certificate.toString('pem'));
  const privateKey = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  writeFileSync(join(dir, `${name}.key`), `-----BEGIN PRIVATE KEY-----\n${privateKey.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`);
}

let bed: Bed;
let listener: DeviceListener;
let port: number;
const clock = new ManualClock(new Date());
const refusals: RefusalReason[] = [];
let admittedToMqtt = 0;
let revokedSerial: string;

before(async () => {
  if (skip) return;
  writeFileSync(join(dir, 'ext.cnf'), EXTENSIONS);
  newKey('root');
  run([
    'req',
    '-x509',
    '-new',
    '-key',
    'root.key',
    '-subj',
    '/O=Acme/CN=Acme Root CA',
    '-days',
    '3',
    '-sha256',
    '-config',
    'ext.cnf',
    '-extensions',
    'ca',
    '-out',
    'root.pem',
  ]);
  issue('devices', '/O=Acme/CN=Acme Devices CA', 'root', 'ca');
  issue('services', '/O=Acme/CN=Acme Services CA', 'root', 'ca');
  newKey('other');
  run([
    'req',
    '-x509',
    '-new',
    '-key',
    'other.key',
    '-subj',
    '/O=Acme/CN=Acme Devices CA',
    '-days',
    '3',
    '-sha256',
    '-config',
    'ext.cnf',
    '-extensions',
    'ca',
    '-out',
    'other.pem',
  ]);
  issue('server', '/CN=localhost', 'services', 'server');
  issue('lamp', '/CN=lamp', 'devices', 'device');
  revokedSerial = issue('revoked', '/CN=revoked', 'devices', 'device');
  issue('from-services', '/CN=lamp', 'services', 'device');
  issue('from-root', '/CN=lamp', 'root', 'device');
  issue('from-other', '/CN=lamp', 'other', 'device');
  issue('dns-only', '/CN=lamp', 'devices', 'dns-only');
  issue('two-uris', '/CN=lamp', 'devices', 'two-uris');
  await issueExpired('expired-lamp');

  // The certificates are valid from the second they were made: the gateway's clock starts after.
  clock.set(new Date(Date.now() + 1000));
  bed = await startBed();
  const revocations = new RevocationSet(join(dir, 'revocations.json'));
  await revocations.add(
    [{ serial: revokedSerial, identifier: 'urn:dev:ops:acme-lamp-1', revokedAt: new Date().toISOString(), notAfter: null }],
    'test',
    new Date(),
  );
  listener = new DeviceListener({
    host: '127.0.0.1',
    port: 0,
    credentials: { key: read('server.key'), cert: read('server.pem') + read('services.pem') },
    devicesCa: read('devices.pem'),
    root: read('root.pem'),
    tlsMinVersion: 'TLSv1.3',
    sessionTickets: false,
    revocations,
    broker: bed.broker,
    connection: CONNECTION,
    connectRate: new ConnectRateLimit(0, 0),
    clock,
    observer: {
      refused: (reason) => refusals.push(reason),
      handshake: () => admittedToMqtt++,
    },
  });
  port = await listener.listen();
});

after(async () => {
  if (skip) return;
  await listener.close();
});

/** A TLS connection to the listener with the named key and certificate (and chain), or none. */
function tlsClient(name: string | undefined, chain: string[]) {
  return connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: read('root.pem'),
    ...(name ? { key: read(`${name}.key`), cert: [read(`${name}.pem`), ...chain.map((c) => read(`${c}.pem`))].join('') } : {}),
  });
}

/** Connects with the named key and certificate (and chain), sends an MQTT 5 CONNECT, returns the CONNACK's reason code. */
async function connackFor(name: string | undefined, chain: string[] = []): Promise<number> {
  const socket = tlsClient(name, chain);
  try {
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const connack = new Promise<IConnackPacket>((resolve, reject) => {
      parser.on('packet', (packet: Packet) => packet.cmd === 'connack' && resolve(packet));
      socket.on('data', (chunk: Buffer) => parser.parse(chunk));
      socket.once('close', () => reject(new Error('closed before CONNACK')));
    });
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: `t-${name ?? 'none'}`, keepalive: 0 }));
    return (await connack).reasonCode ?? -1;
  } finally {
    socket.destroy();
  }
}

const NOT_AUTHORIZED = 0x87;

/**
 * Connects as connackFor does and sends CONNECT as soon as the client thinks the handshake is done
 * (in TLS 1.3 that is before the server has checked its certificate), then reports what came back.
 */
async function attempt(name: string | undefined, chain: string[] = []): Promise<{ received: number; error?: string }> {
  const socket = tlsClient(name, chain);
  let received = 0;
  let error: string | undefined;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', (e: NodeJS.ErrnoException) => {
    // an alert, or a reset after the handshake: what a refused client sees
    error = e.code;
  });
  socket.once('secureConnect', () =>
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: `t-${name ?? 'none'}`, keepalive: 0 })),
  );
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { received, error };
}

describe('DeviceListener admission', { skip }, () => {
  test('a device certificate from the devices CA is admitted as its SAN URI', async () => {
    assert.equal(await connackFor('lamp'), 0);
    await bed.waitForEvent((e) => e.kind === 'connected' && e.deviceId === 'urn:dev:ops:acme-lamp-1', 'the lamp connected');
  });

  test('no certificate is refused inside the TLS handshake, with the certificate_required alert', async () => {
    refusals.length = 0;
    const admittedBefore = admittedToMqtt;
    const outcome = await attempt(undefined);
    assert.equal(outcome.error, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'the handshake itself failed, as the client heard it');
    assert.equal(outcome.received, 0);
    assert.equal(admittedToMqtt, admittedBefore);
    assert.deepEqual(refusals, ['no-client-cert'], 'the refusal is counted by its reason');
  });

  const cutOff: [string, string | undefined, string[], RefusalReason][] = [
    ['a certificate expired by the system clock', 'expired-lamp', [], 'expired'],
    ['a certificate from the services CA, sent with its chain', 'from-services', ['services'], 'unknown-ca'],
    ['a certificate issued by the root itself', 'from-root', [], 'unknown-ca'],
    ['a certificate from an unrelated CA that has the devices CA name', 'from-other', ['other'], 'unknown-ca'],
  ];
  for (const [what, name, chain, reason] of cutOff) {
    test(`${what} is cut off as its handshake ends, before any MQTT (${reason})`, async () => {
      refusals.length = 0;
      const admittedBefore = admittedToMqtt;
      const outcome = await attempt(name, chain);
      assert.equal(outcome.received, 0, 'the client heard no CONNACK, nor any other MQTT byte');
      assert.equal(admittedToMqtt, admittedBefore, 'no MQTT connection was made for it');
      assert.deepEqual(refusals, [reason], 'the refusal is counted by its reason');
    });
  }

  const refusedCases: [string, string, RefusalReason][] = [
    ['a certificate with no URI', 'dns-only', 'no-device-id'],
    ['a certificate with two URIs', 'two-uris', 'no-device-id'],
    ['a revoked certificate', 'revoked', 'revoked'],
  ];
  for (const [what, name, reason] of refusedCases) {
    test(`${what} is refused as ${reason}`, async () => {
      refusals.length = 0;
      assert.equal(await connackFor(name), NOT_AUTHORIZED);
      assert.deepEqual(refusals, [reason]);
    });
  }

  test("expiry and not-yet-valid go by the gateway's clock", async () => {
    refusals.length = 0;
    clock.set(new Date(Date.now() + 3 * 86_400_000));
    assert.equal(await connackFor('lamp'), NOT_AUTHORIZED);
    clock.set(new Date(Date.now() - 86_400_000));
    assert.equal(await connackFor('lamp'), NOT_AUTHORIZED);
    clock.set(new Date());
    assert.deepEqual(refusals, ['expired', 'not-yet-valid']);
    assert.equal(await connackFor('lamp'), 0);
  });
});

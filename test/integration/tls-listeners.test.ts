/**
 * The TLS every Hearth listener offers, probed with the openssl binary: the control plane's API
 * port, and the gateway's device listener, sensor listener and sensor token server, each with
 * TLS 1.2 allowed (the gateway's lowered minimum; the API's own). TLS 1.0 and 1.1, CBC suites
 * (LUCKY13), CCM8, ARIA and RSA key transport must fail the handshake; TLS 1.3 and the ECDHE
 * AEAD suites must succeed. A permissive node:tls server with the same certificate first shows
 * that the client really offers each weak suite, so a failure below is the listener's refusal.
 * The API staples a good OCSP response for its own certificate to a handshake that asks for one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions, type Server as TlsServer } from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { systemClock } from '../../src/core/clock.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { pemEncode } from '../../src/pki/certificate-assembly.js';
import { DeviceListener } from '../../src/gateway/listener/device-listener.js';
import { ConnectRateLimit } from '../../src/gateway/listener/connect-rate-limit.js';
import { RevocationSet } from '../../src/gateway/revocation/revocation-set.js';
import { GatewayMetrics } from '../../src/gateway/gateway-metrics.js';
import { gatewayConfigSchema } from '../../src/gateway/gateway-config.js';
import { startSensorService, type SensorService } from '../../src/gateway/sensors/sensor-service.js';
import { needsOpenssl } from '../support/environment.js';
import { runCommand } from '../support/commands.js';
import { CONNECTION, startBed, type Bed } from '../gateway/broker/broker-bed.js';

const skip = await needsOpenssl();

/** Suites a TLS 1.2 client may offer that no Hearth listener accepts. */
const REFUSED_TLS12 = [
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-ECDSA-AES128-CCM8',
  'ECDHE-ECDSA-AES128-CCM',
  'ECDHE-ECDSA-ARIA128-GCM-SHA256',
  'ECDHE-ECDSA-CAMELLIA128-SHA256',
  'AES128-GCM-SHA256',
  'AES128-SHA',
];
/** The ECDSA suites among them a permissive server with Hearth's (P-256) certificates would take. */
const OFFERED_BY_CLIENT = REFUSED_TLS12.filter((suite) => suite.startsWith('ECDHE-ECDSA'));
const ACCEPTED_TLS12 = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'];

interface Probe {
  version: '-tls1' | '-tls1_1' | '-tls1_2' | '-tls1_3';
  cipher?: string;
}

let parent: string;
let plane: RunningControlPlane;
let bed: Bed;
let deviceListener: DeviceListener;
let devicePort: number;
let sensors: SensorService;
let permissive: TlsServer;
const files = (name: string) => join(parent, name);

/** Whether openssl s_client completes a handshake with the listener, and with which suite (run asynchronously: the listeners are in this process). */
async function handshake(port: number, probe: Probe, clientCert = false): Promise<{ ok: boolean; cipher: string; out: string }> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', probe.version, '-CAfile', files('root.pem')];
  // SECLEVEL=0 so that the client offers what OpenSSL 3 no longer offers by default (TLS 1.0 and 1.1, SHA-1 suites).
  if (probe.version === '-tls1_3') args.push('-ciphersuites', probe.cipher ?? 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256');
  else args.push('-cipher', `${probe.cipher ?? 'DEFAULT'}:@SECLEVEL=0`);
  if (clientCert) args.push('-cert', files('device.pem'), '-key', files('device.key'));
  const result = await runCommand('openssl', args, { env: process.env, timeoutMs: 15_000 });
  const out = `${result.stdout}${result.stderr}${result.error ?? ''}`;
  const cipher = /Cipher is (\S+)/.exec(out)?.[1] ?? '(NONE)';
  return { ok: cipher !== '(NONE)' && cipher !== '0000', cipher, out };
}

before(async () => {
  if (skip) return;
  parent = await mkdtemp(join(tmpdir(), 'hearth-tls-'));
  process.env.HEARTH_TLS_TEST_PASSPHRASE = 'tls test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_TLS_TEST_PASSPHRASE' } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
  const rootPem = await readFile(join(dir, 'ca', 'root.pem'), 'utf8');
  const devicesPem = await readFile(join(dir, 'ca', 'devices.pem'), 'utf8');
  const servicesPem = await readFile(join(dir, 'ca', 'services.pem'), 'utf8');
  await writeFile(files('root.pem'), rootPem);

  // The gateway's certificate and a device's, issued by this control plane as in a real home.
  const gatewayKey = await createKeyAndRequest({ dnsNames: ['localhost'] });
  await plane.store.gateways.insertGateway({
    name: 'localhost',
    eabKid: 'eab_tls_listeners',
    status: 'active',
    createdAt: new Date(),
    retiredAt: null,
    home: null,
  });
  const gateway = await plane.authority.issue({ csr: gatewayKey.csrPem, profile: 'gateway' });
  const credentials = { key: gatewayKey.privateKeyPem, cert: pemEncode('CERTIFICATE', gateway.record.der as Uint8Array) + servicesPem };
  const deviceId = 'urn:dev:ops:acme-lamp-0001';
  const deviceKey = await createKeyAndRequest({ commonName: deviceId, uris: [deviceId] });
  const device = await plane.authority.issue({ csr: deviceKey.csrPem, profile: 'device' });
  await writeFile(files('device.key'), deviceKey.privateKeyPem);
  await writeFile(files('device.pem'), pemEncode('CERTIFICATE', device.record.der as Uint8Array) + devicesPem);

  bed = await startBed();
  deviceListener = new DeviceListener({
    host: '127.0.0.1',
    port: 0,
    credentials,
    devicesCa: devicesPem,
    root: rootPem,
    tlsMinVersion: 'TLSv1.2',
    sessionTickets: false,
    revocations: new RevocationSet(files('revocations.json')),
    broker: bed.broker,
    connection: CONNECTION,
    connectRate: new ConnectRateLimit(0, 0),
    clock: systemClock,
  });
  devicePort = await deviceListener.listen();
  sensors = await startSensorService({
    dir: parent,
    config: gatewayConfigSchema.parse({ sensors: { enabled: true, transport: 'tls', host: '127.0.0.1', mqttPort: 0, tokenPort: 0 } }).sensors,
    gatewayName: 'localhost',
    tlsMinVersion: 'TLSv1.2',
    credentials: () => credentials,
    broker: bed.broker,
    connection: CONNECTION,
    connectRate: new ConnectRateLimit(0, 0),
    clock: systemClock,
    metrics: new GatewayMetrics(),
    logger: createLogger('silent'),
    security: () => {},
  });
  permissive = createTlsServer({ ...credentials, minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' }, (socket) => socket.end());
  await new Promise<void>((resolve) => permissive.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  if (skip) return;
  await new Promise((resolve) => permissive?.close(resolve));
  await sensors?.close();
  await deviceListener?.close();
  await bed?.close();
  await plane?.close();
  await rm(parent, { recursive: true, force: true });
});

describe('TLS offered by every listener', { skip }, () => {
  test('the client offers every weak suite and old version (a permissive server takes them)', async () => {
    const port = (permissive.address() as AddressInfo).port;
    for (const cipher of OFFERED_BY_CLIENT) assert.ok((await handshake(port, { version: '-tls1_2', cipher })).ok, `${cipher} was not even offered`);
    for (const version of ['-tls1', '-tls1_1'] as const) assert.ok((await handshake(port, { version })).ok, `${version} was not even offered`);
  });

  const listeners: [string, () => number, boolean][] = [
    ['the control plane API', () => Number(new URL(plane.apiUrl).port), false],
    ['the gateway device listener', () => devicePort, true],
    ['the gateway sensor listener', () => sensors.mqttPort, false],
    ['the gateway sensor token server', () => sensors.tokenPort, false],
  ];
  for (const [name, port, clientCert] of listeners) {
    test(`${name}: TLS 1.0, 1.1 and non-AEAD or non-ECDHE TLS 1.2 suites fail the handshake`, async () => {
      for (const version of ['-tls1', '-tls1_1'] as const) {
        const result = await handshake(port(), { version }, clientCert);
        assert.equal(result.ok, false, `${version} succeeded with ${result.cipher}`);
      }
      for (const cipher of REFUSED_TLS12) {
        const result = await handshake(port(), { version: '-tls1_2', cipher }, clientCert);
        assert.equal(result.ok, false, `${cipher} was accepted`);
      }
    });

    test(`${name}: TLS 1.3 and the ECDHE AEAD TLS 1.2 suites succeed`, async () => {
      const tls13 = await handshake(port(), { version: '-tls1_3' }, clientCert);
      assert.ok(tls13.ok, tls13.out);
      for (const cipher of ACCEPTED_TLS12) {
        const result = await handshake(port(), { version: '-tls1_2', cipher }, clientCert);
        assert.equal(result.cipher, cipher, result.out);
      }
    });
  }
});

describe('OCSP stapling', { skip }, () => {
  test("the API staples its responder's GOOD answer for the API's own certificate", async () => {
    const port = Number(new URL(plane.apiUrl).port);
    // requestOCSP is a TLSSocket option tls.connect passes on; @types/node leaves it out of ConnectionOptions.
    const options: ConnectionOptions & { requestOCSP: boolean } = {
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: await readFile(files('root.pem'), 'utf8'),
      requestOCSP: true,
    };
    const socket = tlsConnect(options);
    const stapled = new Promise<Buffer | undefined>((resolve) => socket.once('OCSPResponse', (response: Buffer) => resolve(response)));
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', () => resolve()).once('error', reject));
    const serverSerial = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
    const response = await Promise.race([stapled, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2_000))]);
    socket.destroy();
    assert.ok(response && response.length > 0, 'no OCSP response was stapled');
    const ocsp = AsnConvert.parse(response, OCSPResponse);
    assert.equal(ocsp.responseStatus, OCSPResponseStatus.successful);
    const basic = AsnConvert.parse(ocsp.responseBytes?.response.buffer as ArrayBuffer, BasicOCSPResponse);
    const [single] = basic.tbsResponseData.responses;
    assert.ok(single, 'the response answers for one certificate');
    assert.equal(Buffer.from(single.certID.serialNumber).toString('hex').replace(/^0+/, ''), serverSerial, 'the answer is for the API certificate');
    assert.ok(single.certStatus.good !== undefined, 'the API certificate is good');
    assert.ok(single.nextUpdate && single.nextUpdate > new Date(), 'the stapled answer is fresh');
  });
});

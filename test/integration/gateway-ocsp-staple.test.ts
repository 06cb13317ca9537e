/**
 * OCSP stapling on the gateway's listeners: a device or sensor that asks for certificate status in
 * its handshake gets the control plane's answer about the gateway's own certificate, signed by
 * the services CA's OCSP delegate, on the device listener, the sensor listener and the sensor token
 * server. The gateway asks again at half the answer's validity (60 s here, the shortest the control
 * plane allows), so after the gateway's certificate is revoked through the API the staple says so.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, verify as verifySignature } from 'node:crypto';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { startGatewayBed, type DeviceFiles, type GatewayBed } from '../support/gateway-bed.js';
import { freeLoopbackPort } from '../support/commands.js';

const OCSP_VALIDITY_SECONDS = 60;
const HASH_OF_SIGNATURE: Record<string, string> = { '1.2.840.10045.4.3.2': 'sha256', '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512' };

let bed: GatewayBed;
let rootPem: string;
let device: DeviceFiles;
let sensorPort: number;
let tokenPort: number;

before(async () => {
  sensorPort = await freeLoopbackPort();
  tokenPort = await freeLoopbackPort();
  bed = await startGatewayBed({
    gatewayYaml: { sensors: { enabled: true, mqttPort: sensorPort, tokenPort } },
    controlPlaneYaml: { ocsp: { validitySeconds: OCSP_VALIDITY_SECONDS } },
  });
  rootPem = readFileSync(bed.rootFile, 'utf8');
  device = await bed.issueDevice('urn:dev:ops:acme-lamp-ocsp');
});

after(async () => {
  await bed?.close();
});

interface Stapled {
  /** The serial of the certificate the gateway presented, canonical hex. */
  serial: string;
  response: Buffer | undefined;
}

/** A handshake that asks for status (RFC 6066 status_request), as a device's TLS stack does. */
async function handshake(port: number, extra: ConnectionOptions = {}): Promise<Stapled> {
  // requestOCSP is a TLSSocket option tls.connect passes on; @types/node leaves it out of ConnectionOptions.
  const options: ConnectionOptions & { requestOCSP: boolean } = { host: '127.0.0.1', port, servername: 'localhost', ca: rootPem, requestOCSP: true, ...extra };
  const socket = tlsConnect(options);
  let response: Buffer | undefined;
  // The status arrives within the handshake, before secureConnect.
  socket.on('OCSPResponse', (der: Buffer | null | undefined) => (response = der && der.length > 0 ? der : undefined));
  try {
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', () => resolve()).once('error', reject));
    return { serial: socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ''), response };
  } finally {
    socket.destroy();
  }
}

interface Answer {
  serial: string;
  status: 'good' | 'revoked' | 'unknown';
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  signer: X509Certificate;
}

/** The stapled response read as a client does: status, its one answer, and the signature checked. */
function readStaple(der: Buffer): Answer {
  const ocsp = AsnConvert.parse(der, OCSPResponse);
  assert.equal(ocsp.responseStatus, OCSPResponseStatus.successful);
  const basic = AsnConvert.parse(ocsp.responseBytes?.response.buffer as ArrayBuffer, BasicOCSPResponse);
  assert.equal(basic.tbsResponseData.responses.length, 1, 'the response answers for one certificate');
  const single = basic.tbsResponseData.responses[0]!;
  assert.equal(basic.certs?.length, 1, 'the response carries its signer');
  const signer = new X509Certificate(Buffer.from(AsnConvert.serialize(basic.certs[0]!)));
  const hash = HASH_OF_SIGNATURE[basic.signatureAlgorithm.algorithm];
  assert.ok(hash, `unexpected signature algorithm ${basic.signatureAlgorithm.algorithm}`);
  const signed = verifySignature(hash, Buffer.from(AsnConvert.serialize(basic.tbsResponseData)), signer.publicKey, Buffer.from(basic.signature));
  assert.ok(signed, 'the response is signed by the certificate it carries');
  const status = single.certStatus.good !== undefined ? 'good' : single.certStatus.revoked !== undefined ? 'revoked' : 'unknown';
  return {
    serial: Buffer.from(single.certID.serialNumber).toString('hex').replace(/^0+/, ''),
    status,
    thisUpdate: single.thisUpdate,
    nextUpdate: single.nextUpdate,
    signer,
  };
}

test('every gateway listener staples a GOOD answer about the gateway certificate, signed by the services CA OCSP delegate', { timeout: 60_000 }, async () => {
  const delegate = new X509Certificate(readFileSync(join(bed.installation.dir, 'ca', 'ocsp-services.pem')));
  const servicesCa = new X509Certificate(readFileSync(join(bed.installation.dir, 'ca', 'services.pem')));
  assert.ok(delegate.checkIssued(servicesCa) && delegate.verify(servicesCa.publicKey), 'the delegate belongs to the services CA');
  const listeners: [string, Promise<Stapled>][] = [
    ['device listener', handshake(bed.gateway.mqttPort, { key: device.keyPem, cert: device.certPem })],
    ['sensor listener', handshake(sensorPort)],
    ['sensor token server', handshake(tokenPort)],
  ];
  for (const [name, pending] of listeners) {
    const { serial, response } = await pending;
    assert.ok(response, `the ${name} stapled no OCSP response`);
    const answer = readStaple(response);
    assert.equal(answer.serial, serial, `the ${name}'s staple is about the gateway certificate`);
    assert.equal(answer.status, 'good', `the ${name}'s staple says ${answer.status}`);
    assert.ok(answer.signer.raw.equals(delegate.raw), `the ${name}'s staple is signed by the services CA's OCSP delegate`);
    assert.ok(answer.nextUpdate && answer.nextUpdate > new Date(), `the ${name}'s staple is fresh`);
  }
});

test('after the gateway certificate is revoked, the staple says revoked once it is refreshed', { timeout: 120_000 }, async () => {
  const before = await handshake(bed.gateway.mqttPort, { key: device.keyPem, cert: device.certPem });
  assert.ok(before.response, 'no staple before the revocation');
  const first = readStaple(before.response);
  assert.equal(first.status, 'good');
  await bed.revoke(before.serial);
  // The gateway asks again at half the validity of the answer it holds.
  const refreshBy = first.thisUpdate.getTime() + (OCSP_VALIDITY_SECONDS / 2) * 1000 + 15_000;
  let latest = first;
  while (latest.status === 'good' && Date.now() < refreshBy) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const now = await handshake(bed.gateway.mqttPort, { key: device.keyPem, cert: device.certPem });
    assert.ok(now.response, 'the staple went missing');
    latest = readStaple(now.response);
    assert.equal(latest.serial, before.serial);
  }
  assert.equal(
    latest.status,
    'revoked',
    `the staple still said ${latest.status} ${Math.round((Date.now() - first.thisUpdate.getTime()) / 1000)} s after the first answer`,
  );
  assert.ok(latest.thisUpdate > first.thisUpdate, 'the revoked answer is a new one');
});

/**
 * Issues a whole hierarchy and lets the real openssl judge it: chain verification with the
 * purpose each profile is for, and the extensions as openssl prints them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pemEncode } from '../../src/pki/certificate-assembly.js';
import { needsOpenssl } from '../support/environment.js';
import { createTestSigner } from '../support/test-signer.js';
import { buildHierarchy, issue, urlsFor, START, type Hierarchy } from './issuance-fixtures.js';

const skip = await needsOpenssl();
const DEVICE_ID = 'urn:dev:ops:acme-thermo-0001';
let dir: string;
let h: Hierarchy;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-issuance-'));
  h = await buildHierarchy();
  write('root.pem', h.root.der);
  write('devices.pem', h.devices.der);
  write('services.pem', h.services.der);
  const device = await issue({
    profile: 'device',
    by: h.devices,
    subject: { commonName: DEVICE_ID, uris: [DEVICE_ID], permanentIdentifier: DEVICE_ID },
    urls: urlsFor('devices'),
    clock: h.clock,
  });
  write('device.pem', device.der);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, der: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, pemEncode('CERTIFICATE', der));
  return path;
}

function openssl(args: string[]): string {
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(result.status, 0, `openssl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Verifies at the hierarchy's own time, so the test does not depend on today's date. */
function verify(leaf: string, untrusted: string, purpose: string): string {
  const attime = String(Math.floor(START.getTime() / 1000) + 3600);
  return openssl(['verify', '-attime', attime, '-purpose', purpose, '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, untrusted), join(dir, leaf)]);
}

function text(file: string): string {
  return openssl(['x509', '-noout', '-text', '-in', join(dir, file)]);
}

test('root and issuing CAs carry the CA extensions openssl expects', { skip }, () => {
  const root = text('root.pem');
  assert.match(root, /Basic Constraints: critical\n\s+CA:TRUE\n/);
  assert.match(root, /Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
  assert.doesNotMatch(root, /Authority Key Identifier|Authority Information Access|CRL Distribution/);
  assert.match(root, /Issuer: O = Hearth, CN = Hearth Test Root CA\n[\s\S]*Subject: O = Hearth, CN = Hearth Test Root CA\n/);

  const devices = text('devices.pem');
  assert.match(devices, /Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
  // No OCSP Signing in issuing CAs: only the delegated responders answer OCSP.
  assert.match(devices, /Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
  assert.match(devices, /CA Issuers - URI:http:\/\/hearth.test:8080\/ca\/root.cer/);
  assert.match(devices, /URI:http:\/\/hearth.test:8080\/crl\/root.crl/);
  assert.match(text('services.pem'), /Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
  assert.match(openssl(['verify', '-attime', String(START.getTime() / 1000 + 60), '-CAfile', join(dir, 'root.pem'), join(dir, 'devices.pem')]), /: OK/);
});

test('a device certificate chains to the root and names the device three ways', { skip }, () => {
  assert.match(verify('device.pem', 'devices.pem', 'sslclient'), /device.pem: OK/);
  const out = text('device.pem');
  assert.match(out, /Subject: CN = urn:dev:ops:acme-thermo-0001\n/);
  assert.match(out, /Key Usage: critical\n\s+Digital Signature\n/);
  assert.match(out, /Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
  assert.match(out, /Basic Constraints: critical\n\s+CA:FALSE\n/);
  // openssl 3.0 names the PermanentIdentifier otherName but cannot print its value; the next test decodes it.
  assert.match(out, /Subject Alternative Name: \n\s+URI:urn:dev:ops:acme-thermo-0001, othername: Permanent Identifier::/);
  assert.match(out, /OCSP - URI:http:\/\/hearth.test:8080\/ocsp/);
  assert.match(out, /CA Issuers - URI:http:\/\/hearth.test:8080\/ca\/devices.cer/);
  assert.match(out, /X509v3 CRL Distribution Points: \n\s+Full Name:\n\s+URI:http:\/\/hearth.test:8080\/crl\/devices.crl/);
  assert.match(out, /Not Before: Jan 15 11:59:00 2030 GMT\n\s+Not After : Jan 16 11:59:00 2030 GMT/);
  // A client-only certificate must not pass as a TLS server.
  const asServer = spawnSync(
    'openssl',
    [
      'verify',
      '-attime',
      String(START.getTime() / 1000 + 60),
      '-purpose',
      'sslserver',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'devices.pem'),
      join(dir, 'device.pem'),
    ],
    { encoding: 'utf8' },
  );
  assert.notEqual(asServer.status, 0);
});

test('the PermanentIdentifier otherName holds the device identifier as a UTF8String', { skip }, () => {
  const outer = openssl(['asn1parse', '-in', join(dir, 'device.pem')]);
  const sanValue = /:X509v3 Subject Alternative Name\n\s*(\d+):d=\d+\s+hl=\d+ l=\s*\d+ prim: OCTET STRING/.exec(outer);
  assert.ok(sanValue, 'subjectAltName extension not found');
  const san = openssl(['asn1parse', '-in', join(dir, 'device.pem'), '-strparse', sanValue[1]!]);
  assert.match(san, /prim: cont \[ 6 \]\s*\n/);
  assert.match(
    san,
    /OBJECT\s+:(1\.3\.6\.1\.5\.5\.7\.8\.3|Permanent Identifier|id-on-permanentIdentifier)\n[\s\S]*cons: cont \[ 0 \][\s\S]*cons: SEQUENCE[\s\S]*UTF8STRING\s+:urn:dev:ops:acme-thermo-0001\n/,
  );
});

test('gateway and service certificates verify for TLS server and client use', { skip }, async () => {
  const gateway = await issue({
    profile: 'gateway',
    by: h.services,
    subject: { commonName: 'gw1.home.example', dnsNames: ['gw1.home.example'], uris: ['urn:dev:ops:acme-hub-77'] },
    urls: urlsFor('services'),
    clock: h.clock,
  });
  write('gateway.pem', gateway.der);
  assert.match(verify('gateway.pem', 'services.pem', 'sslserver'), /OK/);
  assert.match(verify('gateway.pem', 'services.pem', 'sslclient'), /OK/);
  const gw = text('gateway.pem');
  assert.match(gw, /DNS:gw1.home.example, URI:urn:dev:ops:acme-hub-77/);
  assert.match(gw, /Not After : Jan 22 11:59:00 2030 GMT/);

  const service = await issue({
    profile: 'service',
    by: h.services,
    signer: createTestSigner('Ed25519'),
    subject: { dnsNames: ['api.hearth.test', '*.mqtt.hearth.test'], ipAddresses: ['192.0.2.10', '2001:db8::10'] },
    urls: urlsFor('services'),
    clock: h.clock,
  });
  write('service.pem', service.der);
  assert.match(verify('service.pem', 'services.pem', 'sslserver'), /OK/);
  const svc = text('service.pem');
  assert.match(svc, /Subject: \n|Subject:\s*\n/);
  assert.match(
    svc,
    /Subject Alternative Name: critical\n\s+DNS:api.hearth.test, DNS:\*.mqtt.hearth.test, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:10/,
  );
  assert.match(svc, /Public Key Algorithm: ED25519/);
});

test('an OCSP signer is marked no-check and is fit for OCSP signing', { skip }, async () => {
  const { der } = await issue({
    profile: 'ocsp-signer',
    by: h.devices,
    subject: { commonName: 'Hearth devices OCSP responder' },
    urls: urlsFor('devices'),
    clock: h.clock,
  });
  write('ocsp.pem', der);
  const out = text('ocsp.pem');
  assert.match(out, /Extended Key Usage: \n\s+OCSP Signing\n/);
  assert.match(out, /OCSP No Check: \n/);
  assert.doesNotMatch(out, /OCSP - URI/);
  assert.match(out, /Not After : Feb 14 11:59:00 2030 GMT/);
  assert.match(verify('ocsp.pem', 'devices.pem', 'ocsphelper'), /OK/);
});

test('an RSA service key gets keyEncipherment as well', { skip }, async () => {
  const rsa = spawnSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-outform', 'DER'], { maxBuffer: 1 << 20 });
  assert.equal(rsa.status, 0);
  const spkiDer = spawnSync('openssl', ['pkey', '-inform', 'DER', '-pubout', '-outform', 'DER'], { input: rsa.stdout });
  const { der } = await issue({
    profile: 'service',
    by: h.services,
    subject: { commonName: 'api.hearth.test', dnsNames: ['api.hearth.test'], spki: new Uint8Array(spkiDer.stdout) },
    clock: h.clock,
  });
  write('rsa-service.pem', der);
  assert.match(text('rsa-service.pem'), /Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
  assert.match(verify('rsa-service.pem', 'services.pem', 'sslserver'), /OK/);
});

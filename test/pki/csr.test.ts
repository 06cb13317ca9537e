/** CSRs made by the real openssl, accepted or refused with the reason a client can act on. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadCsrError } from '../../src/core/errors.js';
import { pemDecode } from '../../src/pki/certificate-assembly.js';
import { parseCsr } from '../../src/pki/csr.js';
import { needsOpenssl } from '../support/environment.js';

const skip = await needsOpenssl();
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-csr-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** `openssl req -new -newkey <newkey>` with a CN and optional SAN; returns the PEM. */
function opensslCsr(name: string, newkey: string[], subjectAltName?: string): string {
  const out = join(dir, `${name}.csr`);
  const args = ['req', '-new', ...newkey, '-nodes', '-keyout', join(dir, `${name}.key`), '-subj', '/CN=urn:dev:ops:acme-thermo-0001', '-out', out];
  if (subjectAltName) args.push('-addext', `subjectAltName=${subjectAltName}`);
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return readFileSync(out, 'utf8');
}

const ec = (curve: string) => ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`];

async function rejects(input: string | Uint8Array, message: RegExp): Promise<void> {
  await assert.rejects(
    async () => parseCsr(input),
    (error: unknown) => {
      assert.ok(error instanceof BadCsrError, `expected BadCsrError, got ${String(error)}`);
      assert.match(error.message, message);
      assert.equal(error.status, 400);
      return true;
    },
  );
}

test('accepts P-256 with the requested names, from PEM and from DER', { skip }, async () => {
  const pem = opensslCsr('p256', ec('P-256'), 'URI:urn:dev:ops:acme-thermo-0001,DNS:gw.example.com,IP:192.0.2.1,IP:2001:db8::1');
  for (const input of [pem, pemDecode(pem, 'CERTIFICATE REQUEST')]) {
    const csr = parseCsr(input);
    assert.equal(csr.keyType, 'ECDSA-P256');
    assert.equal(csr.rsaBits, undefined);
    assert.equal(csr.commonName, 'urn:dev:ops:acme-thermo-0001');
    assert.deepEqual(csr.uris, ['urn:dev:ops:acme-thermo-0001']);
    assert.deepEqual(csr.dnsNames, ['gw.example.com']);
    assert.deepEqual(csr.ipAddresses, ['192.0.2.1', '2001:db8::1']);
    assert.deepEqual(csr.permanentIdentifiers, []);
    // The SPKI is the requested key: openssl derives the same DER from the private key.
    const spki = spawnSync('openssl', ['pkey', '-in', join(dir, 'p256.key'), '-pubout', '-outform', 'DER']);
    assert.deepEqual(Buffer.from(csr.spki), spki.stdout);
  }
});

test('accepts P-384, Ed25519 and RSA 2048', { skip }, async () => {
  assert.equal(parseCsr(opensslCsr('p384', ec('P-384'))).keyType, 'ECDSA-P384');
  const ed = parseCsr(opensslCsr('ed25519', ['-newkey', 'ed25519'], 'DNS:svc.hearth.test'));
  assert.equal(ed.keyType, 'Ed25519');
  assert.deepEqual(ed.dnsNames, ['svc.hearth.test']);
  const rsa = parseCsr(opensslCsr('rsa2048', ['-newkey', 'rsa:2048']));
  assert.equal(rsa.keyType, 'RSA');
  assert.equal(rsa.rsaBits, 2048);
  assert.deepEqual(rsa.dnsNames, []);
});

test('refuses keys Hearth does not certify, naming type and size', { skip }, async () => {
  await rejects(opensslCsr('rsa1024', ['-newkey', 'rsa:1024']), /^RSA key of 1024 bits is too small; at least 2048 bits are required$/);
  await rejects(opensslCsr('p521', ec('P-521')), /^ECDSA key on curve secp521r1 is not accepted; use P-256 or P-384$/);
  await rejects(opensslCsr('k1', ec('secp256k1')), /^ECDSA key on curve secp256k1 is not accepted; use P-256 or P-384$/);
  await rejects(opensslCsr('ed448', ['-newkey', 'ed448']), /^ed448 keys are not accepted/);
});

test('refuses a CSR whose signature does not verify', { skip }, async () => {
  const der = pemDecode(opensslCsr('tampered', ec('P-256')), 'CERTIFICATE REQUEST');
  // The ECDSA signature's last octet is inside `s`; flipping it keeps the DER well-formed.
  const flipped = Uint8Array.from(der);
  flipped[flipped.length - 1]! ^= 0x01;
  await rejects(flipped, /^CSR signature does not verify$/);
  // So must a change to the signed part: "thermo" becomes "uhermo" in the subject CN.
  const body = Uint8Array.from(der);
  const at = Buffer.from(der).indexOf('thermo');
  assert.ok(at > 0);
  body[at]! ^= 0x01;
  await rejects(body, /^CSR signature does not verify$/);
});

test("refuses a SHA-1 signed CSR and names outside Hearth's profiles", { skip }, async () => {
  const sha1 = join(dir, 'sha1.csr');
  const made = spawnSync('openssl', ['req', '-new', '-key', join(dir, 'p256.key'), '-sha1', '-subj', '/CN=x', '-out', sha1]);
  assert.equal(made.status, 0);
  await rejects(readFileSync(sha1, 'utf8'), /^CSR signature algorithm 1\.2\.840\.10045\.4\.1 is not accepted$/);
  await rejects(opensslCsr('email', ec('P-256'), 'email:a@example.com'), /^CSR subjectAltName contains names Hearth does not issue: rfc822Name$/);
});

test('refuses garbage with "not a PKCS#10 request"', async () => {
  await rejects(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), /^not a PKCS#10 request: /);
  await rejects(
    Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff),
    /^not a PKCS#10 request: /,
  );
  await rejects('hello', /^not a PKCS#10 request: no PEM block labelled "CERTIFICATE REQUEST"/);
  await rejects(
    '-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n',
    /^not a PKCS#10 request: PEM CERTIFICATE REQUEST block is not valid base64$/,
  );
});

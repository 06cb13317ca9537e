/**
 * readCrl, the gateway's check of a fetched CRL: real CRLs, made by openssl's `ca -gencrl` and by
 * the project's own builder (src/pki/crl.ts) under CAs the openssl binary made.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCrl } from '../../../src/gateway/revocation/crl-fallback.js';
import { certificateFacts, type CertificateFacts } from '../../../src/pki/certificate-facts.js';
import { assembleCrl, buildTbsCrl, type RevokedSerial } from '../../../src/pki/crl.js';
import type { KeyAlgorithm } from '../../../src/pki/signer.js';
import { needsOpenssl } from '../../support/environment.js';

const skip = await needsOpenssl();
const work = mkdtempSync(join(tmpdir(), 'hearth-gateway-crl-'));
after(() => rmSync(work, { recursive: true, force: true }));

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });

interface TestCa {
  dir: string;
  pem: string;
  key: KeyObject;
  facts: CertificateFacts;
  algorithm: KeyAlgorithm;
}

const CA_CNF = `[req]
distinguished_name = dn
[dn]
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ca]
default_ca = devices
[devices]
database = index.txt
crlnumber = crlnumber
certificate = ca.pem
private_key = ca.key
default_md = sha256
default_crl_days = 1
`;

function makeCa(name: string, algorithm: 'ECDSA-P256' | 'Ed25519'): TestCa {
  const dir = join(work, name);
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'ca.cnf'), CA_CNF);
  const keyArgs = algorithm === 'Ed25519' ? ['-algorithm', 'ED25519'] : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(['genpkey', ...keyArgs, '-out', 'ca.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      `/O=Hearth Test/CN=${name}`,
      '-days',
      '2',
      ...(algorithm === 'Ed25519' ? [] : ['-sha256']),
      '-config',
      'ca.cnf',
      '-extensions',
      'ext',
      '-out',
      'ca.pem',
    ],
    dir,
  );
  const pem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const der = new Uint8Array(openssl(['x509', '-in', 'ca.pem', '-outform', 'DER'], dir));
  return { dir, pem, key: createPrivateKey(readFileSync(join(dir, 'ca.key'))), facts: certificateFacts(der), algorithm };
}

const hour = 3_600_000;
const now = new Date(Math.floor(Date.now() / 1000) * 1000);

/** A CRL from the project's builder, signed with `signingKey` (the CA's own unless a test says otherwise). */
function projectCrl(ca: TestCa, revoked: RevokedSerial[], options: { thisUpdate?: Date; nextUpdate?: Date; signingKey?: KeyObject } = {}): Uint8Array {
  const tbs = buildTbsCrl({
    issuerName: ca.facts.subjectNameDer,
    issuerKeyIdentifier: ca.facts.keyIdentifier,
    signatureAlgorithm: ca.algorithm,
    thisUpdate: options.thisUpdate ?? new Date(now.getTime() - hour),
    nextUpdate: options.nextUpdate ?? new Date(now.getTime() + 23 * hour),
    crlNumber: 7n,
    revoked,
  });
  const key = options.signingKey ?? ca.key;
  const signature = sign(ca.algorithm === 'Ed25519' ? null : 'sha256', tbs, key);
  return assembleCrl(tbs, ca.algorithm, new Uint8Array(signature));
}

const ca = skip ? undefined : makeCa('devices-ca', 'ECDSA-P256');
const otherCa = skip ? undefined : makeCa('other-ca', 'ECDSA-P256');
const edCa = skip ? undefined : makeCa('ed25519-ca', 'Ed25519');

describe('readCrl', { skip }, () => {
  test("a CRL made by openssl's `ca -gencrl` is read with its serials in canonical form", () => {
    assert.ok(ca);
    // index.txt: status, expiry, revocation date[,reason], serial, file, subject (tab-separated).
    writeFileSync(
      join(ca.dir, 'index.txt'),
      [
        'R\t351231000000Z\t300101120000Z,keyCompromise\t00C0FFEE\tunknown\t/CN=device-1',
        'V\t351231000000Z\t\t1002\tunknown\t/CN=device-2',
        'R\t351231000000Z\t300102000000Z\t7F01\tunknown\t/CN=device-3',
        '',
      ].join('\n'),
    );
    writeFileSync(join(ca.dir, 'crlnumber'), '01\n');
    openssl(['ca', '-config', 'ca.cnf', '-gencrl', '-out', 'openssl-crl.pem'], ca.dir);
    const der = new Uint8Array(openssl(['crl', '-in', 'openssl-crl.pem', '-outform', 'DER'], ca.dir));

    const reading = readCrl(der, ca.pem, new Date());
    assert.deepEqual(reading.revoked.map((r) => r.serial).sort(), ['7f01', 'c0ffee']);
    const first = reading.revoked.find((r) => r.serial === 'c0ffee');
    assert.deepEqual(first, { serial: 'c0ffee', identifier: null, revokedAt: '2030-01-01T12:00:00.000Z', notAfter: null });
    assert.ok(reading.nextUpdate && reading.nextUpdate.getTime() > Date.now());
    assert.ok(reading.thisUpdate.getTime() <= Date.now() + 1000);
    // The same CRL, read a day and a half later, is past its nextUpdate (default_crl_days = 1).
    assert.throws(() => readCrl(der, ca.pem, new Date(Date.now() + 36 * hour)), /expired/);
  });

  test("a CRL from the project's builder is read: serials, times, an empty list", () => {
    assert.ok(ca);
    const thisUpdate = new Date(now.getTime() - hour);
    const nextUpdate = new Date(now.getTime() + 23 * hour);
    const der = projectCrl(
      ca,
      [
        { serial: '00AB', revokedAt: new Date('2030-02-03T04:05:06Z'), reason: 1 },
        { serial: '80', revokedAt: new Date('2030-02-03T04:05:07Z'), reason: 0 },
      ],
      { thisUpdate, nextUpdate },
    );
    const reading = readCrl(der, ca.pem, now);
    assert.deepEqual(reading.thisUpdate, thisUpdate);
    assert.deepEqual(reading.nextUpdate, nextUpdate);
    assert.deepEqual(
      reading.revoked.map((r) => [r.serial, r.revokedAt]),
      [
        ['ab', '2030-02-03T04:05:06.000Z'],
        ['80', '2030-02-03T04:05:07.000Z'],
      ],
    );
    assert.deepEqual(readCrl(projectCrl(ca, []), ca.pem, now).revoked, []);
  });

  test('an Ed25519 CA: its CRL verifies with no digest', () => {
    assert.ok(edCa);
    const reading = readCrl(projectCrl(edCa, [{ serial: '000A0B', revokedAt: new Date(now.getTime() - hour), reason: 4 }]), edCa.pem, now);
    // Canonical hex is whole octets: 0a0b, as canonicalSerialHex gives for any spelling of it.
    assert.deepEqual(
      reading.revoked.map((r) => r.serial),
      ['0a0b'],
    );
  });

  test('a CRL signed by another key is refused', () => {
    assert.ok(ca && otherCa);
    const revoked = [{ serial: '01', revokedAt: new Date(now.getTime() - hour), reason: 0 }];
    // Another CA's CRL, read against the devices CA.
    assert.throws(() => readCrl(projectCrl(otherCa, revoked), ca.pem, now), /signature does not verify/);
    // The devices CA's name and key identifier, signed by a key that is not the CA's.
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.throws(() => readCrl(projectCrl(ca, revoked, { signingKey: stranger }), ca.pem, now), /signature does not verify/);
    // And the good one, for contrast.
    assert.equal(readCrl(projectCrl(ca, revoked), ca.pem, now).revoked.length, 1);
  });

  test('a CRL altered after signing is refused', () => {
    assert.ok(ca);
    const der = projectCrl(ca, [{ serial: '7a7a7a7a', revokedAt: new Date(now.getTime() - hour), reason: 0 }]);
    const at = Buffer.from(der).indexOf(Buffer.from([0x02, 0x04, 0x7a, 0x7a, 0x7a, 0x7a]));
    assert.ok(at > 0);
    const altered = Uint8Array.from(der);
    altered[at + 5] = 0x7b; // another serial in the list
    assert.throws(() => readCrl(altered, ca.pem, now), /signature does not verify/);
  });

  test('a CRL whose nextUpdate has passed is refused', () => {
    assert.ok(ca);
    const der = projectCrl(ca, [], { thisUpdate: new Date(now.getTime() - 25 * hour), nextUpdate: new Date(now.getTime() - hour) });
    assert.throws(() => readCrl(der, ca.pem, now), /expired/);
    // The same CRL was good while current.
    assert.equal(readCrl(der, ca.pem, new Date(now.getTime() - 2 * hour)).revoked.length, 0);
  });

  test('garbage, truncation and an empty body are refused', () => {
    assert.ok(ca);
    const good = projectCrl(ca, [{ serial: '01', revokedAt: new Date(now.getTime() - hour), reason: 0 }]);
    for (const bytes of [
      new Uint8Array(0),
      Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01]),
      new Uint8Array(Buffer.from('not a CRL at all')),
      good.slice(0, good.length - 10),
      new Uint8Array(readFileSync(join(ca.dir, 'ca.pem'))),
    ]) {
      assert.throws(() => readCrl(bytes, ca.pem, now), Error);
    }
    // A certificate is DER too, but not a CRL.
    assert.throws(() => readCrl(ca.facts.der, ca.pem, now));
  });
});

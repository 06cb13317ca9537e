import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList, TBSCertList, Version, id_ce_cRLReasons } from '@peculiar/asn1-x509';
import { CrlContentError, assembleCrl, buildTbsCrl, type CrlContents } from '../../src/pki/crl.js';
import { needsOpenssl } from '../support/environment.js';
import { createOpensslCa, type OpensslCa } from '../support/openssl-ca.js';

const skip = await needsOpenssl();
const ca: OpensslCa | undefined = skip ? undefined : createOpensslCa(['7f01', '00c0ffee']);
after(() => ca?.cleanup());

const now = new Date('2030-01-01T00:00:00.250Z');
const hour = 3_600_000;

function contents(overrides: Partial<CrlContents> = {}): CrlContents {
  return {
    issuerName: ca?.ca.facts.subjectNameDer ?? new Uint8Array([0x30, 0x00]),
    issuerKeyIdentifier: ca?.ca.facts.keyIdentifier ?? new Uint8Array([1, 2, 3]),
    signatureAlgorithm: 'ECDSA-P256',
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 24 * hour),
    crlNumber: 42n,
    revoked: [],
    ...overrides,
  };
}

function signedCrl(c: CrlContents, name: string): { der: Uint8Array; pemPath: string } {
  if (!ca) throw new Error('openssl CA missing');
  const tbs = buildTbsCrl(c);
  const der = assembleCrl(tbs, 'ECDSA-P256', sign('sha256', tbs, { key: ca.ca.key, dsaEncoding: 'der' }));
  writeFileSync(ca.path(`${name}.der`), der);
  const pem = ca.openssl(['crl', '-inform', 'DER', '-in', `${name}.der`, '-out', `${name}.pem`]);
  assert.equal(pem.status, 0, pem.output);
  return { der, pemPath: ca.path(`${name}.pem`) };
}

test('openssl verifies a signed CRL and reads its number and reasons', { skip }, () => {
  assert.ok(ca);
  const crl = signedCrl(
    contents({
      revoked: [
        { serial: '7F01', revokedAt: new Date(now.getTime() - hour), reason: 1 },
        { serial: '0abc', revokedAt: new Date(now.getTime() - 2 * hour), reason: 0 },
      ],
    }),
    'two-revoked',
  );

  const verify = ca.openssl(['crl', '-inform', 'DER', '-in', 'two-revoked.der', '-CAfile', ca.ca.certPath, '-noout']);
  assert.equal(verify.status, 0, verify.output);
  assert.match(verify.output, /verify OK/);

  const text = ca.openssl(['crl', '-in', crl.pemPath, '-noout', '-text']).output;
  assert.match(text, /Version 2 \(0x1\)/);
  assert.match(text, /X509v3 CRL Number:\s*\n\s*42\b/);
  assert.match(text, /X509v3 Authority Key Identifier:/);
  assert.match(
    text,
    /Serial Number: 7F01\s*\n\s*Revocation Date: Dec 31 23:00:00 2029 GMT\s*\n\s*CRL entry extensions:\s*\n\s*X509v3 CRL Reason Code:\s*\n\s*Key Compromise/,
  );
  assert.match(text, /Last Update: Jan {2}1 00:00:00 2030 GMT/);

  // RFC 5280 §5.3.1: unspecified is expressed by the absence of reasonCode.
  const parsed = AsnConvert.parse(crl.der, CertificateList).tbsCertList;
  assert.equal(parsed.version, Version.v2);
  const unspecified = parsed.revokedCertificates?.find((r) => Buffer.from(r.userCertificate).toString('hex') === '0abc');
  assert.ok(unspecified);
  assert.equal(unspecified.crlEntryExtensions, undefined);
  const keyCompromise = parsed.revokedCertificates?.find((r) => Buffer.from(r.userCertificate).toString('hex') === '7f01');
  assert.deepEqual(
    keyCompromise?.crlEntryExtensions?.map((e) => e.extnID),
    [id_ce_cRLReasons],
  );
});

test('openssl verify -crl_check rejects the revoked leaf and accepts the other', { skip }, () => {
  assert.ok(ca);
  const [revokedLeaf, goodLeaf] = ca.leaves;
  assert.ok(revokedLeaf && goodLeaf);
  const signedAt = new Date();
  const crl = signedCrl(
    contents({
      thisUpdate: signedAt,
      nextUpdate: new Date(signedAt.getTime() + hour),
      revoked: [
        { serial: revokedLeaf.facts.serialHex, revokedAt: signedAt, reason: 4 },
        { serial: 'deadbeef', revokedAt: signedAt, reason: 5 },
      ],
    }),
    'leaf-check',
  );

  const check = (certPath: string) => ca.openssl(['verify', '-crl_check', '-CAfile', ca.ca.certPath, '-CRLfile', crl.pemPath, certPath]);
  const revoked = check(revokedLeaf.certPath);
  assert.notEqual(revoked.status, 0);
  assert.match(revoked.output, /certificate revoked/);
  const good = check(goodLeaf.certPath);
  assert.equal(good.status, 0, good.output);
  assert.match(good.output, /: OK/);
});

test('a CRL with nothing revoked omits the list and still verifies', { skip }, () => {
  assert.ok(ca);
  const crl = signedCrl(contents(), 'empty');
  assert.equal(AsnConvert.parse(crl.der, CertificateList).tbsCertList.revokedCertificates, undefined);
  const verify = ca.openssl(['crl', '-inform', 'DER', '-in', 'empty.der', '-CAfile', ca.ca.certPath, '-noout']);
  assert.match(verify.output, /verify OK/);
});

test('serials with the high bit set are encoded as positive integers', () => {
  const tbs = buildTbsCrl(contents({ revoked: [{ serial: 'C0FFEE', revokedAt: now, reason: 9 }] }));
  const [entry] = AsnConvert.parse(tbs, TBSCertList).revokedCertificates ?? [];
  assert.ok(entry);
  assert.equal(Buffer.from(entry.userCertificate).toString('hex'), '00c0ffee');
});

test('times after 2049 are GeneralizedTime, as RFC 5280 requires', () => {
  const tbs = Buffer.from(buildTbsCrl(contents({ thisUpdate: new Date('2049-12-31T00:00:00Z'), nextUpdate: new Date('2050-01-02T00:00:00Z') })));
  assert.ok(tbs.includes(Buffer.from('\x17\x0d491231000000Z', 'latin1')), 'thisUpdate as UTCTime');
  assert.ok(tbs.includes(Buffer.from('\x18\x0f20500102000000Z', 'latin1')), 'nextUpdate as GeneralizedTime');
});

test('invalid contents are refused with CrlContentError', () => {
  const entry = { serial: '01', revokedAt: now, reason: 1 };
  const cases: [string, Partial<CrlContents>, RegExp][] = [
    ['reason 7', { revoked: [{ ...entry, reason: 7 }] }, /not an RFC 5280 CRLReason/],
    ['reason 11', { revoked: [{ ...entry, reason: 11 }] }, /not an RFC 5280 CRLReason/],
    ['reason -1', { revoked: [{ ...entry, reason: -1 }] }, /not an RFC 5280 CRLReason/],
    ['removeFromCRL', { revoked: [{ ...entry, reason: 8 }] }, /delta CRLs/],
    ['same second', { nextUpdate: new Date(now.getTime() + 500) }, /must be before nextUpdate/],
    ['reversed', { nextUpdate: new Date(now.getTime() - hour) }, /must be before nextUpdate/],
    ['invalid date', { thisUpdate: new Date(Number.NaN) }, /thisUpdate is not a valid date/],
    ['non-hex serial', { revoked: [{ ...entry, serial: 'xyz' }] }, /not hexadecimal/],
    ['empty serial', { revoked: [{ ...entry, serial: '' }] }, /not hexadecimal/],
    ['0x prefix', { revoked: [{ ...entry, serial: '0x01' }] }, /not hexadecimal/],
    ['zero serial', { revoked: [{ ...entry, serial: '00' }] }, /serial 0/],
    ['21-octet serial', { revoked: [{ ...entry, serial: '80'.padEnd(40, '0') }] }, /longer than 20 octets/],
    ['duplicate', { revoked: [entry, { ...entry, serial: '0001' }] }, /listed twice/],
    ['negative CRL number', { crlNumber: -1n }, /outside/],
    ['huge CRL number', { crlNumber: 2n ** 159n }, /outside/],
    ['bad issuer', { issuerName: new Uint8Array([1, 2, 3]) }, /not a DER-encoded Name/],
    ['empty AKI', { issuerKeyIdentifier: new Uint8Array() }, /issuerKeyIdentifier is empty/],
  ];
  for (const [name, overrides, message] of cases) {
    assert.throws(
      () => buildTbsCrl(contents(overrides)),
      (e: unknown) => {
        assert.ok(e instanceof CrlContentError, name);
        assert.match(e.message, message, name);
        return true;
      },
    );
  }
  assert.doesNotThrow(() => buildTbsCrl(contents({ crlNumber: 2n ** 159n - 1n })));
});

test('assembleCrl refuses a signer whose algorithm differs from the TBS, and garbage TBS', () => {
  const tbs = buildTbsCrl(contents());
  assert.throws(() => assembleCrl(tbs, 'Ed25519', new Uint8Array(64)), CrlContentError);
  assert.throws(() => assembleCrl(new Uint8Array([0x30, 0x01, 0x00]), 'ECDSA-P256', new Uint8Array(8)), CrlContentError);
  assert.throws(() => assembleCrl(tbs, 'ECDSA-P256', new Uint8Array()), CrlContentError);
});

test('assembleCrl embeds the TBS bytes exactly as signed', () => {
  const tbs = buildTbsCrl(contents({ revoked: [{ serial: '01', revokedAt: now, reason: 2 }] }));
  const crl = AsnConvert.parse(assembleCrl(tbs, 'ECDSA-P256', new Uint8Array([1, 2, 3])), CertificateList);
  assert.deepEqual(new Uint8Array(crl.tbsCertListRaw ?? new ArrayBuffer(0)), tbs);
  assert.equal(crl.signatureAlgorithm.algorithm, '1.2.840.10045.4.3.2');
  assert.deepEqual(new Uint8Array(crl.signature), new Uint8Array([1, 2, 3]));
});

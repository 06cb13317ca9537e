/**
 * The DER writer and the direct template encoding against @peculiar/asn1-schema, the reference:
 * byte-identical output for random inputs, and the reader's verdicts on non-DER input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Name,
  Validity,
  Version,
  id_ad_caIssuers,
  id_ad_ocsp,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_pe_authorityInfoAccess,
} from '@peculiar/asn1-x509';
import { ManualClock } from '../../src/core/clock.js';
import {
  OID_OCSP_NOCHECK,
  buildTbsCertificate,
  keyUsagesFor,
  subjectKeyIdentifier,
  KEY_USAGE_BITS,
  type IssuerInput,
} from '../../src/pki/certificate-template.js';
import { lintTbsCertificate } from '../../src/pki/certificate-lint.js';
import { DerReader, decodeOid } from '../../src/pki/der-reader.js';
import { namedBits, oid, sequence, smallInteger, time, tlv } from '../../src/pki/der-writer.js';
import { buildGeneralNames, buildName, encodeName } from '../../src/pki/name.js';
import { PROFILE_NAMES, getProfile } from '../../src/pki/profiles.js';
import { serialIntegerFromHex } from '../../src/pki/serial-number.js';
import { signatureAlgorithmFor } from '../../src/pki/signature-algorithm.js';
import { createTestSigner } from '../support/test-signer.js';

const ref = (value: unknown) => new Uint8Array(AsnConvert.serialize(value));
const runs = { numRuns: 200 };

test('tlv lengths, OIDs, small integers and named bits match asn1-schema', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70_000 }), (bytes) => {
      assert.deepEqual(tlv(0x04, bytes), ref(new OctetString(bytes)));
    }),
    { numRuns: 50 },
  );
  // asn1js (under asn1-schema) writes nothing at all for an arc of 2^49 or more (eight base-128
  // digits), so the reference is asked only below that; above it the round trip through the
  // reader and hand-checked encodings stand in.
  const arc = fc.oneof(fc.nat(200), fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 49n - 1n }));
  assert.equal(Buffer.from(oid('0.0.562949953421312')).toString('hex'), '0609008180808080808000', '2^49: eight digits, 1 then seven zeros');
  assert.equal(Buffer.from(oid('0.0.9007199254740993')).toString('hex'), '0609009080808080808001', '2^53 + 1');
  fc.assert(
    fc.property(fc.bigInt({ min: 2n ** 49n, max: 2n ** 70n }), (big) => assert.equal(decodeOid(oid(`1.2.${big}`).subarray(2)), `1.2.${big}`)),
    runs,
  );
  fc.assert(
    fc.property(fc.nat(2), fc.nat(39), fc.array(arc, { maxLength: 8 }), (a, b, rest) => {
      const dotted = [a, b, ...rest].join('.');
      const encoded = oid(dotted);
      assert.deepEqual(encoded, ref(new ExtendedKeyUsage([dotted])).subarray(2));
      assert.equal(decodeOid(encoded.subarray(2)), dotted);
    }),
    runs,
  );
  fc.assert(
    fc.property(fc.nat(2 ** 31), (n) => assert.deepEqual(smallInteger(n), ref(new BasicConstraints({ cA: true, pathLenConstraint: n })).subarray(5))),
    runs,
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 511 }), (flags) => assert.deepEqual(namedBits(flags), ref(new KeyUsage(flags)))),
    runs,
  );
});

test('times: UTCTime through 2049, GeneralizedTime from 2050, as asn1-schema writes them', () => {
  const seconds = fc.integer({ min: Date.UTC(1950, 0, 1) / 1000, max: Date.UTC(9999, 11, 31, 23, 59, 59) / 1000 });
  fc.assert(
    fc.property(seconds, (s) => {
      const date = new Date(s * 1000);
      assert.deepEqual(time(date), ref(new Validity({ notBefore: date, notAfter: date })).subarray(2, 2 + time(date).length));
    }),
    runs,
  );
  assert.equal(time(new Date('2049-12-31T23:59:59Z'))[0], 0x17);
  assert.equal(time(new Date('2050-01-01T00:00:00Z'))[0], 0x18);
  assert.throws(() => time(new Date(1500)), RangeError);
});

test('the reader refuses indefinite and truncated lengths and remembers non-minimal ones', () => {
  assert.throws(() => new DerReader(new Uint8Array([0x30, 0x80, 0, 0])).root(), /indefinite/);
  assert.throws(() => new DerReader(new Uint8Array([0x30, 0x05, 0x02, 0x01])).root(), /runs past/);
  const reader = new DerReader(new Uint8Array([0x30, 0x81, 0x03, 0x02, 0x01, 0x05]));
  assert.deepEqual(reader.children(reader.root()).length, 1);
  assert.equal(reader.nonMinimalLength, true);
  assert.throws(() => decodeOid(new Uint8Array([0x2a, 0x80, 0x01])), /non-minimal/);
});

/** The TBSCertificate as the template built it with asn1-schema before the direct encoding. */
function referenceTbs(
  profileName: string,
  serialHex: string,
  issuer: IssuerInput,
  subject: Parameters<typeof buildTbsCertificate>[0]['subject'],
  urls: { ocsp?: string; caIssuers?: string; crl?: string } | undefined,
  notBefore: Date,
  notAfter: Date,
): Uint8Array {
  const profile = getProfile(profileName);
  const selfSigned = profile.issuedBy === 'self';
  const spki = AsnConvert.parse(subject.spki, SubjectPublicKeyInfo);
  const subjectName = buildName(subject);
  const ext = (extnID: string, critical: boolean, value: unknown) => new Extension({ extnID, critical, extnValue: new OctetString(ref(value)) });
  const bc = profile.basicConstraints;
  const flags = keyUsagesFor(profile, spki).reduce((f, u) => f | (1 << KEY_USAGE_BITS[u]), 0);
  const extensions = [
    ext(
      id_ce_basicConstraints,
      true,
      new BasicConstraints(bc.ca && bc.pathLength !== undefined ? { cA: true, pathLenConstraint: bc.pathLength } : { cA: bc.ca }),
    ),
    ext(id_ce_keyUsage, true, new KeyUsage(flags)),
  ];
  if (profile.extendedKeyUsage.length > 0) extensions.push(ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([...profile.extendedKeyUsage])));
  extensions.push(ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(subjectKeyIdentifier(subject.spki))));
  if (!selfSigned)
    extensions.push(ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuer.keyIdentifier!) })));
  const names = buildGeneralNames({
    dnsNames: subject.dnsNames,
    ipAddresses: subject.ipAddresses,
    uris: subject.uris,
    permanentIdentifiers: subject.permanentIdentifier === undefined ? [] : [subject.permanentIdentifier],
  });
  if (names.length > 0) extensions.push(ext(id_ce_subjectAltName, subjectName.length === 0, new SubjectAlternativeName(names)));
  if (!selfSigned && urls) {
    const uri = (u: string) => new GeneralName({ uniformResourceIdentifier: u });
    const access: AccessDescription[] = [];
    if (urls.ocsp && !profile.ocspNoCheck) access.push(new AccessDescription({ accessMethod: id_ad_ocsp, accessLocation: uri(urls.ocsp) }));
    if (urls.caIssuers) access.push(new AccessDescription({ accessMethod: id_ad_caIssuers, accessLocation: uri(urls.caIssuers) }));
    if (access.length > 0) extensions.push(ext(id_pe_authorityInfoAccess, false, new AuthorityInfoAccessSyntax(access)));
    if (urls.crl)
      extensions.push(
        ext(
          id_ce_cRLDistributionPoints,
          false,
          new CRLDistributionPoints([new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName: [uri(urls.crl)] }) })]),
        ),
      );
  }
  if (profile.ocspNoCheck) extensions.push(new Extension({ extnID: OID_OCSP_NOCHECK, critical: false, extnValue: new OctetString(new Uint8Array([5, 0])) }));
  return ref(
    new TBSCertificate({
      version: Version.v3,
      serialNumber: serialIntegerFromHex(serialHex).slice().buffer,
      signature: signatureAlgorithmFor(issuer.signatureAlgorithm),
      issuer: selfSigned ? subjectName : AsnConvert.parse(issuer.name!, Name),
      validity: new Validity({ notBefore, notAfter }),
      subject: subjectName,
      subjectPublicKeyInfo: spki,
      extensions: new Extensions(extensions),
    }),
  );
}

test("the direct TBS encoding is byte-identical to asn1-schema's, for every profile and random names", async () => {
  const spkis = await Promise.all((['ECDSA-P256', 'ECDSA-P384', 'Ed25519'] as const).map((a) => createTestSigner(a).publicKeySpki()));
  const issuerName = encodeName({ commonName: 'Hearth devices CA', organization: 'Hearth' });
  const text = fc.string({ minLength: 1, maxLength: 200, unit: 'grapheme' });
  const ascii = fc.string({ minLength: 1, maxLength: 150 });
  // Text forms with an embedded IPv4 part are not ones asn1-schema parses.
  const ip = fc.oneof(
    fc.ipV4(),
    fc.ipV6().filter((a) => !a.includes('.')),
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...PROFILE_NAMES),
      fc.constantFrom(...spkis),
      fc.constantFrom('ECDSA-P256', 'ECDSA-P384', 'Ed25519' as const),
      fc.uint8Array({ minLength: 1, maxLength: 20 }).filter((b) => b.some((x) => x !== 0)),
      fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2060, 0, 1) }),
      fc.record({
        commonName: fc.option(text, { nil: undefined }),
        organization: fc.option(text, { nil: undefined }),
        dnsNames: fc.array(ascii, { maxLength: 3 }),
        uris: fc.array(ascii, { maxLength: 2 }),
        ipAddresses: fc.array(ip, { maxLength: 2 }),
        permanentIdentifier: fc.option(text, { nil: undefined }),
      }),
      fc.option(fc.record({ ocsp: ascii, caIssuers: ascii, crl: ascii }, { requiredKeys: [] }), { nil: undefined }),
      (profileName, spki, algorithm, serial, now, names, urls) => {
        const profile = getProfile(profileName);
        const issuer: IssuerInput = { name: issuerName, keyIdentifier: serial, signatureAlgorithm: algorithm };
        const subject = { spki, ...names };
        const serialHex =
          Buffer.from(serial)
            .toString('hex')
            .replace(/^(00)+/, '') || '01';
        const built = buildTbsCertificate({ profile, serialHex, issuer, subject, ...(urls ? { urls } : {}), clock: new ManualClock(new Date(now)) });
        assert.deepEqual(built.tbs, referenceTbs(profileName, serialHex, issuer, subject, urls, built.notBefore, built.notAfter));
      },
    ),
    runs,
  );
});

test('the lint reads back what the template writes, including GeneralizedTime from 2050', async () => {
  const spki = await createTestSigner('ECDSA-P384').publicKeySpki();
  const root = getProfile('root');
  const issuer = { signatureAlgorithm: 'ECDSA-P384' as const };
  const built = buildTbsCertificate({
    profile: root,
    serialHex: '01',
    issuer,
    subject: { spki, commonName: 'Root' },
    clock: new ManualClock(new Date('2045-06-01T00:00:00Z')),
  });
  assert.deepEqual(lintTbsCertificate(built.tbs, root, { issuer }), []);
  // An encoded DEFAULT FALSE criticality, or TRUE as 0x01, is BER, not DER: rebuild the TBS with one.
  const reencode = (flag: Uint8Array) => {
    const reader = new DerReader(built.tbs);
    const fields = reader.children(reader.root());
    const extensions = reader.children(reader.children(fields[fields.length - 1]!)[0]!);
    const [id, , value] = reader.children(extensions[0]!); // basicConstraints, critical
    const changed = [sequence(reader.encoding(id!), flag, reader.encoding(value!)), ...extensions.slice(1).map((e) => reader.encoding(e))];
    return sequence(...fields.slice(0, -1).map((f) => reader.encoding(f)), tlv(0xa3, sequence(...changed)));
  };
  assert.deepEqual(lintTbsCertificate(reencode(new Uint8Array([0x01, 0x01, 0xff])), root, { issuer }), []);
  assert.ok(lintTbsCertificate(reencode(new Uint8Array([0x01, 0x01, 0x01])), root, { issuer }).includes('TBSCertificate is not in canonical DER'));
  assert.ok(lintTbsCertificate(reencode(new Uint8Array([0x01, 0x01, 0x00])), root, { issuer }).includes('TBSCertificate is not in canonical DER'));
});

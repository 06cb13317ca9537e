/** Every lint rule fires on a TBSCertificate that breaks it, and stays quiet on a good one. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  Extension,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  TBSCertificate,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_pe_authorityInfoAccess,
  id_ce_cRLDistributionPoints,
} from '@peculiar/asn1-x509';
import { ManualClock } from '../../src/core/clock.js';
import { BadRequestError } from '../../src/core/errors.js';
import { lintTbsCertificate, type LintExpectations } from '../../src/pki/certificate-lint.js';
import { OID_OCSP_NOCHECK, buildTbsCertificate, type SubjectInput } from '../../src/pki/certificate-template.js';
import { buildGeneralNames } from '../../src/pki/name.js';
import { OID_KP_SERVER_AUTH, getProfile, type CertificateProfile } from '../../src/pki/profiles.js';
import { createTestSigner } from '../support/test-signer.js';
import { START, buildHierarchy, urlsFor, type Hierarchy } from './issuance-fixtures.js';

const DEVICE_ID = 'urn:dev:ops:acme-thermo-0001';
const device = getProfile('device');
let h: Hierarchy;
let deviceSubject: SubjectInput;
let expectations: LintExpectations;

before(async () => {
  h = await buildHierarchy();
  deviceSubject = {
    spki: await createTestSigner('ECDSA-P256').publicKeySpki(),
    commonName: DEVICE_ID,
    uris: [DEVICE_ID],
    permanentIdentifier: DEVICE_ID,
  };
  expectations = { issuer: h.devices.issuer, urls: urlsFor('devices') };
});

function build(profile: CertificateProfile = device, subject: Partial<SubjectInput> = {}, urls = expectations.urls): Uint8Array {
  return buildTbsCertificate({
    profile,
    serialHex: '7f0102030405060708090a0b0c0d0e0f',
    issuer: expectations.issuer,
    subject: { ...deviceSubject, ...subject },
    ...(urls ? { urls } : {}),
    clock: new ManualClock(START),
  }).tbs;
}

function mutate(tbsDer: Uint8Array, change: (tbs: TBSCertificate) => void): Uint8Array {
  const tbs = AsnConvert.parse(tbsDer, TBSCertificate);
  change(tbs);
  return new Uint8Array(AsnConvert.serialize(tbs));
}

function replaceExtension(tbs: TBSCertificate, extnID: string, critical: boolean, value: unknown): void {
  const rest = (tbs.extensions ?? []).filter((e) => e.extnID !== extnID);
  if (value !== null) rest.push(new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) }));
  tbs.extensions!.splice(0, tbs.extensions!.length, ...rest);
}

function lint(tbs: Uint8Array, profile = device, expect = expectations): string[] {
  return lintTbsCertificate(tbs, profile, expect);
}

function assertFinding(findings: string[], pattern: RegExp): void {
  assert.ok(
    findings.some((f) => pattern.test(f)),
    `no finding matches ${pattern}; got ${JSON.stringify(findings)}`,
  );
}

test('a certificate built from its profile lints clean, for every profile', async () => {
  assert.deepEqual(lint(build()), []);
  const serviceSubject = { commonName: undefined, uris: [], permanentIdentifier: undefined, dnsNames: ['api.hearth.test'], ipAddresses: ['192.0.2.1'] };
  const services = { issuer: h.services.issuer, urls: urlsFor('services') };
  const tbs = buildTbsCertificate({
    profile: getProfile('service'),
    serialHex: '01',
    issuer: services.issuer,
    subject: { ...deviceSubject, ...serviceSubject },
    urls: services.urls,
    clock: h.clock,
  }).tbs;
  assert.deepEqual(lintTbsCertificate(tbs, getProfile('service'), services), []);
});

test('a MUD URL (RFC 8520) lints clean on a device certificate and is refused elsewhere or malformed', () => {
  assert.deepEqual(lint(build(device, { mudUrl: 'https://mud.example.com/thermo1.json' })), []);
  assertFinding(lint(build(device, { mudUrl: 'http://mud.example.com/thermo1.json' })), /^the MUD URL must be an https URL of printable ASCII$/);
  const services = { issuer: h.services.issuer, urls: urlsFor('services') };
  const serviceSubject = {
    ...deviceSubject,
    commonName: undefined,
    uris: [],
    permanentIdentifier: undefined,
    dnsNames: ['api.hearth.test'],
    mudUrl: 'https://mud.example.com/x.json',
  };
  const tbs = buildTbsCertificate({
    profile: getProfile('service'),
    serialHex: '01',
    issuer: services.issuer,
    subject: serviceSubject,
    urls: services.urls,
    clock: h.clock,
  }).tbs;
  assertFinding(lintTbsCertificate(tbs, getProfile('service'), services), /^a service certificate may not carry a MUD URL$/);
});

test('the wrong profile is caught: a gateway-shaped TBS is not a device certificate', () => {
  const findings = lint(build(getProfile('gateway')));
  assertFinding(findings, /^validity of 604800 s exceeds the device profile's maximum of 86400 s$/);
  assertFinding(findings, /^extendedKeyUsage is \[1\.3\.6\.1\.5\.5\.7\.3\.1, 1\.3\.6\.1\.5\.5\.7\.3\.2\], expected \[1\.3\.6\.1\.5\.5\.7\.3\.2\]$/);
});

test('structure: decoding, DER, version, serial number', () => {
  assertFinding(lint(new Uint8Array([1, 2, 3])), /^TBSCertificate does not decode/);
  assertFinding(lint(mutate(build(), (t) => (t.version = Version.v1))), /^version is v1, expected v3$/);
  assertFinding(lint(mutate(build(), (t) => (t.serialNumber = new Uint8Array([0x80, 1]).buffer))), /^serial number is negative$/);
  assertFinding(lint(mutate(build(), (t) => (t.serialNumber = new Uint8Array([0]).buffer))), /^serial number is zero$/);
  assertFinding(lint(mutate(build(), (t) => (t.serialNumber = new Uint8Array(21).fill(1).buffer))), /^serial number is 21 octets, more than 20$/);
  assertFinding(lint(mutate(build(), (t) => (t.serialNumber = new Uint8Array([0, 1]).buffer))), /^serial number has a superfluous leading zero octet$/);
  // A non-minimal length (0x83 00 LL LL for 0x82 LL LL) is valid BER but not DER.
  const der = build();
  assert.equal(der[1], 0x82);
  const ber = new Uint8Array([0x30, 0x83, 0x00, ...der.subarray(2)]);
  assert.deepEqual(lint(ber), ['TBSCertificate is not in canonical DER']);
  assertFinding(lint(mutate(der, (t) => (t.validity.notBefore = new Time({ generalTime: START })))), /^notBefore before 2050 must be a UTCTime$/);
});

test('issuer binding: signature algorithm, issuer name, authority key identifier', () => {
  assertFinding(
    lint(build(), device, { ...expectations, issuer: { ...expectations.issuer, signatureAlgorithm: 'ECDSA-P384' } }),
    /^signature algorithm 1\.2\.840\.10045\.4\.3\.2 is not the issuer's \(1\.2\.840\.10045\.4\.3\.3 for ECDSA-P384\)$/,
  );
  assertFinding(lint(build(), device, { ...expectations, issuer: h.services.issuer }), /^issuer name is not the issuing CA certificate's subject$/);
  assertFinding(lint(build(), device, { ...expectations, issuer: h.services.issuer }), /^authorityKeyIdentifier is not the issuing CA's subjectKeyIdentifier$/);
  assertFinding(lint(mutate(build(), (t) => replaceExtension(t, id_ce_authorityKeyIdentifier, false, null))), /^authorityKeyIdentifier is missing$/);
  const wrongAki = new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(new Uint8Array(20)) });
  assertFinding(
    lint(mutate(build(), (t) => replaceExtension(t, id_ce_authorityKeyIdentifier, false, wrongAki))),
    /^authorityKeyIdentifier is not the issuing CA's subjectKeyIdentifier$/,
  );
});

test('validity: inverted, too long, beyond the issuer', () => {
  const inverted = mutate(build(), (t) => {
    [t.validity.notBefore, t.validity.notAfter] = [t.validity.notAfter, t.validity.notBefore];
  });
  assertFinding(lint(inverted), /^notBefore is not before notAfter$/);
  const tooLong = mutate(build(), (t) => (t.validity.notAfter = new Time(new Date(START.getTime() + 25 * 3_600_000))));
  assertFinding(lint(tooLong), /exceeds the device profile's maximum of 86400 s$/);
  const issuerEndsSoon = { ...expectations, issuer: { ...expectations.issuer, notAfter: new Date(START.getTime() + 3_600_000) } };
  assertFinding(lint(build(), device, issuerEndsSoon), /^notAfter is later than the issuing CA's notAfter$/);
});

test('the template refuses a lifetime above the profile maximum and clamps to the issuer', () => {
  assert.throws(
    () =>
      buildTbsCertificate({
        profile: device,
        serialHex: '01',
        issuer: expectations.issuer,
        subject: deviceSubject,
        clock: h.clock,
        lifetimeMs: 25 * 3_600_000,
      }),
    (e: unknown) => e instanceof BadRequestError && /outside 1\.\.86400000 ms for the device profile/.test(e.message),
  );
  const end = new Date(START.getTime() + 3_600_000);
  const built = buildTbsCertificate({
    profile: device,
    serialHex: '01',
    issuer: { ...expectations.issuer, notAfter: end },
    subject: deviceSubject,
    clock: h.clock,
  });
  assert.equal(built.notAfter.getTime(), end.getTime());
  assert.equal(built.notBefore.getTime(), START.getTime() - 60_000);
});

test('key usage, extended key usage and basic constraints must match the profile exactly', () => {
  const bits = (flags: number) => new KeyUsage(flags);
  assertFinding(
    lint(mutate(build(), (t) => replaceExtension(t, id_ce_keyUsage, true, bits(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment)))),
    /^keyUsage is \[digitalSignature, keyEncipherment\], expected \[digitalSignature\]$/,
  );
  assertFinding(lint(mutate(build(), (t) => replaceExtension(t, id_ce_keyUsage, false, bits(KeyUsageFlags.digitalSignature)))), /^keyUsage must be critical$/);
  assertFinding(lint(mutate(build(), (t) => replaceExtension(t, id_ce_keyUsage, true, null))), /^keyUsage is missing$/);
  assertFinding(
    lint(mutate(build(), (t) => replaceExtension(t, id_ce_extKeyUsage, false, new ExtendedKeyUsage([OID_KP_SERVER_AUTH])))),
    /^extendedKeyUsage is \[1\.3\.6\.1\.5\.5\.7\.3\.1\]/,
  );
  assertFinding(lint(mutate(build(), (t) => replaceExtension(t, id_ce_extKeyUsage, false, null))), /^extendedKeyUsage is missing$/);
  assertFinding(
    lint(mutate(build(), (t) => replaceExtension(t, id_ce_basicConstraints, true, new BasicConstraints({ cA: true })))),
    /^basicConstraints cA is true, expected false$/,
  );
  assertFinding(
    lint(mutate(build(), (t) => replaceExtension(t, id_ce_basicConstraints, false, new BasicConstraints()))),
    /^basicConstraints must be critical$/,
  );
  const ca = getProfile('issuing-ca-devices');
  const caExpect = { issuer: h.root.issuer, urls: {} };
  const caTbs = buildTbsCertificate({
    profile: ca,
    serialHex: '01',
    issuer: h.root.issuer,
    subject: { spki: deviceSubject.spki, commonName: 'CA' },
    clock: h.clock,
  }).tbs;
  assert.deepEqual(lintTbsCertificate(caTbs, ca, caExpect), []);
  assertFinding(
    lintTbsCertificate(
      mutate(caTbs, (t) => replaceExtension(t, id_ce_basicConstraints, true, new BasicConstraints({ cA: true }))),
      ca,
      caExpect,
    ),
    /^basicConstraints pathLenConstraint is absent, expected 0$/,
  );
});

test('extensions: unknown, duplicated, no-check only where the profile wants it', () => {
  assertFinding(
    lint(mutate(build(), (t) => t.extensions!.push(new Extension({ extnID: '1.2.3.4', extnValue: new OctetString(new Uint8Array([5, 0])) })))),
    /^unexpected extension 1\.2\.3\.4$/,
  );
  assertFinding(lint(mutate(build(), (t) => t.extensions!.push(t.extensions![0]!))), /^extension 2\.5\.29\.19 appears more than once$/);
  assertFinding(
    lint(mutate(build(), (t) => t.extensions!.push(new Extension({ extnID: OID_OCSP_NOCHECK, extnValue: new OctetString(new Uint8Array([5, 0])) })))),
    /^id-pkix-ocsp-nocheck must be absent for the device profile$/,
  );
  const ocsp = getProfile('ocsp-signer');
  const ocspTbs = build(ocsp, { uris: [], permanentIdentifier: undefined, commonName: 'responder' });
  assert.deepEqual(lint(ocspTbs, ocsp), []);
  assertFinding(
    lint(
      mutate(ocspTbs, (t) => replaceExtension(t, OID_OCSP_NOCHECK, false, null)),
      ocsp,
    ),
    /^id-pkix-ocsp-nocheck is missing$/,
  );
});

test('device names: one device-id URI equal to the CN, with a matching PermanentIdentifier', () => {
  assertFinding(lint(build(device, { uris: [DEVICE_ID, 'urn:dev:ops:acme-thermo-0002'] })), /^device certificates need exactly one URI, found 2$/);
  assertFinding(
    lint(build(device, { uris: ['https://example.com/x'], commonName: 'https://example.com/x' })),
    /^URI "https:\/\/example\.com\/x" is not a device identifier$/,
  );
  assertFinding(lint(build(device, { commonName: 'urn:dev:ops:acme-thermo-0002' })), /^subject commonName must be the device identifier$/);
  assertFinding(
    lint(build(device, { permanentIdentifier: undefined })),
    /^device certificates need one PermanentIdentifier equal to the device identifier URI$/,
  );
  assertFinding(lint(build(device, { dnsNames: ['thermo.local.example'] })), /^device certificates must not name DNS hosts or IP addresses$/);
  assertFinding(lint(mutate(build(), (t) => replaceExtension(t, id_ce_subjectAltName, false, null))), /^subjectAltName is missing$/);
});

test('gateway and service names: syntax, wildcards, at least one name, CN in the SAN', () => {
  const gateway = getProfile('gateway');
  const service = getProfile('service');
  const g = (subject: Partial<SubjectInput>) => lint(build(gateway, { permanentIdentifier: undefined, uris: [], commonName: undefined, ...subject }), gateway);
  assertFinding(g({ dnsNames: ['*.home.example'] }), /^DNS name "\*\.home\.example" is not a valid non-wildcard host name$/);
  assertFinding(g({ dnsNames: ['bad_name.example'] }), /^DNS name "bad_name\.example" is not a valid/);
  assertFinding(g({ dnsNames: ['-x.example'] }), /^DNS name "-x\.example" is not a valid/);
  assertFinding(g({ dnsNames: ['gw.example'], commonName: 'other.example' }), /^subject commonName must also appear in subjectAltName$/);
  assertFinding(g({ ipAddresses: ['192.0.2.1'], dnsNames: ['gw.example'] }), /^gateway certificates must not name IP addresses$/);
  assert.deepEqual(g({ dnsNames: ['gw.example'], commonName: 'gw.example' }), []);
  assert.deepEqual(g({ uris: ['urn:dev:ops:acme-hub-7'] }), []);
  const s = (subject: Partial<SubjectInput>) => lint(build(service, { permanentIdentifier: undefined, uris: [], commonName: undefined, ...subject }), service);
  assert.ok(!s({ dnsNames: ['*.mqtt.example'] }).some((f) => /DNS name/.test(f)));
  assertFinding(s({ dnsNames: ['*.*.example'] }), /^DNS name "\*\.\*\.example" is not a valid host name$/);
  assertFinding(s({ commonName: 'svc' }), /^service certificates need at least one DNS name or IP address$/);
  assertFinding(s({ uris: [DEVICE_ID], dnsNames: ['a.example'] }), /^service certificates name only DNS hosts and IP addresses$/);
  // An empty subject puts the identity in the SAN, which must then be critical.
  assertFinding(
    lint(
      mutate(build(service, { permanentIdentifier: undefined, uris: [], commonName: undefined, dnsNames: ['a.example'] }), (t) =>
        replaceExtension(t, id_ce_subjectAltName, false, new SubjectAlternativeName(buildGeneralNames({ dnsNames: ['a.example'] }))),
      ),
      service,
    ),
    /^subjectAltName must be critical when the subject is empty$/,
  );
});

test('revocation pointers: present as configured for issued certificates, absent from the root', async () => {
  assertFinding(lint(build(), device, { issuer: expectations.issuer }), /^authorityInfoAccess must be absent when no URLs are configured$/);
  assertFinding(lint(build(), device, { issuer: expectations.issuer }), /^cRLDistributionPoints must be absent when no CRL URL is configured$/);
  assertFinding(lint(mutate(build(), (t) => replaceExtension(t, id_pe_authorityInfoAccess, false, null))), /^authorityInfoAccess is missing$/);
  assertFinding(lint(mutate(build(), (t) => replaceExtension(t, id_ce_cRLDistributionPoints, false, null))), /^cRLDistributionPoints is missing$/);
  assertFinding(
    lint(build(), device, { ...expectations, urls: { ...expectations.urls, crl: 'http://elsewhere/x.crl' } }),
    /^cRLDistributionPoints is not http:\/\/elsewhere\/x\.crl$/,
  );
  assertFinding(
    lint(build(), device, { ...expectations, urls: { ...expectations.urls, ocsp: 'http://elsewhere/ocsp' } }),
    /^authorityInfoAccess OCSP location is not http:\/\/elsewhere\/ocsp$/,
  );

  const root = getProfile('root');
  const rootSigner = h.root.signer;
  const rootExpect = { issuer: { signatureAlgorithm: rootSigner.algorithm } };
  const rootTbs = (spki: Uint8Array, profile = root) =>
    buildTbsCertificate({ profile, serialHex: '01', issuer: rootExpect.issuer, subject: { spki, commonName: 'Root' }, clock: h.clock }).tbs;
  {
    const spki = await rootSigner.publicKeySpki();
    assert.deepEqual(lintTbsCertificate(rootTbs(spki), root, rootExpect), []);
    // A root whose key is not the signing key's type cannot be self-signed by it.
    assertFinding(
      lintTbsCertificate(rootTbs(deviceSubject.spki), root, rootExpect),
      /^self-signed certificate has a ECDSA-P256 key but is to be signed with ECDSA-P384$/,
    );
    const withAki = mutate(rootTbs(spki), (t) =>
      replaceExtension(t, id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(new Uint8Array(20)) })),
    );
    assertFinding(lintTbsCertificate(withAki, root, rootExpect), /^authorityKeyIdentifier must be absent from a self-signed root$/);
    const renamed = mutate(rootTbs(spki), (t) => (t.issuer = t.subject.slice(0, 0) as typeof t.issuer));
    assertFinding(lintTbsCertificate(renamed, root, rootExpect), /^issuer of a self-signed certificate differs from its subject$/);
  }
});

test('CA keys must be ones Hearth signers hold', async () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const ca = getProfile('issuing-ca-services');
  const tbs = buildTbsCertificate({ profile: ca, serialHex: '01', issuer: h.root.issuer, subject: { spki, commonName: 'CA' }, clock: h.clock }).tbs;
  assertFinding(lintTbsCertificate(tbs, ca, { issuer: h.root.issuer }), /^a CA key must be ECDSA P-256\/P-384 or Ed25519/);
});

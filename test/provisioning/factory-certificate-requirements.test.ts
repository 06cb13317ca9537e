/**
 * What FactoryChainVerifier reads from a factory certificate beyond its chain (issue 20, family 2
 * continued): each WebAuthn §8.2.1 requirement (version 3; one ISO 3166 country; O; exactly the
 * OU "Authenticator Attestation"; CN; an id-fido-gen-ce-aaguid extension not critical and holding
 * 16 bytes) is reported by name when a genuine, correctly signed certificate misses it, and only
 * then; the memo of verified issuer chains stays within its bound. Mutation testing found that
 * the country, version and AAGUID checks could be changed with no test failing.
 */
import 'reflect-metadata';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject, randomBytes, sign } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Certificate, Version } from '@peculiar/asn1-x509';
import { generateDeviceKeys } from '../../src/provisioning/factory/attestation-certificates.js';
import { FactoryChainError, FactoryChainVerifier, OID_FIDO_GEN_CE_AAGUID, type FactoryIdentity } from '../../src/provisioning/attestation/factory-chain.js';
import { handMadeFactoryDevice, manufacturerHierarchy, type Hierarchy } from '../support/attestation-bed.js';

const now = new Date();
let acme: Hierarchy;
let verifier: FactoryChainVerifier;

before(async () => {
  acme = await manufacturerHierarchy('Acme', now);
  verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: new Uint8Array(acme.root.rawData) }]);
});

type Rdn = [oid: string, value: { printableString: string } | { utf8String: string }];
const C = (value: string): Rdn => ['2.5.4.6', { printableString: value }];
const O = (value: string): Rdn => ['2.5.4.10', { utf8String: value }];
const OU = (value: string): Rdn => ['2.5.4.11', { utf8String: value }];
const CN = (value: string): Rdn => ['2.5.4.3', { utf8String: value }];
const SN = (value: string): Rdn => ['2.5.4.5', { printableString: value }];
const COMPLIANT: Rdn[] = [C('US'), O('Acme'), OU('Authenticator Attestation'), CN('SN-1'), SN('SN-1')];

/** The AAGUID extension's value: an OCTET STRING holding the AAGUID's bytes. */
const aaguidExtension = (bytes: Uint8Array, critical: boolean) =>
  new x509.Extension(OID_FIDO_GEN_CE_AAGUID, critical, AsnConvert.serialize(new OctetString(bytes)));

/** A factory certificate for SN-1 signed by Acme's intermediate: `subject` in this order, the model extension, and any `extensions` more. */
async function factoryCertificate(spec: { subject?: Rdn[]; extensions?: x509.Extension[] } = {}): Promise<x509.X509Certificate> {
  const subject = new x509.Name((spec.subject ?? COMPLIANT).map(([oid, value]) => ({ [oid]: [value] })));
  const device = await handMadeFactoryDevice(acme, { serial: 'SN-1', now, subject, ...(spec.extensions ? { extensions: spec.extensions } : {}) });
  return new x509.X509Certificate(Buffer.from(device.chain[0] as Uint8Array));
}

/** The same certificate with another version number, signed again by the intermediate (a v1 certificate carries no extensions). */
function withVersion(certificate: x509.X509Certificate, version: Version): Uint8Array {
  const parsed = AsnConvert.parse(certificate.rawData, Certificate);
  parsed.tbsCertificate.version = version;
  if (version === Version.v1) delete parsed.tbsCertificate.extensions;
  const tbs = new Uint8Array(AsnConvert.serialize(parsed.tbsCertificate));
  parsed.signatureValue = new Uint8Array(sign('sha384', tbs, KeyObject.from(acme.intermediateKeys.privateKey))).buffer;
  return new Uint8Array(AsnConvert.serialize(parsed));
}

function identify(leaf: x509.X509Certificate | Uint8Array): FactoryIdentity {
  const der = leaf instanceof Uint8Array ? leaf : new Uint8Array(leaf.rawData);
  return verifier.verify([der, new Uint8Array(acme.intermediate.rawData)], now);
}

test('a compliant factory certificate has no WebAuthn problems and no AAGUID', async () => {
  const identity = identify(await factoryCertificate());
  assert.deepEqual(identity.webauthnProblems, []);
  assert.equal(identity.aaguid, undefined);
  assert.deepEqual([identity.manufacturer, identity.serial, identity.model, identity.organization], ['Acme', 'SN-1', 'thermo1', 'Acme']);
});

test('subject C must be exactly one upper-case ISO 3166 two-letter code', async () => {
  const problem = 'subject C is not one ISO 3166 two-letter country code';
  const others = COMPLIANT.slice(1);
  for (const subject of [others, [C('USA'), ...others], [C('us'), ...others], [C('U'), ...others], [C('US'), C('DE'), ...others]]) {
    assert.deepEqual(identify(await factoryCertificate({ subject })).webauthnProblems, [problem], JSON.stringify(subject.filter(([oid]) => oid === '2.5.4.6')));
  }
  assert.deepEqual(identify(await factoryCertificate({ subject: [C('DE'), ...others] })).webauthnProblems, []);
});

test('subject O, OU "Authenticator Attestation" (exactly one) and CN are each required, and each missing one is named', async () => {
  const [c, o, ou, cn, sn] = COMPLIANT as [Rdn, Rdn, Rdn, Rdn, Rdn];
  const cases: [Rdn[], string[]][] = [
    [[c, ou, cn, sn], ['subject O (the vendor) is missing']],
    [[c, O(''), ou, cn, sn], ['subject O (the vendor) is missing']],
    [[c, o, cn, sn], ['subject OU is not "Authenticator Attestation"']],
    [[c, o, OU('Authenticator attestation'), cn, sn], ['subject OU is not "Authenticator Attestation"']],
    [[c, o, ou, OU('Authenticator Attestation'), cn, sn], ['subject OU is not "Authenticator Attestation"']],
    [[c, o, ou, sn], ['subject CN is missing']],
    [[c, o, ou, CN(''), sn], ['subject CN is missing']],
    [
      [o, sn],
      ['subject C is not one ISO 3166 two-letter country code', 'subject OU is not "Authenticator Attestation"', 'subject CN is missing'],
    ],
  ];
  for (const [subject, problems] of cases) assert.deepEqual(identify(await factoryCertificate({ subject })).webauthnProblems, problems, problems.join('; '));
});

test('a version 1 or 2 certificate is reported with its version; version 3 is not', async () => {
  const certificate = await factoryCertificate();
  assert.deepEqual(identify(withVersion(certificate, Version.v3)).webauthnProblems, [], 'the re-signing itself changes nothing');
  assert.deepEqual(identify(withVersion(certificate, Version.v2)).webauthnProblems, ['version is 2, not 3']);
  assert.deepEqual(
    identify(withVersion(certificate, 0x102 as Version)).webauthnProblems,
    ['version is 0, not 3'],
    'a version number of two octets is none of 1-3',
  );
  const v1 = identify(withVersion(certificate, Version.v1));
  assert.deepEqual(v1.webauthnProblems, ['version is 1, not 3']);
  assert.equal(v1.model, undefined, 'a version 1 certificate has no extensions, so no model');
});

test('an AAGUID extension must not be critical and must hold 16 bytes; a good one is returned', async () => {
  const aaguid = new Uint8Array(randomBytes(16));
  const good = identify(await factoryCertificate({ extensions: [aaguidExtension(aaguid, false)] }));
  assert.deepEqual(good.webauthnProblems, []);
  assert.deepEqual(good.aaguid, aaguid);

  const critical = identify(await factoryCertificate({ extensions: [aaguidExtension(aaguid, true)] }));
  assert.deepEqual(critical.webauthnProblems, ['the id-fido-gen-ce-aaguid extension is critical']);
  assert.deepEqual(critical.aaguid, aaguid);

  for (const length of [0, 15, 17]) {
    const wrong = identify(await factoryCertificate({ extensions: [aaguidExtension(new Uint8Array(randomBytes(length)), false)] }));
    assert.deepEqual(wrong.webauthnProblems, ['the id-fido-gen-ce-aaguid extension does not hold a 16-byte AAGUID'], `${length} bytes`);
    assert.equal(wrong.aaguid, undefined);
  }
});

test('an empty chain is refused as empty', () => {
  assert.throws(
    () => verifier.verify([], now),
    (error: unknown) => error instanceof FactoryChainError && error.failure === 'malformed' && error.message === 'the chain is empty',
  );
});

test('the memo of verified issuer chains never holds more than its bound, and a chain it forgot is verified again', async () => {
  const bounded = new FactoryChainVerifier([{ manufacturer: 'Acme', der: new Uint8Array(acme.root.rawData) }], 2);
  const leaf = new Uint8Array((await factoryCertificate()).rawData);
  const intermediate = new Uint8Array(acme.intermediate.rawData);
  const root = new Uint8Array(acme.root.rawData);
  // Three distinct issuer chains for the same intermediate: [i], [i, root], and [root] alone for a root-signed device.
  const rootSigned = await x509.X509CertificateGenerator.create({
    serialNumber: '0a',
    subject: new x509.Name([
      { '2.5.4.6': [{ printableString: 'US' }] },
      { '2.5.4.10': [{ utf8String: 'Acme' }] },
      { '2.5.4.11': [{ utf8String: 'Authenticator Attestation' }] },
      { '2.5.4.3': [{ utf8String: 'SN-2' }] },
      { '2.5.4.5': [{ printableString: 'SN-2' }] },
    ]),
    issuer: acme.root.subjectName,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 365 * 86_400_000),
    publicKey: (await generateDeviceKeys()).publicKey,
    signingKey: acme.rootKeys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  const chains = [
    [leaf, intermediate],
    [leaf, intermediate, root],
    [new Uint8Array(rootSigned.rawData), root],
  ];
  bounded.verify(chains[0] as Uint8Array[], now);
  bounded.verify(chains[0] as Uint8Array[], now);
  assert.equal(bounded.rememberedChains, 1, 'the same chain is remembered once');
  bounded.verify(chains[1] as Uint8Array[], now);
  assert.equal(bounded.rememberedChains, 2);
  bounded.verify(chains[2] as Uint8Array[], now);
  assert.ok(bounded.rememberedChains <= 2, `${String(bounded.rememberedChains)} chains remembered with a bound of 2`);
  for (const chain of chains) assert.equal(bounded.verify(chain, now).manufacturer, 'Acme', 'every chain still verifies');
  assert.ok(bounded.rememberedChains <= 2);
});

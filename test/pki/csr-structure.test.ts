/**
 * Every structural decision parseCsr makes, on requests built by hand and properly signed, so a
 * refusal can only be for the one field a test got wrong: which signature algorithms go with which
 * keys (a signature labelled with another key type's algorithm is refused even though it verifies),
 * one commonName at most, no trailing fields, version 0 only, attributes other than extensionRequest
 * passed over, each Extension two or three fields with a BOOLEAN in the middle, extensions other than
 * subjectAltName passed over, and a subjectAltName that does not decode. Mutation testing found each
 * of these could change with no test failing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { BadCsrError } from '../../src/core/errors.js';
import { inspectSubjectKey, parseCsr } from '../../src/pki/csr.js';
import { BOOLEAN_TRUE, NULL, TAG, bitString, contextTag, octetString, oid, sequence, set, smallInteger, tlv, utf8String } from '../../src/pki/der-writer.js';

const IDENTIFIER = 'urn:dev:ops:acme-thermo-0001';
const OID_CN = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
const OID_SAN = '2.5.29.17';
const OID_KEY_USAGE = '2.5.29.15';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const spkiOf = (key: KeyObject) => new Uint8Array(key.export({ type: 'spki', format: 'der' }));

const cn = (name: string) => set(sequence(oid(OID_CN), utf8String(name)));
const subject = (...rdns: Uint8Array[]) => sequence(...rdns);
const uriSan = (uri: string) => sequence(oid(OID_SAN), octetString(sequence(tlv(contextTag(6, false), Buffer.from(uri, 'latin1')))));
const keyUsage = () => sequence(oid(OID_KEY_USAGE), BOOLEAN_TRUE, octetString(new Uint8Array([TAG.BIT_STRING, 0x02, 0x07, 0x80])));
const attributes = (...attrs: Uint8Array[]) => tlv(contextTag(0, true), ...attrs);
const extensionRequest = (...extensions: Uint8Array[]) => sequence(oid(OID_EXTENSION_REQUEST), set(sequence(...extensions)));
const challengePassword = () => sequence(oid(OID_CHALLENGE_PASSWORD), set(utf8String('open sesame')));

interface Signing {
  key: KeyObject;
  spki: Uint8Array;
  /** The AlgorithmIdentifier the request names. */
  algorithm: Uint8Array;
  /** The digest the signature is really made with (null for Ed25519). */
  digest: string | null;
}

const ecdsa = (oidText: string, digest: string): Signing => ({ key: ec.privateKey, spki: spkiOf(ec.publicKey), algorithm: sequence(oid(oidText)), digest });
const rsaPkcs1 = (oidText: string, digest: string): Signing => ({
  key: rsa.privateKey,
  spki: spkiOf(rsa.publicKey),
  algorithm: sequence(oid(oidText), NULL),
  digest,
});
const ECDSA_SHA256 = ecdsa('1.2.840.10045.4.3.2', 'sha256');

function info(
  parts: { version?: Uint8Array; subject?: Uint8Array; spki?: Uint8Array; attributes?: Uint8Array; trailing?: Uint8Array } = {},
  signing: Signing = ECDSA_SHA256,
): Uint8Array {
  return sequence(
    parts.version ?? smallInteger(0),
    parts.subject ?? subject(cn(IDENTIFIER)),
    parts.spki ?? signing.spki,
    parts.attributes ?? attributes(extensionRequest(uriSan(IDENTIFIER))),
    ...(parts.trailing ? [parts.trailing] : []),
  );
}

function csr(requestInfo: Uint8Array, signing: Signing = ECDSA_SHA256, trailing?: Uint8Array): Uint8Array {
  return sequence(requestInfo, signing.algorithm, bitString(sign(signing.digest, requestInfo, signing.key)), ...(trailing ? [trailing] : []));
}

function refused(der: Uint8Array, message: RegExp): void {
  assert.throws(
    () => parseCsr(der),
    (error: unknown) => {
      assert.ok(error instanceof BadCsrError, `expected BadCsrError, got ${String(error)}`);
      assert.match(error.message, message);
      return true;
    },
  );
}

test('each accepted signature algorithm goes with its key type; SHA-1 is not accepted', () => {
  const accepted: [string, Signing, string][] = [
    ['ecdsa-with-SHA256', ECDSA_SHA256, 'ECDSA-P256'],
    ['ecdsa-with-SHA384', ecdsa('1.2.840.10045.4.3.3', 'sha384'), 'ECDSA-P256'],
    ['ecdsa-with-SHA512', ecdsa('1.2.840.10045.4.3.4', 'sha512'), 'ECDSA-P256'],
    ['sha256WithRSAEncryption', rsaPkcs1('1.2.840.113549.1.1.11', 'sha256'), 'RSA'],
    ['sha384WithRSAEncryption', rsaPkcs1('1.2.840.113549.1.1.12', 'sha384'), 'RSA'],
    ['sha512WithRSAEncryption', rsaPkcs1('1.2.840.113549.1.1.13', 'sha512'), 'RSA'],
    ['Ed25519', { key: ed.privateKey, spki: spkiOf(ed.publicKey), algorithm: sequence(oid('1.3.101.112')), digest: null }, 'Ed25519'],
  ];
  for (const [name, signing, keyType] of accepted) {
    const parsed = parseCsr(csr(info({}, signing), signing));
    assert.equal(parsed.keyType, keyType, name);
    assert.deepEqual(parsed.uris, [IDENTIFIER], name);
  }
  refused(csr(info(), ecdsa('1.2.840.10045.4.1', 'sha1')), /^CSR signature algorithm 1\.2\.840\.10045\.4\.1 is not accepted$/);
  refused(
    csr(info({}, rsaPkcs1('1.2.840.113549.1.1.5', 'sha1')), rsaPkcs1('1.2.840.113549.1.1.5', 'sha1')),
    /^CSR signature algorithm 1\.2\.840\.113549\.1\.1\.5 is not accepted$/,
  );
  // A digest the algorithm does not name: the signature does not verify.
  refused(csr(info(), ecdsa('1.2.840.10045.4.3.3', 'sha256')), /^CSR signature does not verify$/);
});

test("a signature labelled with another key type's algorithm is refused, though the key's own check would pass it", () => {
  // node:crypto verifies with the key's own type, so this ECDSA signature does verify under "sha256WithRSAEncryption".
  const mislabelled: Signing = { ...ECDSA_SHA256, algorithm: sequence(oid('1.2.840.113549.1.1.11'), NULL) };
  refused(csr(info(), mislabelled), /^CSR signature algorithm sha256WithRSAEncryption does not fit its ECDSA-P256 key$/);
  const rsaAsEcdsa: Signing = { ...rsaPkcs1('1.2.840.113549.1.1.11', 'sha256'), algorithm: sequence(oid('1.2.840.10045.4.3.2')) };
  refused(csr(info({}, rsaAsEcdsa), rsaAsEcdsa), /^CSR signature algorithm ecdsa-with-SHA256 does not fit its RSA key$/);
  const edAsEcdsa: Signing = { key: ed.privateKey, spki: spkiOf(ed.publicKey), algorithm: sequence(oid('1.2.840.10045.4.3.2')), digest: null };
  refused(csr(info({}, edAsEcdsa), edAsEcdsa), /^CSR signature algorithm ecdsa-with-SHA256 does not fit its Ed25519 key$/);
});

test('the subject: at most one commonName, and none is no commonName at all', () => {
  refused(csr(info({ subject: subject(cn(IDENTIFIER), cn('urn:dev:ops:acme-thermo-0002')) })), /^CSR subject has more than one commonName$/);
  const parsed = parseCsr(csr(info({ subject: subject() })));
  assert.equal('commonName' in parsed, false);
  assert.deepEqual(parsed.uris, [IDENTIFIER]);
});

test('no trailing fields, and version 0 only', () => {
  refused(csr(info(), ECDSA_SHA256, NULL), /^not a PKCS#10 request: CertificationRequest has trailing fields$/);
  refused(csr(info({ trailing: NULL })), /^not a PKCS#10 request: certificationRequestInfo has trailing fields$/);
  refused(csr(info({ version: smallInteger(1) })), /^not a PKCS#10 request: version 1, expected 0 \(v1\)$/);
  refused(
    csr(info({ version: tlv(TAG.INTEGER, new Uint8Array([0x01, 0x00])) })),
    /^not a PKCS#10 request: version \(not a small integer\), expected 0 \(v1\)$/,
  );
  refused(
    csr(info({ version: tlv(TAG.INTEGER, new Uint8Array([0x00, 0x80])) })),
    /^not a PKCS#10 request: version \(not a small integer\), expected 0 \(v1\)$/,
  );
});

test('attributes other than extensionRequest are passed over', () => {
  const parsed = parseCsr(csr(info({ attributes: attributes(extensionRequest(uriSan(IDENTIFIER)), challengePassword()) })));
  assert.deepEqual(parsed.uris, [IDENTIFIER]);
  assert.deepEqual(parseCsr(csr(info({ attributes: attributes(challengePassword()) }))).uris, []);
});

test('an Extension is extnID, an optional BOOLEAN and the extnValue: anything else is malformed', () => {
  const malformed = /^CSR extensionRequest does not decode: Extension is malformed$/;
  const value = octetString(sequence());
  refused(csr(info({ attributes: attributes(extensionRequest(sequence(value))) })), malformed);
  refused(csr(info({ attributes: attributes(extensionRequest(sequence(oid(OID_KEY_USAGE), BOOLEAN_TRUE, NULL, value))) })), malformed);
  refused(csr(info({ attributes: attributes(extensionRequest(sequence(oid(OID_KEY_USAGE), smallInteger(1), value))) })), malformed);
  refused(csr(info({ attributes: attributes(extensionRequest(sequence(oid(OID_KEY_USAGE), utf8String('yes'), value))) })), malformed);
  // Three fields with a BOOLEAN in the middle is the well-formed critical extension.
  assert.deepEqual(parseCsr(csr(info({ attributes: attributes(extensionRequest(keyUsage(), uriSan(IDENTIFIER))) }))).uris, [IDENTIFIER]);
});

test('extensions other than subjectAltName are passed over; without one there are no names', () => {
  assert.deepEqual(parseCsr(csr(info({ attributes: attributes(extensionRequest(uriSan(IDENTIFIER), keyUsage())) }))).uris, [IDENTIFIER]);
  const none = parseCsr(csr(info({ attributes: attributes(extensionRequest(keyUsage())) })));
  assert.deepEqual([none.dnsNames, none.uris, none.ipAddresses, none.permanentIdentifiers], [[], [], [], []]);
});

test('a subjectAltName that does not decode is refused: not GeneralNames, an iPAddress of another length, a name outside ASCII', () => {
  // RFC 5280 4.2.1.6: an iPAddress is 4 or 16 octets; the ASN.1 library alone took any length as hex.
  for (const octets of [0, 3, 5, 15, 17]) {
    const address = sequence(oid(OID_SAN), octetString(sequence(tlv(contextTag(7, false), new Uint8Array(octets).fill(10)))));
    refused(
      csr(info({ attributes: attributes(extensionRequest(address)) })),
      new RegExp(`^CSR subjectAltName does not decode: iPAddress is ${octets} octets, not 4 \\(IPv4\\) or 16 \\(IPv6\\)$`),
    );
  }
  for (const [octets, text] of [
    [4, '10.10.10.10'],
    [16, 'a0a:a0a:a0a:a0a:a0a:a0a:a0a:a0a'],
  ] as const) {
    const address = sequence(oid(OID_SAN), octetString(sequence(tlv(contextTag(7, false), new Uint8Array(octets).fill(10)))));
    assert.deepEqual(parseCsr(csr(info({ attributes: attributes(extensionRequest(address)) }))).ipAddresses.length, 1, text);
  }
  const notIa5 = sequence(oid(OID_SAN), octetString(sequence(tlv(contextTag(2, false), new Uint8Array([0x61, 0xff])))));
  refused(
    csr(info({ attributes: attributes(extensionRequest(notIa5)) })),
    /^CSR subjectAltName does not decode: GeneralName is an IA5String with a byte outside ASCII$/,
  );
  const notASequence = sequence(oid(OID_SAN), octetString(smallInteger(5)));
  refused(csr(info({ attributes: attributes(extensionRequest(notASequence)) })), /^CSR subjectAltName does not decode: /);
});

test('an EC key without a named curve, with NULL parameters, or not DER, is refused with what is wrong', () => {
  const point = spkiOf(ec.publicKey).subarray(-65);
  const fail = (reason: string) => new Error(reason);
  const reason = (spki: Uint8Array) => {
    try {
      inspectSubjectKey(spki, fail);
      return 'accepted';
    } catch (error) {
      return (error as Error).message;
    }
  };
  assert.equal(
    reason(sequence(sequence(oid('1.2.840.10045.2.1')), bitString(point))),
    'ECDSA key without a named curve is not accepted (RFC 5480 allows only a named curve); use P-256 or P-384',
  );
  assert.equal(
    reason(sequence(sequence(oid('1.2.840.10045.2.1'), NULL), bitString(point))),
    'ECDSA key without a named curve is not accepted (RFC 5480 allows only a named curve); use P-256 or P-384',
  );
  const der = spkiOf(ec.publicKey);
  assert.match(reason(new Uint8Array([der[0]!, 0x81, ...der.subarray(1)])), /^the public key is not a DER SubjectPublicKeyInfo: non-minimal length/);
  assert.equal(reason(der), 'accepted');
});

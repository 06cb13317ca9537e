/**
 * The factory chain's dates and structure beyond its links: every certificate of the path is in
 * its validity period at `now`, both ends inclusive (RFC 5280 4.1.2.5), and each refusal names the
 * certificate (the factory certificate, "certificate N of the chain", the manufacturer root), also
 * for a chain the verifier remembers from an earlier, valid use; an intermediate whose own validity
 * ended is refused though the factory certificate it issued is still valid. A pathLenConstraint is
 * found wherever basicConstraints sits among the extensions, and a root with no extensions (v1)
 * constrains nothing. A certificate without a serialNumber, or whose model extension does not
 * decode, is refused. Mutation testing found each of these could change with no test failing.
 */
import 'reflect-metadata';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject, randomBytes, sign } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, Version } from '@peculiar/asn1-x509';
import { generateCaKeys, generateDeviceKeys } from '../../src/provisioning/factory/attestation-certificates.js';
import { OID_HEARTH_DEVICE_MODEL, encodeDeviceModel } from '../../src/provisioning/factory/device-model-extension.js';
import { FactoryChainError, FactoryChainVerifier } from '../../src/provisioning/attestation/factory-chain.js';

const T0 = new Date('2030-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const der = (certificate: x509.X509Certificate) => new Uint8Array(certificate.rawData);
const name = (cn: string) => new x509.Name([{ '2.5.4.10': [{ utf8String: 'Acme' }] }, { '2.5.4.3': [{ utf8String: cn }] }]);
const leafSubject = (serial: string | undefined) =>
  new x509.Name([
    { '2.5.4.6': [{ printableString: 'US' }] },
    { '2.5.4.10': [{ utf8String: 'Acme' }] },
    { '2.5.4.11': [{ utf8String: 'Authenticator Attestation' }] },
    { '2.5.4.3': [{ utf8String: serial ?? 'no serial' }] },
    ...(serial === undefined ? [] : [{ '2.5.4.5': [{ printableString: serial }] }]),
  ]);

interface Ca {
  keys: CryptoKeyPair;
  certificate: x509.X509Certificate;
}

/** A CA certificate valid over [from, to]; basicConstraints after keyUsage when `basicConstraintsLast`. */
async function ca(spec: { cn: string; issuer?: Ca; from: Date; to: Date; pathLength?: number; basicConstraintsLast?: boolean }): Promise<Ca> {
  const keys = await generateCaKeys();
  const constraints = new x509.BasicConstraintsExtension(true, spec.pathLength, true);
  const usage = new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: `1${randomBytes(8).toString('hex').slice(1)}`,
    subject: name(spec.cn),
    issuer: spec.issuer ? spec.issuer.certificate.subjectName : name(spec.cn),
    notBefore: spec.from,
    notAfter: spec.to,
    publicKey: keys.publicKey,
    signingKey: spec.issuer ? spec.issuer.keys.privateKey : keys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [
      ...(spec.basicConstraintsLast ? [usage, constraints] : [constraints, usage]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(spec.issuer ? [await x509.AuthorityKeyIdentifierExtension.create(spec.issuer.certificate.publicKey)] : []),
    ],
  });
  return { keys, certificate };
}

async function factoryCertificate(issuer: Ca, spec: { from: Date; to: Date; serial?: string | undefined; model?: ArrayBuffer }): Promise<Uint8Array> {
  const keys = await generateDeviceKeys();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: `1${randomBytes(8).toString('hex').slice(1)}`,
    subject: leafSubject('serial' in spec ? spec.serial : 'SN-1'),
    issuer: issuer.certificate.subjectName,
    notBefore: spec.from,
    notAfter: spec.to,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.Extension(OID_HEARTH_DEVICE_MODEL, false, spec.model ?? encodeDeviceModel('thermo1')),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate.publicKey),
    ],
  });
  return der(certificate);
}

function refusedAs(verifier: FactoryChainVerifier, chain: Uint8Array[], at: Date, failure: string, message: RegExp): void {
  assert.throws(
    () => verifier.verify(chain, at),
    (error: unknown) => {
      assert.ok(error instanceof FactoryChainError, String(error));
      assert.equal(error.failure, failure, error.message);
      assert.match(error.message, message);
      return true;
    },
  );
}

let root: Ca;
let intermediate: Ca;
let leaf: Uint8Array;
before(async () => {
  root = await ca({ cn: 'Acme Root', from: new Date(T0.getTime() - 10 * DAY), to: new Date(T0.getTime() + 3650 * DAY) });
  // The intermediate's validity ends before the factory certificate's: only its own check can refuse then.
  intermediate = await ca({ cn: 'Acme Intermediate', issuer: root, from: new Date(T0.getTime() - 5 * DAY), to: new Date(T0.getTime() + 100 * DAY) });
  leaf = await factoryCertificate(intermediate, { from: T0, to: new Date(T0.getTime() + 365 * DAY) });
});

test('the factory certificate is valid from its notBefore to its notAfter, both included', () => {
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: der(root.certificate) }]);
  const chain = [leaf, der(intermediate.certificate)];
  assert.equal(verifier.verify(chain, T0).manufacturer, 'Acme', 'at notBefore');
  refusedAs(verifier, chain, new Date(T0.getTime() - 1000), 'not-yet-valid', /^the factory certificate is not valid before 2030-06-01T00:00:00\.000Z$/);
});

test('an intermediate past its own notAfter is refused by name, though the factory certificate is valid, also when the verifier remembers the chain', () => {
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: der(root.certificate) }]);
  const chain = [leaf, der(intermediate.certificate)];
  const end = new Date(intermediate.certificate.notAfter);
  assert.equal(verifier.verify(chain, T0).manufacturer, 'Acme', 'remembered from a valid use');
  assert.equal(verifier.verify(chain, end).manufacturer, 'Acme', "at the intermediate's notAfter it is still valid");
  refusedAs(
    verifier,
    chain,
    new Date(end.getTime() + 1000),
    'expired',
    new RegExp(`^certificate 2 of the chain expired at ${end.toISOString().replace(/\./g, '\\.')}$`),
  );
  // Not remembered: the same refusal.
  refusedAs(
    new FactoryChainVerifier([{ manufacturer: 'Acme', der: der(root.certificate) }]),
    chain,
    new Date(end.getTime() + 1000),
    'expired',
    /^certificate 2 of the chain expired at/,
  );
});

test('a root past its notAfter, or before its notBefore, is refused as the manufacturer root', async () => {
  const shortRoot = await ca({ cn: 'Acme Short Root', from: new Date(T0.getTime() - DAY), to: new Date(T0.getTime() + 10 * DAY) });
  const under = await ca({ cn: 'Acme Intermediate 2', issuer: shortRoot, from: new Date(T0.getTime() - DAY), to: new Date(T0.getTime() + 300 * DAY) });
  const device = await factoryCertificate(under, { from: T0, to: new Date(T0.getTime() + 300 * DAY) });
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: der(shortRoot.certificate) }]);
  assert.equal(verifier.verify([device, der(under.certificate)], T0).manufacturer, 'Acme');
  refusedAs(verifier, [device, der(under.certificate)], new Date(T0.getTime() + 11 * DAY), 'expired', /^the manufacturer root expired at/);
  // A factory certificate signed by the root itself: the root's dates are checked on that path too.
  const direct = await factoryCertificate(shortRoot, { from: T0, to: new Date(T0.getTime() + 300 * DAY) });
  assert.equal(verifier.verify([direct], T0).manufacturer, 'Acme');
  refusedAs(verifier, [direct], new Date(T0.getTime() + 11 * DAY), 'expired', /^the manufacturer root expired at/);
});

test('a CA that is not one is refused naming its place in the chain', async () => {
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: der(root.certificate) }]);
  refusedAs(verifier, [leaf, leaf], T0, 'not-a-ca', /^certificate 2 of the chain issues the one below it but is not a CA$/);
  refusedAs(verifier, [leaf, der(intermediate.certificate), leaf], T0, 'not-a-ca', /^certificate 3 of the chain issues the one below it but is not a CA$/);
});

test('pathLenConstraint is honoured wherever basicConstraints sits; a root with no extensions constrains nothing', async () => {
  // The root allows no intermediate below it, and lists keyUsage before basicConstraints.
  const strictRoot = await ca({
    cn: 'Acme Strict Root',
    from: new Date(T0.getTime() - DAY),
    to: new Date(T0.getTime() + 3650 * DAY),
    pathLength: 0,
    basicConstraintsLast: true,
  });
  const under = await ca({ cn: 'Acme Intermediate 3', issuer: strictRoot, from: new Date(T0.getTime() - DAY), to: new Date(T0.getTime() + 300 * DAY) });
  const device = await factoryCertificate(under, { from: T0, to: new Date(T0.getTime() + 300 * DAY) });
  refusedAs(
    new FactoryChainVerifier([{ manufacturer: 'Acme', der: der(strictRoot.certificate) }]),
    [device, der(under.certificate)],
    T0,
    'path-too-long',
    /^the manufacturer root allows 0 intermediate CA certificate\(s\) below it, and the chain has 1$/,
  );

  // A version 1 root (no extensions at all), as old hierarchies have them.
  const v1 = AsnConvert.parse(root.certificate.rawData, Certificate);
  v1.tbsCertificate.version = Version.v1;
  delete v1.tbsCertificate.extensions;
  const tbs = new Uint8Array(AsnConvert.serialize(v1.tbsCertificate));
  v1.signatureValue = new Uint8Array(sign('sha384', tbs, KeyObject.from(root.keys.privateKey))).buffer;
  const v1Root = new Uint8Array(AsnConvert.serialize(v1));
  assert.equal(new FactoryChainVerifier([{ manufacturer: 'Acme', der: v1Root }]).verify([leaf, der(intermediate.certificate)], T0).manufacturer, 'Acme');
});

test('a factory certificate without a serialNumber, or whose model extension does not decode, is refused', async () => {
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: der(root.certificate) }]);
  const chainOf = (device: Uint8Array) => [device, der(intermediate.certificate)];
  refusedAs(
    verifier,
    chainOf(await factoryCertificate(intermediate, { from: T0, to: new Date(T0.getTime() + 30 * DAY), serial: undefined })),
    T0,
    'no-serial',
    /^the factory certificate names no serialNumber$/,
  );
  const notAModel = new Uint8Array([0x02, 0x01, 0x05]).buffer; // an INTEGER where HearthDeviceModel's SEQUENCE belongs
  refusedAs(
    verifier,
    chainOf(await factoryCertificate(intermediate, { from: T0, to: new Date(T0.getTime() + 30 * DAY), model: notAModel })),
    T0,
    'malformed',
    /^the factory certificate does not parse: /,
  );
});

/**
 * Certificate templates of a manufacturer's attestation hierarchy: its root, the intermediate
 * that signs on the factory line, and one factory certificate per device. These certificates
 * only ever prove "this key was put in this device by this manufacturer" to Hearth's
 * device-attest-01 check; they are never TLS identities, so device certificates carry no EKU.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { encodeDeviceModel, OID_HEARTH_DEVICE_MODEL } from './device-model-extension.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const OID_COMMON_NAME = '2.5.4.3';
const OID_SERIAL_NUMBER = '2.5.4.5';
const OID_ORGANIZATION = '2.5.4.10';
const OID_ORGANIZATIONAL_UNIT = '2.5.4.11';
const OID_COUNTRY = '2.5.4.6';
/** WebAuthn §8.2.1: the attestation certificate's subject OU is this literal string. */
export const ATTESTATION_OU = 'Authenticator Attestation';

export const ROOT_VALIDITY_YEARS = 30;
export const INTERMEDIATE_VALIDITY_YEARS = 20;
export const DEVICE_VALIDITY_YEARS = 20;
/**
 * Certificates start an hour early: a device may attest minutes after it leaves the line, to a
 * control plane whose clock runs behind the factory's.
 */
const BACKDATE_MS = 3600 * 1000;

/** CA keys: P-384, since the root and intermediate sign for decades. Devices use P-256. */
export const CA_KEY: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-384' };
export const CA_SIGNATURE: EcdsaParams = { name: 'ECDSA', hash: 'SHA-384' };
export const DEVICE_KEY: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

/** A positive 128-bit serial, as CA/B Forum practice asks (≥ 64 bits of randomness). */
function certificateSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  if (bytes[0] === 0) bytes[0] = 1;
  return bytes.toString('hex');
}

function validity(now: Date, years: number, cap?: Date): { notBefore: Date; notAfter: Date } {
  const start = Math.floor(now.getTime() / 1000) * 1000;
  const endDate = new Date(start);
  endDate.setUTCFullYear(endDate.getUTCFullYear() + years);
  const end = endDate.getTime();
  // A certificate that outlived its issuer would fail RFC 5280 path validation from then on.
  return { notBefore: new Date(start - BACKDATE_MS), notAfter: new Date(cap ? Math.min(end, cap.getTime()) : end) };
}

function caName(manufacturer: string, commonName: string): x509.Name {
  return new x509.Name([{ [OID_ORGANIZATION]: [{ utf8String: manufacturer }] }, { [OID_COMMON_NAME]: [{ utf8String: commonName }] }]);
}

export function generateCaKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(CA_KEY, true, ['sign', 'verify']);
}

export function generateDeviceKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(DEVICE_KEY, true, ['sign', 'verify']);
}

export async function createAttestationRoot(manufacturer: string, keys: CryptoKeyPair, now: Date): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: certificateSerial(),
    name: caName(manufacturer, `${manufacturer} Attestation Root CA`),
    ...validity(now, ROOT_VALIDITY_YEARS),
    keys,
    signingAlgorithm: CA_SIGNATURE,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

export async function createAttestationIntermediate(
  manufacturer: string,
  publicKey: CryptoKey,
  root: x509.X509Certificate,
  rootKey: CryptoKey,
  now: Date,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: certificateSerial(),
    subject: caName(manufacturer, `${manufacturer} Attestation CA 1`),
    issuer: root.subjectName,
    ...validity(now, INTERMEDIATE_VALIDITY_YEARS, root.notAfter),
    publicKey,
    signingKey: rootKey,
    signingAlgorithm: CA_SIGNATURE,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root.publicKey),
    ],
  });
}

export interface DeviceCertificateInput {
  manufacturer: string;
  /** Subject C: ISO 3166-1 alpha-2 code of the vendor's country (WebAuthn §8.2.1). */
  country: string;
  /** Subject O: the vendor's legal name; the manufacturer name when not given. */
  organization?: string;
  model: string;
  serial: string;
  publicKey: CryptoKey;
  intermediate: x509.X509Certificate;
  intermediateKey: CryptoKey;
  now: Date;
}

/**
 * The factory certificate: the serial in CN and serialNumber, the model in its own extension.
 * It is a WebAuthn packed attestation certificate (device-attest-01 carries a packed attestation
 * statement), so it meets W3C WebAuthn §8.2.1: version 3; subject C, O, OU "Authenticator
 * Attestation" and CN; basic constraints CA false. No AAGUID extension: the attestation objects
 * carry a zero AAGUID, and the extension is only required of roots shared by several models.
 */
export async function createFactoryCertificate(input: DeviceCertificateInput): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: certificateSerial(),
    // serialNumber is a PrintableString in X.520; the names are UTF8String as RFC 5280 asks.
    subject: new x509.Name([
      { [OID_COUNTRY]: [{ printableString: input.country }] },
      { [OID_ORGANIZATION]: [{ utf8String: input.organization ?? input.manufacturer }] },
      { [OID_ORGANIZATIONAL_UNIT]: [{ utf8String: ATTESTATION_OU }] },
      { [OID_COMMON_NAME]: [{ utf8String: input.serial }] },
      { [OID_SERIAL_NUMBER]: [{ printableString: input.serial }] },
    ]),
    issuer: input.intermediate.subjectName,
    ...validity(input.now, DEVICE_VALIDITY_YEARS, input.intermediate.notAfter),
    publicKey: input.publicKey,
    signingKey: input.intermediateKey,
    signingAlgorithm: CA_SIGNATURE,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(input.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(input.intermediate.publicKey),
      new x509.Extension(OID_HEARTH_DEVICE_MODEL, false, encodeDeviceModel(input.model)),
    ],
  });
}

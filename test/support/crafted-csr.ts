/**
 * PKCS#10 requests built field by field with @peculiar/asn1-csr and asn1-x509, properly signed by
 * the key they carry, for tests that need a request no CSR tool writes: two extensionRequest
 * attributes, one extensionRequest with two values, subjectAltName twice, an RSA key of any size.
 * Everything else in them is ordinary DER (SET OF members sorted), so a refusal can only be for
 * the one thing a test got wrong on purpose.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import {
  AlgorithmIdentifier,
  Attribute,
  AttributeTypeAndValue,
  AttributeValue,
  Extension,
  Extensions,
  GeneralName,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import type { BigRsaKey } from './big-rsa.js';

export const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_COMMON_NAME = '2.5.4.3';
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

/** The key a request carries and signs with. */
export interface CsrKey {
  spki: Uint8Array;
  /** The signature algorithm, with its parameters. */
  algorithm: AlgorithmIdentifier;
  sign(data: Uint8Array): Uint8Array;
}

export function p256CsrKey(): CsrKey & { privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey,
    spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    algorithm: new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 }),
    sign: (data) => sign('sha256', data, privateKey),
  };
}

export function rsaCsrKey(key: BigRsaKey): CsrKey {
  return {
    spki: key.spki,
    // RFC 4055 5: the parameters of sha256WithRSAEncryption are NULL.
    algorithm: new AlgorithmIdentifier({ algorithm: OID_SHA256_WITH_RSA, parameters: new Uint8Array([0x05, 0x00]).buffer }),
    sign: (data) => key.sign(data),
  };
}

export function dnsNames(...names: string[]): GeneralName[] {
  return names.map((dNSName) => new GeneralName({ dNSName }));
}

export function subjectAltName(names: GeneralName[]): Extension {
  return new Extension({ extnID: OID_SUBJECT_ALT_NAME, critical: false, extnValue: new OctetString(AsnConvert.serialize(new SubjectAlternativeName(names))) });
}

/** An extensionRequest attribute (RFC 2985 5.4.2) whose SET holds each of `values`, one Extensions each. */
export function extensionRequest(...values: Extension[][]): Attribute {
  return new Attribute({ type: OID_EXTENSION_REQUEST, values: sortedDer(values.map((extensions) => AsnConvert.serialize(new Extensions(extensions)))) });
}

/** DER orders the members of a SET OF by their encodings (X.690 11.6). */
function sortedDer(encodings: ArrayBuffer[]): ArrayBuffer[] {
  return encodings.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function sortedAttributes(attributes: Attribute[]): Attribute[] {
  const encoded = attributes.map((attribute) => ({ attribute, der: Buffer.from(AsnConvert.serialize(attribute)) }));
  return encoded.sort((a, b) => Buffer.compare(a.der, b.der)).map((e) => e.attribute);
}

/** A DER CertificationRequest with `commonName` as subject (if any) and `attributes`, signed by `key`. */
export function craftCsr(options: { key: CsrKey; commonName?: string; attributes?: Attribute[] }): Uint8Array {
  const subject = new Name(
    options.commonName === undefined
      ? []
      : [new RelativeDistinguishedName([new AttributeTypeAndValue({ type: OID_COMMON_NAME, value: new AttributeValue({ utf8String: options.commonName }) })])],
  );
  const info = new CertificationRequestInfo({
    version: 0,
    subject,
    subjectPKInfo: AsnConvert.parse(options.key.spki, SubjectPublicKeyInfo),
    attributes: new Attributes(sortedAttributes(options.attributes ?? [])),
  });
  const signed = new Uint8Array(AsnConvert.serialize(info));
  const request = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: options.key.algorithm,
    signature: new Uint8Array(options.key.sign(signed)).buffer,
  });
  return new Uint8Array(AsnConvert.serialize(request));
}

/**
 * Builds the TBSCertificate (the part that gets signed) for a profile. It encodes what it is given;
 * whether that is acceptable is the lint's call, which the authority runs before signing.
 */
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  Certificate,
  SubjectKeyIdentifier,
  type SubjectPublicKeyInfo,
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
  type KeyUsageType,
} from '@peculiar/asn1-x509';
import type { Clock } from '../core/clock.js';
import { BadRequestError, ConflictError } from '../core/errors.js';
import type { KeyAlgorithm } from './signer.js';
import type { CertificateProfile } from './profiles.js';
import { encodeGeneralNames, encodeName } from './name.js';
import { serialIntegerFromHex } from './serial-number.js';
import { DerReader } from './der-reader.js';
import {
  BOOLEAN_TRUE,
  NULL,
  TAG,
  contextTag,
  ia5String,
  integerFromContent,
  namedBits,
  octetString,
  oid,
  sequence,
  smallInteger,
  time,
  tlv,
} from './der-writer.js';
import { signatureAlgorithmDer } from './signature-algorithm.js';

/** id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1); its value is NULL. */
export const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
/** id-pe-mud-url (RFC 8520 10): MUDURLSyntax ::= IA5String, an https URL, never critical. */
export const OID_MUD_URL = '1.3.6.1.5.5.7.1.25';

/** notBefore is set this far in the past so relying parties with slow clocks accept a fresh certificate. */
export const BACKDATE_MS = 60_000;

export interface IssuerInput {
  /** DER Name: the issuing CA certificate's subject. Ignored for a self-signed profile. */
  name?: Uint8Array;
  /** The issuing CA's subjectKeyIdentifier, carried as authorityKeyIdentifier. Ignored for a self-signed profile. */
  keyIdentifier?: Uint8Array;
  signatureAlgorithm: KeyAlgorithm;
  /** A certificate never outlives its issuer: notAfter is cut to this. */
  notAfter?: Date;
}

export interface SubjectInput {
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  commonName?: string;
  organization?: string;
  dnsNames?: string[];
  uris?: string[];
  ipAddresses?: string[];
  /** Becomes an RFC 4043 PermanentIdentifier otherName (the device identifier for device certificates). */
  permanentIdentifier?: string;
  /** RFC 8520 MUD URL of the device's model (device profile only). */
  mudUrl?: string;
}

/** Where relying parties find the issuer's certificate and status. Omitted for a self-signed root. */
export interface RevocationUrls {
  ocsp?: string;
  caIssuers?: string;
  crl?: string;
}

export interface TbsCertificateInput {
  profile: CertificateProfile;
  serialHex: string;
  issuer: IssuerInput;
  subject: SubjectInput;
  urls?: RevocationUrls;
  clock: Clock;
  /** Shorter than the profile's maximum when asked; never longer. */
  lifetimeMs?: number;
}

export interface BuiltTbsCertificate {
  tbs: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subjectKeyIdentifier: Uint8Array;
}

/**
 * Written with the small DER writer rather than @peculiar/asn1-schema, which costs ~1 ms a
 * certificate; the tests hold the two encodings byte-identical, and the lint re-reads the result.
 */
export function buildTbsCertificate(input: TbsCertificateInput): BuiltTbsCertificate {
  const { profile, issuer, subject } = input;
  const selfSigned = profile.issuedBy === 'self';
  const rsa = spkiAlgorithm(subject.spki) === OID_RSA_ENCRYPTION;
  const { notBefore, notAfter } = validityFor(input);
  const subjectName = encodeName(subject);
  const issuerName = selfSigned ? subjectName : issuerNameOf(issuer);
  const ski = subjectKeyIdentifier(subject.spki);

  const extensions: Uint8Array[] = [
    extension(id_ce_basicConstraints, true, basicConstraintsFor(profile)),
    extension(id_ce_keyUsage, true, keyUsageFor(profile, rsa)),
  ];
  if (profile.extendedKeyUsage.length > 0) {
    extensions.push(extension(id_ce_extKeyUsage, false, sequence(...profile.extendedKeyUsage.map(oid))));
  }
  extensions.push(extension(id_ce_subjectKeyIdentifier, false, octetString(ski)));
  if (!selfSigned) {
    if (!issuer.keyIdentifier) throw new BadRequestError('issuer keyIdentifier is required for a certificate that is not self-signed');
    extensions.push(extension(id_ce_authorityKeyIdentifier, false, sequence(tlv(contextTag(0, false), issuer.keyIdentifier))));
  }
  const altNames = encodeGeneralNames({
    dnsNames: subject.dnsNames,
    ipAddresses: subject.ipAddresses,
    uris: subject.uris,
    permanentIdentifiers: subject.permanentIdentifier === undefined ? [] : [subject.permanentIdentifier],
  });
  if (altNames.length > 0) {
    // RFC 5280 4.2.1.6: with an empty subject the SAN carries the identity and must be critical.
    const emptySubject = subject.commonName === undefined && subject.organization === undefined;
    extensions.push(extension(id_ce_subjectAltName, emptySubject, sequence(...altNames)));
  }
  if (!selfSigned && input.urls) extensions.push(...revocationPointers(input.urls, profile));
  if (profile.ocspNoCheck) extensions.push(extension(OID_OCSP_NOCHECK, false, NULL));
  if (subject.mudUrl !== undefined) extensions.push(extension(OID_MUD_URL, false, ia5String(subject.mudUrl)));

  const tbs = sequence(
    VERSION_3,
    integerFromContent(serialIntegerFromHex(input.serialHex)),
    signatureAlgorithmDer(issuer.signatureAlgorithm),
    issuerName,
    sequence(time(notBefore), time(notAfter)),
    subjectName,
    subject.spki,
    tlv(contextTag(3, true), sequence(...extensions)),
  );
  return { tbs, notBefore, notAfter, subjectKeyIdentifier: ski };
}

/** [0] EXPLICIT Version: v3 is INTEGER 2. */
const VERSION_3 = tlv(contextTag(0, true), smallInteger(2));

/** The SPKI's algorithm OID, read in place; a malformed SPKI fails here with a clear reason. */
function spkiAlgorithm(spki: Uint8Array): string {
  try {
    const reader = new DerReader(spki);
    const [algorithm] = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'SubjectPublicKeyInfo');
    const [algorithmOid] = reader.childrenOf(reader.expect(algorithm, TAG.SEQUENCE, 'algorithm'), TAG.SEQUENCE, 'algorithm');
    return reader.oid(algorithmOid, 'algorithm');
  } catch (error) {
    throw new BadRequestError(`subject public key is not a SubjectPublicKeyInfo: ${(error as Error).message}`);
  }
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function subjectKeyIdentifier(spkiDer: Uint8Array): Uint8Array {
  const reader = new DerReader(spkiDer);
  const [, subjectPublicKey] = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'SubjectPublicKeyInfo');
  // The BIT STRING's content after the unused-bits octet, as asn1-schema hands it over.
  const bits = reader.content(reader.expect(subjectPublicKey, TAG.BIT_STRING, 'subjectPublicKey')).subarray(1);
  return new Uint8Array(createHash('sha1').update(bits).digest());
}

/** The IssuerInput for a CA whose certificate is `certificateDer` and whose key signs as `signatureAlgorithm`. */
export function issuerFromCertificate(certificateDer: Uint8Array, signatureAlgorithm: KeyAlgorithm): IssuerInput {
  const tbs = AsnConvert.parse(certificateDer, Certificate).tbsCertificate;
  const skiExtension = tbs.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const keyIdentifier = skiExtension
    ? new Uint8Array(AsnConvert.parse(skiExtension.extnValue, SubjectKeyIdentifier).buffer)
    : subjectKeyIdentifier(new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)));
  return {
    name: new Uint8Array(AsnConvert.serialize(tbs.subject)),
    keyIdentifier,
    signatureAlgorithm,
    notAfter: tbs.validity.notAfter.getTime(),
  };
}

function validityFor(input: TbsCertificateInput): { notBefore: Date; notAfter: Date } {
  const { profile } = input;
  const lifetime = input.lifetimeMs ?? profile.maxLifetimeMs;
  if (!(lifetime > 0) || lifetime > profile.maxLifetimeMs) {
    throw new BadRequestError(`requested lifetime ${lifetime} ms is outside 1..${profile.maxLifetimeMs} ms for the ${profile.name} profile`);
  }
  // X.509 times have whole seconds; round here so the returned dates are exactly what is encoded.
  const notBeforeMs = Math.floor((input.clock.now().getTime() - BACKDATE_MS) / 1000) * 1000;
  let notAfterMs = notBeforeMs + Math.floor(lifetime / 1000) * 1000;
  const issuerEnd = input.issuer.notAfter?.getTime();
  if (profile.issuedBy !== 'self' && issuerEnd !== undefined && issuerEnd < notAfterMs) {
    notAfterMs = Math.floor(issuerEnd / 1000) * 1000;
    if (notAfterMs <= notBeforeMs) throw new ConflictError(`the issuing CA expired at ${input.issuer.notAfter!.toISOString()}`, 'issuer-expired');
  }
  return { notBefore: new Date(notBeforeMs), notAfter: new Date(notAfterMs) };
}

function issuerNameOf(issuer: IssuerInput): Uint8Array {
  if (!issuer.name) throw new BadRequestError('issuer name is required for a certificate that is not self-signed');
  return issuer.name;
}

function basicConstraintsFor(profile: CertificateProfile): Uint8Array {
  const constraints = profile.basicConstraints;
  if (!constraints.ca) return sequence(); // cA DEFAULT FALSE is omitted in DER
  return constraints.pathLength === undefined ? sequence(BOOLEAN_TRUE) : sequence(BOOLEAN_TRUE, smallInteger(constraints.pathLength));
}

const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';

export function keyUsagesFor(profile: CertificateProfile, spki: SubjectPublicKeyInfo): KeyUsageType[] {
  return keyUsagesForKey(profile, spki.algorithm.algorithm === OID_RSA_ENCRYPTION);
}

export function keyUsagesForKey(profile: CertificateProfile, rsa: boolean): KeyUsageType[] {
  return [...profile.keyUsage, ...(rsa ? profile.rsaKeyUsage : [])];
}

/** KeyUsage bit positions (RFC 5280 4.2.1.3). */
export const KEY_USAGE_BITS: Record<KeyUsageType, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  crlSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
};

function keyUsageFor(profile: CertificateProfile, rsa: boolean): Uint8Array {
  return namedBits(keyUsagesForKey(profile, rsa).reduce((flags, usage) => flags | (1 << KEY_USAGE_BITS[usage]), 0));
}

function revocationPointers(urls: RevocationUrls, profile: CertificateProfile): Uint8Array[] {
  const access: Uint8Array[] = [];
  // A responder marked no-check is never asked about itself, so pointing it at OCSP only invites loops.
  if (urls.ocsp && !profile.ocspNoCheck) access.push(sequence(oid(id_ad_ocsp), uriName(urls.ocsp)));
  if (urls.caIssuers) access.push(sequence(oid(id_ad_caIssuers), uriName(urls.caIssuers)));
  const out: Uint8Array[] = [];
  if (access.length > 0) out.push(extension(id_pe_authorityInfoAccess, false, sequence(...access)));
  if (urls.crl) {
    // DistributionPoint { distributionPoint [0] { fullName [0] IMPLICIT GeneralNames } }
    const point = sequence(tlv(contextTag(0, true), tlv(contextTag(0, true), uriName(urls.crl))));
    out.push(extension(id_ce_cRLDistributionPoints, false, sequence(point)));
  }
  return out;
}

function uriName(uri: string): Uint8Array {
  const encoded = ia5String(uri);
  encoded[0] = contextTag(6, false);
  return encoded;
}

function extension(extnID: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? sequence(oid(extnID), BOOLEAN_TRUE, octetString(value)) : sequence(oid(extnID), octetString(value));
}

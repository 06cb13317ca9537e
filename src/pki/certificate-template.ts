/**
 * Builds the TBSCertificate (the part that gets signed) for a profile. It encodes what it is given;
 * whether that is acceptable is the lint's call, which the authority runs before signing.
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  Certificate,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
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
  type KeyUsageType,
} from '@peculiar/asn1-x509';
import type { Clock } from '../core/clock.js';
import { BadRequestError, ConflictError } from '../core/errors.js';
import type { KeyAlgorithm } from '../keys/signer.js';
import type { CertificateProfile } from './profiles.js';
import { buildGeneralNames, buildName } from './name.js';
import { serialIntegerFromHex } from './serial-number.js';
import { signatureAlgorithmFor } from './signature-algorithm.js';

/** id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1); its value is NULL. */
export const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
const DER_NULL = new Uint8Array([0x05, 0x00]);

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

export function buildTbsCertificate(input: TbsCertificateInput): BuiltTbsCertificate {
  const { profile, issuer, subject } = input;
  const selfSigned = profile.issuedBy === 'self';
  const spki = AsnConvert.parse(subject.spki, SubjectPublicKeyInfo);
  const { notBefore, notAfter } = validityFor(input);
  const subjectName = buildName(subject);
  const issuerName = selfSigned ? subjectName : issuerNameOf(issuer);
  const ski = subjectKeyIdentifier(subject.spki);

  const extensions: Extension[] = [
    extension(id_ce_basicConstraints, true, basicConstraintsFor(profile)),
    extension(id_ce_keyUsage, true, keyUsageFor(profile, spki)),
  ];
  if (profile.extendedKeyUsage.length > 0) {
    extensions.push(extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([...profile.extendedKeyUsage])));
  }
  extensions.push(extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ski)));
  if (!selfSigned) {
    if (!issuer.keyIdentifier) throw new BadRequestError('issuer keyIdentifier is required for a certificate that is not self-signed');
    extensions.push(
      extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuer.keyIdentifier) })),
    );
  }
  const altNames = buildGeneralNames({
    dnsNames: subject.dnsNames,
    ipAddresses: subject.ipAddresses,
    uris: subject.uris,
    permanentIdentifiers: subject.permanentIdentifier === undefined ? [] : [subject.permanentIdentifier],
  });
  if (altNames.length > 0) {
    // RFC 5280 4.2.1.6: with an empty subject the SAN carries the identity and must be critical.
    extensions.push(extension(id_ce_subjectAltName, subjectName.length === 0, new SubjectAlternativeName(altNames)));
  }
  if (!selfSigned && input.urls) extensions.push(...revocationPointers(input.urls, profile));
  if (profile.ocspNoCheck) extensions.push(new Extension({ extnID: OID_OCSP_NOCHECK, critical: false, extnValue: new OctetString(DER_NULL) }));

  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(serialIntegerFromHex(input.serialHex)),
    signature: signatureAlgorithmFor(issuer.signatureAlgorithm),
    issuer: issuerName,
    validity: new Validity({ notBefore, notAfter }),
    subject: subjectName,
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  return { tbs: new Uint8Array(AsnConvert.serialize(tbs)), notBefore, notAfter, subjectKeyIdentifier: ski };
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function subjectKeyIdentifier(spkiDer: Uint8Array): Uint8Array {
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  return new Uint8Array(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest());
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

function issuerNameOf(issuer: IssuerInput): Name {
  if (!issuer.name) throw new BadRequestError('issuer name is required for a certificate that is not self-signed');
  return AsnConvert.parse(issuer.name, Name);
}

function basicConstraintsFor(profile: CertificateProfile): BasicConstraints {
  const constraints = profile.basicConstraints;
  return new BasicConstraints(
    constraints.ca && constraints.pathLength !== undefined ? { cA: true, pathLenConstraint: constraints.pathLength } : { cA: constraints.ca },
  );
}

const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';

export function keyUsagesFor(profile: CertificateProfile, spki: SubjectPublicKeyInfo): KeyUsageType[] {
  const rsa = spki.algorithm.algorithm === OID_RSA_ENCRYPTION;
  return [...profile.keyUsage, ...(rsa ? profile.rsaKeyUsage : [])];
}

function keyUsageFor(profile: CertificateProfile, spki: SubjectPublicKeyInfo): KeyUsage {
  const flagOf: Record<KeyUsageType, KeyUsageFlags> = {
    digitalSignature: KeyUsageFlags.digitalSignature,
    nonRepudiation: KeyUsageFlags.nonRepudiation,
    keyEncipherment: KeyUsageFlags.keyEncipherment,
    dataEncipherment: KeyUsageFlags.dataEncipherment,
    keyAgreement: KeyUsageFlags.keyAgreement,
    keyCertSign: KeyUsageFlags.keyCertSign,
    crlSign: KeyUsageFlags.cRLSign,
    encipherOnly: KeyUsageFlags.encipherOnly,
    decipherOnly: KeyUsageFlags.decipherOnly,
  };
  return new KeyUsage(keyUsagesFor(profile, spki).reduce((bits, usage) => bits | flagOf[usage], 0));
}

function revocationPointers(urls: RevocationUrls, profile: CertificateProfile): Extension[] {
  const access: AccessDescription[] = [];
  // A responder marked no-check is never asked about itself, so pointing it at OCSP only invites loops.
  if (urls.ocsp && !profile.ocspNoCheck) access.push(accessDescription(id_ad_ocsp, urls.ocsp));
  if (urls.caIssuers) access.push(accessDescription(id_ad_caIssuers, urls.caIssuers));
  const out: Extension[] = [];
  if (access.length > 0) out.push(extension(id_pe_authorityInfoAccess, false, new AuthorityInfoAccessSyntax(access)));
  if (urls.crl) {
    const point = new DistributionPoint({
      distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: urls.crl })] }),
    });
    out.push(extension(id_ce_cRLDistributionPoints, false, new CRLDistributionPoints([point])));
  }
  return out;
}

function accessDescription(method: string, url: string): AccessDescription {
  return new AccessDescription({ accessMethod: method, accessLocation: new GeneralName({ uniformResourceIdentifier: url }) });
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

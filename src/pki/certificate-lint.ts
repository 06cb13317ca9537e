/**
 * Pre-signing lint: decodes a TBSCertificate the way a relying party would and checks it against
 * its profile and the issuer it will be signed by. The template should never produce findings; the
 * lint exists so that a template bug or a bad input is caught before a signature makes it real.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  ExtendedKeyUsage,
  type Extension,
  KeyUsage,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  TBSCertificate,
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
import { inspectSubjectKey } from './csr.js';
import { isDeviceId } from './device-id.js';
import { MAX_COMMON_NAME_LENGTH, OID_COMMON_NAME, attributeValues, emptyAltNames, isValidDnsName, isValidIpAddress, readGeneralNames, type ReadAltNames } from './name.js';
import type { CertificateProfile } from './profiles.js';
import { OID_OCSP_NOCHECK, keyUsagesFor, subjectKeyIdentifier, type IssuerInput, type RevocationUrls } from './certificate-template.js';
import { signatureAlgorithmFor } from './signature-algorithm.js';

export interface LintExpectations {
  /** The same issuer the template was given. */
  issuer: IssuerInput;
  /** The URLs the template was given; their absence means no AIA/CRLDP is expected. */
  urls?: RevocationUrls;
}

const MAX_SERIAL_OCTETS = 20;

const KNOWN_EXTENSIONS = new Set([
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_extKeyUsage,
  id_ce_subjectKeyIdentifier,
  id_ce_authorityKeyIdentifier,
  id_ce_subjectAltName,
  id_pe_authorityInfoAccess,
  id_ce_cRLDistributionPoints,
  OID_OCSP_NOCHECK,
]);

/** Findings in plain words; an empty list means the TBSCertificate may be signed. */
export function lintTbsCertificate(tbsDer: Uint8Array, profile: CertificateProfile, expectations: LintExpectations): string[] {
  let tbs: TBSCertificate;
  try {
    tbs = AsnConvert.parse(tbsDer, TBSCertificate);
  } catch (error) {
    return [`TBSCertificate does not decode: ${(error as Error).message}`];
  }
  const findings: string[] = [];
  const find = (finding: string) => findings.push(finding);
  const selfSigned = profile.issuedBy === 'self';

  if (!equalBytes(new Uint8Array(AsnConvert.serialize(tbs)), tbsDer)) find('TBSCertificate is not in canonical DER');
  if (tbs.version !== Version.v3) find(`version is v${tbs.version + 1}, expected v3`);
  lintSerial(new Uint8Array(tbs.serialNumber), find);

  const expectedSignature = signatureAlgorithmFor(expectations.issuer.signatureAlgorithm);
  if (!equalBytes(encode(tbs.signature), encode(expectedSignature))) {
    find(`signature algorithm ${tbs.signature.algorithm} is not the issuer's (${expectedSignature.algorithm} for ${expectations.issuer.signatureAlgorithm})`);
  }
  const issuerDer = encode(tbs.issuer);
  if (selfSigned) {
    if (!equalBytes(issuerDer, encode(tbs.subject))) find('issuer of a self-signed certificate differs from its subject');
  } else if (!expectations.issuer.name || !equalBytes(issuerDer, expectations.issuer.name)) {
    find('issuer name is not the issuing CA certificate\'s subject');
  }

  lintValidity(tbs, profile, expectations.issuer, find);

  const spkiDer = encode(tbs.subjectPublicKeyInfo);
  try {
    const { keyType } = inspectSubjectKey(spkiDer, (reason) => new Error(reason)).subjectKey;
    if (profile.basicConstraints.ca && keyType === 'RSA') find('a CA key must be ECDSA P-256/P-384 or Ed25519, the kinds Hearth signers hold');
    if (selfSigned && keyType !== expectations.issuer.signatureAlgorithm) {
      find(`self-signed certificate has a ${keyType} key but is to be signed with ${expectations.issuer.signatureAlgorithm}`);
    }
  } catch (error) {
    find(`subject public key: ${(error as Error).message}`);
  }

  const extensions = tbs.extensions ?? [];
  const byId = new Map<string, Extension>();
  for (const ext of extensions) {
    if (byId.has(ext.extnID)) find(`extension ${ext.extnID} appears more than once`);
    byId.set(ext.extnID, ext);
    if (!KNOWN_EXTENSIONS.has(ext.extnID)) find(`unexpected extension ${ext.extnID}`);
  }
  const decode = <T>(id: string, type: new () => T, label: string): { ext: Extension; value: T } | undefined => {
    const ext = byId.get(id);
    if (!ext) return undefined;
    try {
      return { ext, value: AsnConvert.parse(ext.extnValue, type) };
    } catch (error) {
      find(`${label} does not decode: ${(error as Error).message}`);
      return undefined;
    }
  };

  // BasicConstraints
  const bc = decode(id_ce_basicConstraints, BasicConstraints, 'basicConstraints');
  if (!bc) find('basicConstraints is missing');
  else {
    if (!bc.ext.critical) find('basicConstraints must be critical');
    const wanted = profile.basicConstraints;
    if (bc.value.cA !== wanted.ca) find(`basicConstraints cA is ${bc.value.cA}, expected ${wanted.ca}`);
    const wantedPathLen = wanted.ca ? wanted.pathLength : undefined;
    if (bc.value.pathLenConstraint !== wantedPathLen) {
      find(`basicConstraints pathLenConstraint is ${bc.value.pathLenConstraint ?? 'absent'}, expected ${wantedPathLen ?? 'absent'}`);
    }
  }

  // KeyUsage
  const ku = decode(id_ce_keyUsage, KeyUsage, 'keyUsage');
  if (!ku) find('keyUsage is missing');
  else {
    if (!ku.ext.critical) find('keyUsage must be critical');
    const actual = ku.value.toJSON();
    const wanted = keyUsagesFor(profile, tbs.subjectPublicKeyInfo);
    if (!sameSet(actual, wanted)) find(`keyUsage is [${actual.join(', ')}], expected [${wanted.join(', ')}]`);
  }

  // ExtendedKeyUsage
  const eku = decode(id_ce_extKeyUsage, ExtendedKeyUsage, 'extendedKeyUsage');
  if (profile.extendedKeyUsage.length === 0) {
    if (byId.has(id_ce_extKeyUsage)) find(`extendedKeyUsage must be absent for the ${profile.name} profile`);
  } else if (!byId.has(id_ce_extKeyUsage)) find('extendedKeyUsage is missing');
  else if (eku) {
    if (eku.ext.critical) find('extendedKeyUsage must not be critical');
    if (!sameSet([...eku.value], profile.extendedKeyUsage)) {
      find(`extendedKeyUsage is [${[...eku.value].join(', ')}], expected [${profile.extendedKeyUsage.join(', ')}]`);
    }
  }

  // Key identifiers
  const ski = decode(id_ce_subjectKeyIdentifier, SubjectKeyIdentifier, 'subjectKeyIdentifier');
  if (!byId.has(id_ce_subjectKeyIdentifier)) find('subjectKeyIdentifier is missing');
  else if (ski) {
    if (ski.ext.critical) find('subjectKeyIdentifier must not be critical');
    if (!equalBytes(new Uint8Array(ski.value.buffer), subjectKeyIdentifier(spkiDer))) find('subjectKeyIdentifier is not the SHA-1 of the subject public key');
  }
  const aki = decode(id_ce_authorityKeyIdentifier, AuthorityKeyIdentifier, 'authorityKeyIdentifier');
  if (selfSigned) {
    if (byId.has(id_ce_authorityKeyIdentifier)) find('authorityKeyIdentifier must be absent from a self-signed root');
  } else if (!byId.has(id_ce_authorityKeyIdentifier)) find('authorityKeyIdentifier is missing');
  else if (aki) {
    if (aki.ext.critical) find('authorityKeyIdentifier must not be critical');
    const keyId = aki.value.keyIdentifier ? new Uint8Array(aki.value.keyIdentifier.buffer) : undefined;
    if (!keyId) find('authorityKeyIdentifier has no keyIdentifier');
    else if (!expectations.issuer.keyIdentifier || !equalBytes(keyId, expectations.issuer.keyIdentifier)) {
      find('authorityKeyIdentifier is not the issuing CA\'s subjectKeyIdentifier');
    }
  }

  // Names
  const san = decode(id_ce_subjectAltName, SubjectAlternativeName, 'subjectAltName');
  let names: ReadAltNames | undefined;
  if (san) {
    try {
      names = readGeneralNames([...san.value]);
    } catch (error) {
      find(`subjectAltName does not decode: ${(error as Error).message}`);
    }
    if (tbs.subject.length === 0 && !san.ext.critical) find('subjectAltName must be critical when the subject is empty');
  }
  lintNames(profile, attributeValues(tbs.subject, OID_COMMON_NAME), byId.has(id_ce_subjectAltName), names, find);

  // Revocation pointers
  lintRevocationPointers(profile, expectations.urls, byId, decode, find);

  // OCSP no-check
  const noCheck = byId.get(OID_OCSP_NOCHECK);
  if (profile.ocspNoCheck) {
    if (!noCheck) find('id-pkix-ocsp-nocheck is missing');
    else {
      if (noCheck.critical) find('id-pkix-ocsp-nocheck must not be critical');
      if (!equalBytes(new Uint8Array(noCheck.extnValue.buffer), new Uint8Array([0x05, 0x00]))) find('id-pkix-ocsp-nocheck value must be NULL');
    }
  } else if (noCheck) find(`id-pkix-ocsp-nocheck must be absent for the ${profile.name} profile`);

  return findings;
}

function lintSerial(serial: Uint8Array, find: (f: string) => void): void {
  if (serial.length === 0) return void find('serial number is empty');
  if ((serial[0]! & 0x80) !== 0) find('serial number is negative');
  else if (serial.every((b) => b === 0)) find('serial number is zero');
  if (serial.length > MAX_SERIAL_OCTETS) find(`serial number is ${serial.length} octets, more than ${MAX_SERIAL_OCTETS}`);
  if (serial.length > 1 && serial[0] === 0 && (serial[1]! & 0x80) === 0) find('serial number has a superfluous leading zero octet');
}

function lintValidity(tbs: TBSCertificate, profile: CertificateProfile, issuer: IssuerInput, find: (f: string) => void): void {
  const notBefore = tbs.validity.notBefore.getTime();
  const notAfter = tbs.validity.notAfter.getTime();
  if (notBefore.getTime() >= notAfter.getTime()) find('notBefore is not before notAfter');
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  for (const [label, time] of [['notBefore', tbs.validity.notBefore], ['notAfter', tbs.validity.notAfter]] as const) {
    const before2050 = time.getTime().getUTCFullYear() < 2050;
    if (before2050 && time.utcTime === undefined) find(`${label} before 2050 must be a UTCTime`);
    if (!before2050 && time.generalTime === undefined) find(`${label} from 2050 on must be a GeneralizedTime`);
  }
  const lifetime = notAfter.getTime() - notBefore.getTime();
  if (lifetime > profile.maxLifetimeMs) {
    find(`validity of ${lifetime / 1000} s exceeds the ${profile.name} profile's maximum of ${profile.maxLifetimeMs / 1000} s`);
  }
  if (profile.issuedBy !== 'self' && issuer.notAfter && notAfter.getTime() > issuer.notAfter.getTime()) {
    find('notAfter is later than the issuing CA\'s notAfter');
  }
}

function lintNames(
  profile: CertificateProfile,
  commonNames: string[],
  hasSan: boolean,
  names: ReadAltNames | undefined,
  find: (f: string) => void,
): void {
  if (commonNames.length > 1) find('subject has more than one commonName');
  const cn = commonNames[0];
  if (cn !== undefined && cn.length > MAX_COMMON_NAME_LENGTH) find(`commonName is longer than ${MAX_COMMON_NAME_LENGTH} characters`);
  if (profile.subjectAltNames === 'none') {
    if (hasSan) find(`subjectAltName must be absent for the ${profile.name} profile`);
    if (cn === undefined) find(`the ${profile.name} profile needs a subject commonName`);
    return;
  }
  if (hasSan && !names) return; // undecodable, already reported
  if (!hasSan) find('subjectAltName is missing');
  names ??= { ...emptyAltNames(), unsupported: [] };
  for (const kind of names.unsupported) find(`subjectAltName contains an unsupported name: ${kind}`);
  for (const dns of names.dnsNames) {
    if (!isValidDnsName(dns, { allowWildcard: profile.allowWildcardDns })) {
      find(`DNS name "${dns}" is not a valid ${profile.allowWildcardDns ? '' : 'non-wildcard '}host name`);
    }
  }
  for (const ip of names.ipAddresses) if (!isValidIpAddress(ip)) find(`IP address "${ip}" is not valid`);

  switch (profile.subjectAltNames) {
    case 'device-id': {
      const [uri, ...more] = names.uris;
      if (uri === undefined || more.length > 0) find(`device certificates need exactly one URI, found ${names.uris.length}`);
      else if (!isDeviceId(uri)) find(`URI "${uri}" is not a device identifier`);
      if (names.dnsNames.length > 0 || names.ipAddresses.length > 0) find('device certificates must not name DNS hosts or IP addresses');
      if (names.permanentIdentifiers.length !== 1 || names.permanentIdentifiers[0] !== uri) {
        find('device certificates need one PermanentIdentifier equal to the device identifier URI');
      }
      if (cn !== uri) find('subject commonName must be the device identifier');
      break;
    }
    case 'gateway': {
      if (names.ipAddresses.length > 0) find('gateway certificates must not name IP addresses');
      if (names.uris.length > 1) find('gateway certificates may carry at most one URI');
      for (const uri of names.uris) if (!isDeviceId(uri)) find(`URI "${uri}" is not a device identifier`);
      if (names.dnsNames.length + names.uris.length === 0) find('gateway certificates need a DNS name or a device identifier URI');
      if (names.permanentIdentifiers.length > 0) find('gateway certificates must not carry a PermanentIdentifier');
      if (cn !== undefined && !names.dnsNames.includes(cn) && !names.uris.includes(cn)) find('subject commonName must also appear in subjectAltName');
      break;
    }
    case 'service': {
      if (names.uris.length > 0 || names.permanentIdentifiers.length > 0) find('service certificates name only DNS hosts and IP addresses');
      if (names.dnsNames.length + names.ipAddresses.length === 0) find('service certificates need at least one DNS name or IP address');
      if (cn !== undefined && !names.dnsNames.includes(cn) && !names.ipAddresses.includes(cn)) find('subject commonName must also appear in subjectAltName');
      break;
    }
  }
}

type Decode = <T>(id: string, type: new () => T, label: string) => { ext: Extension; value: T } | undefined;

function lintRevocationPointers(
  profile: CertificateProfile,
  urls: RevocationUrls | undefined,
  byId: Map<string, Extension>,
  decode: Decode,
  find: (f: string) => void,
): void {
  const selfSigned = profile.issuedBy === 'self';
  const wantOcsp = !selfSigned && !profile.ocspNoCheck ? urls?.ocsp : undefined;
  const wantCaIssuers = !selfSigned ? urls?.caIssuers : undefined;
  const wantCrl = !selfSigned ? urls?.crl : undefined;

  const aia = decode(id_pe_authorityInfoAccess, AuthorityInfoAccessSyntax, 'authorityInfoAccess');
  const located = (method: string) => (aia ? [...aia.value].filter((d) => d.accessMethod === method).map((d) => d.accessLocation.uniformResourceIdentifier) : []);
  if (!wantOcsp && !wantCaIssuers) {
    if (byId.has(id_pe_authorityInfoAccess)) find(`authorityInfoAccess must be absent${selfSigned ? ' from a self-signed root' : ' when no URLs are configured'}`);
  } else if (!byId.has(id_pe_authorityInfoAccess)) find('authorityInfoAccess is missing');
  else if (aia) {
    if (aia.ext.critical) find('authorityInfoAccess must not be critical');
    if (!sameSet(located(id_ad_ocsp), wantOcsp ? [wantOcsp] : [])) find(`authorityInfoAccess OCSP location is not ${wantOcsp ?? 'absent'}`);
    if (!sameSet(located(id_ad_caIssuers), wantCaIssuers ? [wantCaIssuers] : [])) find(`authorityInfoAccess caIssuers location is not ${wantCaIssuers ?? 'absent'}`);
  }

  const crldp = decode(id_ce_cRLDistributionPoints, CRLDistributionPoints, 'cRLDistributionPoints');
  if (!wantCrl) {
    if (byId.has(id_ce_cRLDistributionPoints)) find(`cRLDistributionPoints must be absent${selfSigned ? ' from a self-signed root' : ' when no CRL URL is configured'}`);
  } else if (!byId.has(id_ce_cRLDistributionPoints)) find('cRLDistributionPoints is missing');
  else if (crldp) {
    if (crldp.ext.critical) find('cRLDistributionPoints must not be critical');
    const uris = [...crldp.value].flatMap((p) => p.distributionPoint?.fullName?.map((n) => n.uniformResourceIdentifier) ?? []);
    if (!sameSet(uris, [wantCrl])) find(`cRLDistributionPoints is not ${wantCrl}`);
  }
}

function encode(value: unknown): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(value));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function sameSet(actual: readonly (string | undefined)[], wanted: readonly string[]): boolean {
  return actual.length === wanted.length && wanted.every((w) => actual.includes(w));
}

/**
 * Pre-signing lint: decodes a TBSCertificate the way a relying party would and checks it against
 * its profile and the issuer it will be signed by. The template should never produce findings; the
 * lint exists so that a template bug or a bad input is caught before a signature makes it real.
 */
import {
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
import { describeSubjectKey, inspectSubjectKey, isPointOnCurve, type SubjectKeyType } from './csr.js';
import { DerDecodeError, DerReader, decodeString, type Tlv } from './der-reader.js';
import { TAG, contextTag, oid } from './der-writer.js';
import { isDeviceId } from './device-id.js';
import {
  MAX_COMMON_NAME_LENGTH,
  OID_COMMON_NAME,
  attributeValuesDer,
  emptyAltNames,
  isValidDnsName,
  isValidIpAddress,
  readGeneralNamesDer,
  type ReadAltNames,
} from './name.js';
import type { CertificateProfile } from './profiles.js';
import { SIGNATURE_OIDS } from './signature-algorithm.js';
import {
  KEY_USAGE_BITS,
  OID_MUD_URL,
  OID_OCSP_NOCHECK,
  keyUsagesForKey,
  subjectKeyIdentifier,
  type IssuerInput,
  type RevocationUrls,
} from './certificate-template.js';

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
  OID_MUD_URL,
]);

interface ExtensionView {
  critical: boolean;
  /** extnValue's content octets. */
  value: Uint8Array;
}

interface TimeView {
  date: Date;
  utc: boolean;
}

/** What the lint reads from a TBSCertificate, decoded in place with the strict DER reader. */
interface TbsView {
  canonical: boolean;
  version: number;
  serial: Uint8Array;
  signature: Uint8Array;
  issuer: Uint8Array;
  notBefore: TimeView;
  notAfter: TimeView;
  subject: Uint8Array;
  subjectIsEmpty: boolean;
  commonNames: string[];
  spki: Uint8Array;
  extensions: { id: string; ext: ExtensionView }[];
}

/**
 * Findings in plain words; an empty list means the TBSCertificate may be signed. The TBS is read
 * with the DER reader rather than @peculiar/asn1-schema (which costs ~2 ms here), and DER rules a
 * re-encoding would have caught (shortest lengths, no encoded DEFAULTs, 0xFF for TRUE, canonical
 * times) are checked as it reads.
 */
export function lintTbsCertificate(tbsDer: Uint8Array, profile: CertificateProfile, expectations: LintExpectations): string[] {
  let tbs: TbsView;
  try {
    tbs = readTbs(tbsDer);
  } catch (error) {
    return [`TBSCertificate does not decode: ${(error as Error).message}`];
  }
  const findings: string[] = [];
  const find = (finding: string) => findings.push(finding);
  const selfSigned = profile.issuedBy === 'self';

  if (!tbs.canonical) find('TBSCertificate is not in canonical DER');
  if (tbs.version !== 2) find(`version is v${tbs.version + 1}, expected v3`);
  lintSerial(tbs.serial, find);

  const expectedAlgorithm = SIGNATURE_OIDS[expectations.issuer.signatureAlgorithm];
  if (!equalBytes(tbs.signature, sequenceOf(oid(expectedAlgorithm)))) {
    find(`signature algorithm ${signatureOid(tbs.signature)} is not the issuer's (${expectedAlgorithm} for ${expectations.issuer.signatureAlgorithm})`);
  }
  if (selfSigned) {
    if (!equalBytes(tbs.issuer, tbs.subject)) find('issuer of a self-signed certificate differs from its subject');
  } else if (!expectations.issuer.name || !equalBytes(tbs.issuer, expectations.issuer.name)) {
    find("issuer name is not the issuing CA certificate's subject");
  }

  lintValidity(tbs, profile, expectations.issuer, find);

  try {
    const keyType = subjectKeyType(tbs.spki);
    if (profile.basicConstraints.ca && keyType === 'RSA') find('a CA key must be ECDSA P-256/P-384 or Ed25519, the kinds Hearth signers hold');
    if (selfSigned && keyType !== expectations.issuer.signatureAlgorithm) {
      find(`self-signed certificate has a ${keyType} key but is to be signed with ${expectations.issuer.signatureAlgorithm}`);
    }
  } catch (error) {
    find(`subject public key: ${(error as Error).message}`);
  }

  const byId = new Map<string, ExtensionView>();
  for (const { id, ext } of tbs.extensions) {
    if (byId.has(id)) find(`extension ${id} appears more than once`);
    byId.set(id, ext);
    if (!KNOWN_EXTENSIONS.has(id)) find(`unexpected extension ${id}`);
  }
  const decode: Decode = (id, read, label) => {
    const ext = byId.get(id);
    if (!ext) return undefined;
    try {
      const reader = new DerReader(ext.value);
      const value = read(reader, reader.root());
      if (reader.nonMinimalLength) throw new DerDecodeError('a length is not in its shortest form');
      return { ext, value };
    } catch (error) {
      find(`${label} does not decode: ${(error as Error).message}`);
      return undefined;
    }
  };

  // BasicConstraints
  const bc = decode(id_ce_basicConstraints, readBasicConstraints, 'basicConstraints');
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
  const ku = decode(id_ce_keyUsage, readKeyUsage, 'keyUsage');
  if (!ku) find('keyUsage is missing');
  else {
    if (!ku.ext.critical) find('keyUsage must be critical');
    const wanted = keyUsagesForKey(profile, spkiIsRsa(tbs.spki));
    if (!sameSet(ku.value, wanted)) find(`keyUsage is [${ku.value.join(', ')}], expected [${wanted.join(', ')}]`);
  }

  // ExtendedKeyUsage
  const eku = decode(id_ce_extKeyUsage, readOidSequence, 'extendedKeyUsage');
  if (profile.extendedKeyUsage.length === 0) {
    if (byId.has(id_ce_extKeyUsage)) find(`extendedKeyUsage must be absent for the ${profile.name} profile`);
  } else if (!byId.has(id_ce_extKeyUsage)) find('extendedKeyUsage is missing');
  else if (eku) {
    if (eku.ext.critical) find('extendedKeyUsage must not be critical');
    if (!sameSet(eku.value, profile.extendedKeyUsage)) {
      find(`extendedKeyUsage is [${eku.value.join(', ')}], expected [${profile.extendedKeyUsage.join(', ')}]`);
    }
  }

  // Key identifiers
  const ski = decode(id_ce_subjectKeyIdentifier, (r, t) => r.content(r.expect(t, TAG.OCTET_STRING, 'KeyIdentifier')), 'subjectKeyIdentifier');
  if (!byId.has(id_ce_subjectKeyIdentifier)) find('subjectKeyIdentifier is missing');
  else if (ski) {
    if (ski.ext.critical) find('subjectKeyIdentifier must not be critical');
    if (!equalBytes(ski.value, subjectKeyIdentifier(tbs.spki))) find('subjectKeyIdentifier is not the SHA-1 of the subject public key');
  }
  const aki = decode(id_ce_authorityKeyIdentifier, readAuthorityKeyIdentifier, 'authorityKeyIdentifier');
  if (selfSigned) {
    if (byId.has(id_ce_authorityKeyIdentifier)) find('authorityKeyIdentifier must be absent from a self-signed root');
  } else if (!byId.has(id_ce_authorityKeyIdentifier)) find('authorityKeyIdentifier is missing');
  else if (aki) {
    if (aki.ext.critical) find('authorityKeyIdentifier must not be critical');
    const keyId = aki.value;
    if (!keyId) find('authorityKeyIdentifier has no keyIdentifier');
    else if (!expectations.issuer.keyIdentifier || !equalBytes(keyId, expectations.issuer.keyIdentifier)) {
      find("authorityKeyIdentifier is not the issuing CA's subjectKeyIdentifier");
    }
  }

  // Names
  const san = decode(id_ce_subjectAltName, readGeneralNamesDer, 'subjectAltName');
  if (san && tbs.subjectIsEmpty && !san.ext.critical) find('subjectAltName must be critical when the subject is empty');
  lintNames(profile, tbs.commonNames, byId.has(id_ce_subjectAltName), san?.value, find);

  // Revocation pointers
  lintRevocationPointers(profile, expectations.urls, byId, decode, find);

  // MUD URL (RFC 8520 10): an IA5String https URL, never critical, on device certificates only.
  if (byId.has(OID_MUD_URL)) {
    const mud = decode(OID_MUD_URL, (r, t) => decodeString(0x16, r.content(r.expect(t, 0x16, 'MUDURLSyntax')), 'MUD URL'), 'MUD URL');
    if (!profile.mudUrl) find(`a ${profile.name} certificate may not carry a MUD URL`);
    if (mud) {
      if (mud.ext.critical) find('the MUD URL extension must not be critical');
      if (!/^https:\/\/[\x21-\x7e]+$/.test(mud.value)) find('the MUD URL must be an https URL of printable ASCII');
    }
  }

  // OCSP no-check
  const noCheck = byId.get(OID_OCSP_NOCHECK);
  if (profile.ocspNoCheck) {
    if (!noCheck) find('id-pkix-ocsp-nocheck is missing');
    else {
      if (noCheck.critical) find('id-pkix-ocsp-nocheck must not be critical');
      if (!equalBytes(noCheck.value, new Uint8Array([0x05, 0x00]))) find('id-pkix-ocsp-nocheck value must be NULL');
    }
  } else if (noCheck) find(`id-pkix-ocsp-nocheck must be absent for the ${profile.name} profile`);

  return findings;
}

function sequenceOf(content: Uint8Array): Uint8Array {
  return Uint8Array.from([TAG.SEQUENCE, content.length, ...content]);
}

function signatureOid(algorithmIdentifier: Uint8Array): string {
  try {
    const reader = new DerReader(algorithmIdentifier);
    return reader.oid(reader.children(reader.root())[0], 'algorithm');
  } catch {
    return '(undecodable)';
  }
}

/**
 * The key type without importing the key: read from the SPKI, with EC points checked to be on the
 * curve as an import would. Anything unusual goes to inspectSubjectKey for its precise reason.
 */
function subjectKeyType(spki: Uint8Array): SubjectKeyType {
  const description = describeSubjectKey(spki);
  if (!description) return inspectSubjectKey(spki, (reason) => new Error(reason)).subjectKey.keyType;
  if (description.ec && !isPointOnCurve(description.ec)) throw new Error('the public key is not a SubjectPublicKeyInfo this CA can read');
  return description.subjectKey.keyType;
}

const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';

/** As the template decides on keyEncipherment: by the SPKI's algorithm alone, even when the key is refused. */
function spkiIsRsa(spki: Uint8Array): boolean {
  try {
    const reader = new DerReader(spki);
    const [algorithm] = reader.children(reader.root());
    return reader.oid(reader.children(reader.expect(algorithm, TAG.SEQUENCE, 'algorithm'))[0], 'algorithm') === OID_RSA_ENCRYPTION;
  } catch {
    return false;
  }
}

function readTbs(der: Uint8Array): TbsView {
  const reader = new DerReader(der);
  let canonical = true;
  const fields = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'TBSCertificate');
  let at = 0;
  let version = 0;
  if (fields[0]?.tag === contextTag(0, true)) {
    const [integer, extra] = reader.children(fields[at++]!);
    if (extra) throw new DerDecodeError('version is malformed');
    version = smallInteger(reader, integer, 'version');
    if (version === 0) canonical = false; // DEFAULT v1 must be left out
  }
  const serial = reader.content(reader.expect(fields[at++], TAG.INTEGER, 'serialNumber'));
  const signature = reader.encoding(reader.expect(fields[at++], TAG.SEQUENCE, 'signature'));
  const issuer = reader.expect(fields[at++], TAG.SEQUENCE, 'issuer');
  const [notBefore, notAfter, extraTime] = reader.childrenOf(reader.expect(fields[at++], TAG.SEQUENCE, 'validity'), TAG.SEQUENCE, 'validity');
  if (extraTime) throw new DerDecodeError('validity has more than two times');
  const subject = reader.expect(fields[at++], TAG.SEQUENCE, 'subject');
  const spki = reader.expect(fields[at++], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  if (fields[at]?.tag === contextTag(1, false)) at++;
  if (fields[at]?.tag === contextTag(2, false)) at++;
  const extensions: TbsView['extensions'] = [];
  if (fields[at]?.tag === contextTag(3, true)) {
    const [list, extra] = reader.children(fields[at++]!);
    if (extra) throw new DerDecodeError('extensions are malformed');
    for (const extension of reader.childrenOf(reader.expect(list, TAG.SEQUENCE, 'extensions'), TAG.SEQUENCE, 'extensions')) {
      const parts = reader.childrenOf(extension, TAG.SEQUENCE, 'Extension');
      let critical = false;
      if (parts.length === 3) {
        const flag = reader.boolean(parts[1]!, 'critical');
        critical = flag.value;
        if (!flag.canonical || !critical) canonical = false; // TRUE is 0xFF; DEFAULT FALSE is left out
      } else if (parts.length !== 2) throw new DerDecodeError('Extension is malformed');
      const value = reader.content(reader.expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue'));
      extensions.push({ id: reader.oid(parts[0], 'extnID'), ext: { critical, value } });
    }
  }
  if (at !== fields.length) throw new DerDecodeError('TBSCertificate has unexpected trailing fields');
  walk(reader, reader.root());
  reader.childrenOf(spki, TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const before = readTime(reader, notBefore, 'notBefore');
  const after = readTime(reader, notAfter, 'notAfter');
  return {
    canonical: canonical && before.canonical && after.canonical && !reader.nonMinimalLength,
    version,
    serial,
    signature,
    issuer: reader.encoding(issuer),
    notBefore: before,
    notAfter: after,
    subject: reader.encoding(subject),
    subjectIsEmpty: subject.end === subject.contentStart,
    commonNames: attributeValuesDer(reader, subject, OID_COMMON_NAME),
    spki: reader.encoding(spki),
    extensions,
  };
}

/** Reads every constructed element so that each length, however deep, is checked. */
function walk(reader: DerReader, tlv: Tlv): void {
  if ((tlv.tag & 0x20) === 0) return;
  for (const child of reader.children(tlv)) walk(reader, child);
}

function smallInteger(reader: DerReader, tlv: Tlv | undefined, what: string): number {
  const content = reader.content(reader.expect(tlv, TAG.INTEGER, what));
  if (content.length === 0 || content.length > 4 || (content[0]! & 0x80) !== 0) throw new DerDecodeError(`${what} is not a small non-negative INTEGER`);
  if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) throw new DerDecodeError(`${what} is not a minimal INTEGER`);
  return content.reduce((value, byte) => value * 256 + byte, 0);
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** RFC 5280 4.1.2.5.1/2: seconds present, no fractions, "Z"; UTCTime years 50–99 are 19xx. */
function readTime(reader: DerReader, tlv: Tlv | undefined, what: string): TimeView & { canonical: boolean } {
  if (!tlv || (tlv.tag !== TAG.UTC_TIME && tlv.tag !== TAG.GENERALIZED_TIME)) throw new DerDecodeError(`${what} is not a UTCTime or GeneralizedTime`);
  const utc = tlv.tag === TAG.UTC_TIME;
  const text = Buffer.from(reader.content(tlv)).toString('latin1');
  const match = (utc ? UTC_TIME : GENERALIZED_TIME).exec(text);
  if (!match) throw new DerDecodeError(`${what} "${text}" is not in the DER form RFC 5280 requires`);
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const fullYear = utc ? (year < 50 ? 2000 + year : 1900 + year) : year;
  const date = new Date(Date.UTC(fullYear, month - 1, day, hour, minute, second));
  const valid = date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
  if (!valid || fullYear < 100) throw new DerDecodeError(`${what} "${text}" is not a valid time`);
  return { date, utc, canonical: true };
}

interface BasicConstraintsView {
  cA: boolean;
  pathLenConstraint?: number;
}

function readBasicConstraints(reader: DerReader, root: Tlv): BasicConstraintsView {
  const fields = reader.childrenOf(root, TAG.SEQUENCE, 'BasicConstraints');
  let at = 0;
  let cA = false;
  if (fields[at]?.tag === TAG.BOOLEAN) {
    const flag = reader.boolean(fields[at++]!, 'cA');
    if (!flag.canonical || !flag.value) throw new DerDecodeError('cA is not DER (FALSE must be left out, TRUE is 0xFF)');
    cA = true;
  }
  const pathLenConstraint = fields[at] ? smallInteger(reader, fields[at++], 'pathLenConstraint') : undefined;
  if (at !== fields.length) throw new DerDecodeError('BasicConstraints has trailing fields');
  return pathLenConstraint === undefined ? { cA } : { cA, pathLenConstraint };
}

const KEY_USAGE_NAMES = Object.entries(KEY_USAGE_BITS) as [KeyUsageType, number][];

/** Usage names, in alphabetical order as asn1-schema lists them. */
function readKeyUsage(reader: DerReader, root: Tlv): KeyUsageType[] {
  const content = reader.content(reader.expect(root, TAG.BIT_STRING, 'KeyUsage'));
  const unused = content[0];
  if (unused === undefined || unused > 7 || (content.length === 1 && unused !== 0)) throw new DerDecodeError('KeyUsage BIT STRING is malformed');
  const bits = content.subarray(1);
  const isSet = (bit: number) => bit >> 3 < bits.length && (bits[bit >> 3]! & (0x80 >> (bit & 7))) !== 0;
  return KEY_USAGE_NAMES.filter(([, bit]) => isSet(bit))
    .map(([name]) => name)
    .sort();
}

function readOidSequence(reader: DerReader, root: Tlv): string[] {
  return reader.childrenOf(root, TAG.SEQUENCE, 'SEQUENCE OF OBJECT IDENTIFIER').map((t) => reader.oid(t, 'OBJECT IDENTIFIER'));
}

function readAuthorityKeyIdentifier(reader: DerReader, root: Tlv): Uint8Array | undefined {
  const [first] = reader.childrenOf(root, TAG.SEQUENCE, 'AuthorityKeyIdentifier');
  return first?.tag === contextTag(0, false) ? reader.content(first) : undefined;
}

/** URIs per access method; a location that is not a URI counts as undefined. */
function readAccessDescriptions(reader: DerReader, root: Tlv): { method: string; uri: string | undefined }[] {
  return reader.childrenOf(root, TAG.SEQUENCE, 'AuthorityInfoAccessSyntax').map((description) => {
    const [method, location, extra] = reader.childrenOf(description, TAG.SEQUENCE, 'AccessDescription');
    if (!location || extra) throw new DerDecodeError('AccessDescription is malformed');
    return { method: reader.oid(method, 'accessMethod'), uri: uriOf(reader, location) };
  });
}

function readDistributionPointUris(reader: DerReader, root: Tlv): (string | undefined)[] {
  return reader.childrenOf(root, TAG.SEQUENCE, 'CRLDistributionPoints').flatMap((point) => {
    const [name] = reader.childrenOf(point, TAG.SEQUENCE, 'DistributionPoint');
    if (name?.tag !== contextTag(0, true)) return [];
    const [fullName] = reader.children(name);
    if (fullName?.tag !== contextTag(0, true)) return [];
    return reader.children(fullName).map((gn) => uriOf(reader, gn));
  });
}

function uriOf(reader: DerReader, generalName: Tlv): string | undefined {
  return generalName.tag === contextTag(6, false) ? Buffer.from(reader.content(generalName)).toString('latin1') : undefined;
}

function lintSerial(serial: Uint8Array, find: (f: string) => void): void {
  if (serial.length === 0) return void find('serial number is empty');
  if ((serial[0]! & 0x80) !== 0) find('serial number is negative');
  else if (serial.every((b) => b === 0)) find('serial number is zero');
  if (serial.length > MAX_SERIAL_OCTETS) find(`serial number is ${serial.length} octets, more than ${MAX_SERIAL_OCTETS}`);
  if (serial.length > 1 && serial[0] === 0 && (serial[1]! & 0x80) === 0) find('serial number has a superfluous leading zero octet');
}

function lintValidity(tbs: TbsView, profile: CertificateProfile, issuer: IssuerInput, find: (f: string) => void): void {
  const notBefore = tbs.notBefore.date;
  const notAfter = tbs.notAfter.date;
  if (notBefore.getTime() >= notAfter.getTime()) find('notBefore is not before notAfter');
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  for (const [label, time] of [
    ['notBefore', tbs.notBefore],
    ['notAfter', tbs.notAfter],
  ] as const) {
    const before2050 = time.date.getUTCFullYear() < 2050;
    if (before2050 && !time.utc) find(`${label} before 2050 must be a UTCTime`);
    if (!before2050 && time.utc) find(`${label} from 2050 on must be a GeneralizedTime`);
  }
  const lifetime = notAfter.getTime() - notBefore.getTime();
  if (lifetime > profile.maxLifetimeMs) {
    find(`validity of ${lifetime / 1000} s exceeds the ${profile.name} profile's maximum of ${profile.maxLifetimeMs / 1000} s`);
  }
  if (profile.issuedBy !== 'self' && issuer.notAfter && notAfter.getTime() > issuer.notAfter.getTime()) {
    find("notAfter is later than the issuing CA's notAfter");
  }
}
function lintNames(profile: CertificateProfile, commonNames: string[], hasSan: boolean, names: ReadAltNames | undefined, find: (f: string) => void): void {
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

type Decode = <T>(id: string, read: (reader: DerReader, root: Tlv) => T, label: string) => { ext: ExtensionView; value: T } | undefined;

function lintRevocationPointers(
  profile: CertificateProfile,
  urls: RevocationUrls | undefined,
  byId: Map<string, ExtensionView>,
  decode: Decode,
  find: (f: string) => void,
): void {
  const selfSigned = profile.issuedBy === 'self';
  const wantOcsp = !selfSigned && !profile.ocspNoCheck ? urls?.ocsp : undefined;
  const wantCaIssuers = !selfSigned ? urls?.caIssuers : undefined;
  const wantCrl = !selfSigned ? urls?.crl : undefined;

  const aia = decode(id_pe_authorityInfoAccess, readAccessDescriptions, 'authorityInfoAccess');
  const located = (method: string) => (aia ? aia.value.filter((d) => d.method === method).map((d) => d.uri) : []);
  if (!wantOcsp && !wantCaIssuers) {
    if (byId.has(id_pe_authorityInfoAccess))
      find(`authorityInfoAccess must be absent${selfSigned ? ' from a self-signed root' : ' when no URLs are configured'}`);
  } else if (!byId.has(id_pe_authorityInfoAccess)) find('authorityInfoAccess is missing');
  else if (aia) {
    if (aia.ext.critical) find('authorityInfoAccess must not be critical');
    if (!sameSet(located(id_ad_ocsp), wantOcsp ? [wantOcsp] : [])) find(`authorityInfoAccess OCSP location is not ${wantOcsp ?? 'absent'}`);
    if (!sameSet(located(id_ad_caIssuers), wantCaIssuers ? [wantCaIssuers] : []))
      find(`authorityInfoAccess caIssuers location is not ${wantCaIssuers ?? 'absent'}`);
  }

  const crldp = decode(id_ce_cRLDistributionPoints, readDistributionPointUris, 'cRLDistributionPoints');
  if (!wantCrl) {
    if (byId.has(id_ce_cRLDistributionPoints))
      find(`cRLDistributionPoints must be absent${selfSigned ? ' from a self-signed root' : ' when no CRL URL is configured'}`);
  } else if (!byId.has(id_ce_cRLDistributionPoints)) find('cRLDistributionPoints is missing');
  else if (crldp) {
    if (crldp.ext.critical) find('cRLDistributionPoints must not be critical');
    if (!sameSet(crldp.value, [wantCrl])) find(`cRLDistributionPoints is not ${wantCrl}`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function sameSet(actual: readonly (string | undefined)[], wanted: readonly string[]): boolean {
  return actual.length === wanted.length && wanted.every((w) => actual.includes(w));
}

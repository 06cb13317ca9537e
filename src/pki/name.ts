/**
 * X.509 names as Hearth uses them: a subject DN of at most a commonName and an organization, and
 * subjectAltName entries (DNS, URI, IP address, RFC 4043 PermanentIdentifier).
 */
import { isIP } from 'node:net';
import { AsnConvert, AsnProp, AsnPropTypes } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, GeneralName, Name, OtherName, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { DerDecodeError, decodeString, type DerReader, type Tlv } from './der-reader.js';
import { TAG, contextTag, ia5String, oid, sequence, set, tlv, utf8String } from './der-writer.js';

export const OID_COMMON_NAME = '2.5.4.3';
export const OID_ORGANIZATION = '2.5.4.10';
/** id-on-permanentIdentifier (RFC 4043). */
export const OID_PERMANENT_IDENTIFIER = '1.3.6.1.5.5.7.8.3';
/** ub-common-name in the RFC 5280 ASN.1 module; some toolkits refuse longer values. */
export const MAX_COMMON_NAME_LENGTH = 64;

/** PermanentIdentifier ::= SEQUENCE { identifierValue UTF8String OPTIONAL, assigner OBJECT IDENTIFIER OPTIONAL } */
export class PermanentIdentifier {
  @AsnProp({ type: AsnPropTypes.Utf8String, optional: true })
  identifierValue?: string;

  @AsnProp({ type: AsnPropTypes.ObjectIdentifier, optional: true })
  assigner?: string;

  constructor(params: Partial<PermanentIdentifier> = {}) {
    Object.assign(this, params);
  }
}

export interface SubjectNameInput {
  commonName?: string;
  organization?: string;
}

/** One attribute per RDN, UTF8String values (RFC 5280 4.1.2.6 wants UTF8String for new certificates). */
export function buildName(input: SubjectNameInput): Name {
  const rdns: RelativeDistinguishedName[] = [];
  const add = (type: string, value: string | undefined) => {
    if (value === undefined) return;
    rdns.push(new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]));
  };
  add(OID_ORGANIZATION, input.organization);
  add(OID_COMMON_NAME, input.commonName);
  return new Name(rdns);
}

/** The DER of buildName(input), written directly: this runs once per certificate. */
export function encodeName(input: SubjectNameInput): Uint8Array {
  const rdns: Uint8Array[] = [];
  const add = (type: string, value: string | undefined) => {
    if (value !== undefined) rdns.push(set(sequence(oid(type), utf8String(value))));
  };
  add(OID_ORGANIZATION, input.organization);
  add(OID_COMMON_NAME, input.commonName);
  return sequence(...rdns);
}

export function attributeValues(name: Name, type: string): string[] {
  return name.flatMap((rdn) => rdn.filter((atv) => atv.type === type).map((atv) => atv.value.toString()));
}

/** attributeValues for a DER Name read in place; `name` is the Name SEQUENCE. */
export function attributeValuesDer(reader: DerReader, name: Tlv, type: string): string[] {
  const values: string[] = [];
  for (const rdn of reader.childrenOf(name, TAG.SEQUENCE, 'Name')) {
    for (const atv of reader.childrenOf(rdn, TAG.SET, 'RelativeDistinguishedName')) {
      const [attributeType, value, ...extra] = reader.childrenOf(atv, TAG.SEQUENCE, 'AttributeTypeAndValue');
      if (extra.length > 0 || !value) throw new DerDecodeError('AttributeTypeAndValue is malformed');
      if (reader.oid(attributeType, 'attribute type') === type) values.push(decodeString(value.tag, reader.content(value), `attribute ${type}`));
    }
  }
  return values;
}

export interface AltNames {
  dnsNames: string[];
  uris: string[];
  ipAddresses: string[];
  permanentIdentifiers: string[];
}

export function emptyAltNames(): AltNames {
  return { dnsNames: [], uris: [], ipAddresses: [], permanentIdentifiers: [] };
}

export function buildGeneralNames(names: Partial<AltNames>): GeneralName[] {
  return [
    ...(names.dnsNames ?? []).map((dNSName) => new GeneralName({ dNSName })),
    ...(names.ipAddresses ?? []).map((iPAddress) => new GeneralName({ iPAddress })),
    ...(names.uris ?? []).map((uniformResourceIdentifier) => new GeneralName({ uniformResourceIdentifier })),
    ...(names.permanentIdentifiers ?? []).map(
      (identifierValue) =>
        new GeneralName({
          otherName: new OtherName({
            typeId: OID_PERMANENT_IDENTIFIER,
            value: AsnConvert.serialize(new PermanentIdentifier({ identifierValue })),
          }),
        }),
    ),
  ];
}

/** The DER of each GeneralName buildGeneralNames makes, in the same order. */
export function encodeGeneralNames(names: Partial<AltNames>): Uint8Array[] {
  return [
    ...(names.dnsNames ?? []).map((dns) => retag(ia5String(dns), GN.dNSName)),
    // IP addresses are rare (service certificates) and their text forms are many; the library parses them.
    ...(names.ipAddresses ?? []).map((iPAddress) => new Uint8Array(AsnConvert.serialize(new GeneralName({ iPAddress })))),
    ...(names.uris ?? []).map((uri) => retag(ia5String(uri), GN.uniformResourceIdentifier)),
    ...(names.permanentIdentifiers ?? []).map((value) =>
      tlv(GN.otherName, oid(OID_PERMANENT_IDENTIFIER), tlv(contextTag(0, true), sequence(utf8String(value)))),
    ),
  ];
}

/** GeneralName CHOICE tags (RFC 5280 4.2.1.6), named as @peculiar/asn1-x509 names its fields. */
const GN = {
  otherName: contextTag(0, true),
  rfc822Name: contextTag(1, false),
  dNSName: contextTag(2, false),
  x400Address: contextTag(3, true),
  directoryName: contextTag(4, true),
  ediPartyName: contextTag(5, true),
  uniformResourceIdentifier: contextTag(6, false),
  iPAddress: contextTag(7, false),
  registeredID: contextTag(8, false),
} as const;
const GN_KIND = new Map<number, string>(Object.entries(GN).map(([kind, tag]) => [tag, kind]));

/** IMPLICIT tagging: the same content under the context tag. */
function retag(encoded: Uint8Array, tag: number): Uint8Array {
  const out = Uint8Array.from(encoded);
  out[0] = tag;
  return out;
}

export interface ReadAltNames extends AltNames {
  /** Names of GeneralName kinds Hearth does not issue (e.g. "rfc822Name"); callers decide whether that is an error. */
  unsupported: string[];
}

export function readGeneralNames(generalNames: GeneralName[]): ReadAltNames {
  const out: ReadAltNames = { ...emptyAltNames(), unsupported: [] };
  for (const gn of generalNames) {
    if (gn.dNSName !== undefined) out.dnsNames.push(gn.dNSName);
    else if (gn.uniformResourceIdentifier !== undefined) out.uris.push(gn.uniformResourceIdentifier);
    else if (gn.iPAddress !== undefined) out.ipAddresses.push(gn.iPAddress);
    else if (gn.otherName?.typeId === OID_PERMANENT_IDENTIFIER) {
      const value = AsnConvert.parse(gn.otherName.value, PermanentIdentifier).identifierValue;
      if (value === undefined) out.unsupported.push('permanentIdentifier without identifierValue');
      else out.permanentIdentifiers.push(value);
    } else if (gn.otherName) out.unsupported.push(`otherName ${gn.otherName.typeId}`);
    else {
      const kind = Object.keys(gn).find((k) => (gn as unknown as Record<string, unknown>)[k] !== undefined);
      out.unsupported.push(kind ?? 'empty GeneralName');
    }
  }
  return out;
}

/** readGeneralNames for a DER GeneralNames SEQUENCE read in place. */
export function readGeneralNamesDer(reader: DerReader, generalNames: Tlv): ReadAltNames {
  const out: ReadAltNames = { ...emptyAltNames(), unsupported: [] };
  for (const gn of reader.childrenOf(generalNames, TAG.SEQUENCE, 'GeneralNames')) {
    const ascii = () => decodeString(TAG.IA5_STRING, reader.content(gn), 'GeneralName');
    switch (gn.tag) {
      case GN.dNSName:
        out.dnsNames.push(ascii());
        break;
      case GN.uniformResourceIdentifier:
        out.uris.push(ascii());
        break;
      case GN.iPAddress: {
        // RFC 5280 4.2.1.6: four octets for IPv4, sixteen for IPv6; the parser below takes any length.
        const octets = reader.content(gn).length;
        if (octets !== 4 && octets !== 16) throw new DerDecodeError(`iPAddress is ${octets} octets, not 4 (IPv4) or 16 (IPv6)`);
        const iPAddress = AsnConvert.parse(reader.encoding(gn), GeneralName).iPAddress;
        if (iPAddress === undefined) throw new DerDecodeError('iPAddress does not decode');
        out.ipAddresses.push(iPAddress);
        break;
      }
      case GN.otherName: {
        const [typeId, explicitValue, ...extra] = reader.children(gn);
        if (extra.length > 0) throw new DerDecodeError('otherName is malformed');
        const type = reader.oid(typeId, 'otherName type-id');
        if (type !== OID_PERMANENT_IDENTIFIER) {
          out.unsupported.push(`otherName ${type}`);
          break;
        }
        const [value, more] = reader.children(reader.expect(explicitValue, contextTag(0, true), 'otherName value'));
        if (more) throw new DerDecodeError('otherName value is malformed');
        const fields = reader.childrenOf(reader.expect(value, TAG.SEQUENCE, 'PermanentIdentifier'), TAG.SEQUENCE, 'PermanentIdentifier');
        const identifier = fields[0]?.tag === TAG.UTF8_STRING ? decodeString(TAG.UTF8_STRING, reader.content(fields[0]), 'identifierValue') : undefined;
        if (identifier === undefined) out.unsupported.push('permanentIdentifier without identifierValue');
        else out.permanentIdentifiers.push(identifier);
        break;
      }
      default:
        out.unsupported.push(GN_KIND.get(gn.tag) ?? `GeneralName with tag 0x${gn.tag.toString(16)}`);
    }
  }
  return out;
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A preferred-name-syntax host name (RFC 5280 4.2.1.6 via RFC 1034/1123), lower case, at least two
 * labels; `allowWildcard` admits a single leading "*" label. IDNs must arrive as A-labels.
 */
export function isValidDnsName(name: string, options: { allowWildcard: boolean }): boolean {
  if (name.length === 0 || name.length > 253) return false;
  // Single-label names (localhost, a gateway's mDNS-less host name) are normal on a home
  // network and this CA is private, so they are allowed; a wildcard still needs two labels under it.
  const labels = name.split('.');
  if (labels[0] === '*') {
    if (!options.allowWildcard) return false;
    labels.shift();
    if (labels.length < 2) return false;
  }
  return labels.every((label) => DNS_LABEL.test(label));
}

export function isValidIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

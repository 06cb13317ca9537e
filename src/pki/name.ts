/**
 * X.509 names as Hearth uses them: a subject DN of at most a commonName and an organization, and
 * subjectAltName entries (DNS, URI, IP address, RFC 4043 PermanentIdentifier).
 */
import { isIP } from 'node:net';
import { AsnConvert, AsnProp, AsnPropTypes } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  GeneralName,
  Name,
  OtherName,
  RelativeDistinguishedName,
} from '@peculiar/asn1-x509';

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

export function encodeName(input: SubjectNameInput): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(buildName(input)));
}

export function attributeValues(name: Name, type: string): string[] {
  return name.flatMap((rdn) => rdn.filter((atv) => atv.type === type).map((atv) => atv.value.toString()));
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

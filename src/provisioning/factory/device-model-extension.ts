/**
 * The device model in a factory certificate: a non-critical extension
 * `HearthDeviceModel ::= SEQUENCE { model UTF8String }` (a SEQUENCE so fields such as a hardware
 * revision can follow later without a new OID).
 *
 * PLACEHOLDER OID. Hearth has no IANA Private Enterprise Number yet, and borrowing a real
 * 1.3.6.1.4.1 arc could collide with someone's extension, so this sits under PEN 32473, which
 * RFC 5612 reserves for documentation and examples: no one can ever register it. Replace this one
 * constant (and re-run the factory tests) once Hearth has a PEN of its own. (A UUID-based 2.25 OID
 * would need no registration, but its 128-bit arc is mangled by asn1js, which @peculiar/x509
 * parses with.)
 */
import { AsnConvert, AsnProp, AsnPropTypes } from '@peculiar/asn1-schema';

export const OID_HEARTH_DEVICE_MODEL = '1.3.6.1.4.1.32473.1.1';

export class HearthDeviceModel {
  @AsnProp({ type: AsnPropTypes.Utf8String })
  model = '';

  constructor(model = '') {
    this.model = model;
  }
}

export function encodeDeviceModel(model: string): ArrayBuffer {
  return AsnConvert.serialize(new HearthDeviceModel(model));
}

export function decodeDeviceModel(der: BufferSource): string {
  return AsnConvert.parse(der, HearthDeviceModel).model;
}

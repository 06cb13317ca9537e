/**
 * A strict DER check (X.690 §10) for bytes that come from outside: one walk over every
 * tag-length-value, before any lenient decoder (asn1-schema, OpenSSL) sees them. BER that DER
 * forbids is refused rather than read, so what Hearth signs over, hashes or echoes has exactly one
 * encoding, and a decoder's leniency (a second reading of the same bytes) is never reached.
 *
 * Checked: definite lengths only, in their shortest form, no length over 4 octets, nothing past an
 * element's container or after the outer element; low tag numbers only; the universal string and
 * scalar types in primitive form (DER has no constructed strings) and SEQUENCE / SET constructed;
 * BOOLEAN 0x00 or 0xFF, INTEGER / ENUMERATED without redundant leading octets, NULL empty, BIT
 * STRING with 0..7 unused bits that are zero, OBJECT IDENTIFIER sub-identifiers minimal. Not
 * checked (it would need the schema or a sort): SET OF ordering, DEFAULT values left out, time
 * formats. Pure and allocation-light: the CSR hot path pays a few microseconds for it.
 */
import { DerDecodeError } from './der-reader.js';

export class DerStrictnessError extends DerDecodeError {
  override name = 'DerStrictnessError';
}

const CONSTRUCTED = 0x20;
const CLASS_MASK = 0xc0;
const UNIVERSAL = 0x00;

const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const NULL = 0x05;
const OID = 0x06;
const ENUMERATED = 0x0a;
const SEQUENCE_NUMBER = 0x10;
const SET_NUMBER = 0x11;

/** Nesting deeper than any certificate, CSR or OCSP request needs; deeper input is refused, not walked. */
const MAX_DEPTH = 64;

/**
 * Throws DerStrictnessError (a DerDecodeError) naming the first offence and its offset, or
 * returns when `bytes` is exactly one element in DER.
 */
export function assertStrictDer(bytes: Uint8Array): void {
  if (bytes.length === 0) throw new DerStrictnessError('no DER element: the input is empty');
  // An explicit stack of container ends instead of recursion: hostile nesting cannot overflow the call stack.
  const ends: number[] = [bytes.length];
  let offset = 0;
  let first = true;
  while (ends.length > 0) {
    const limit = ends[ends.length - 1]!;
    if (offset === limit) {
      ends.pop();
      if (ends.length === 0) break;
      continue;
    }
    if (!first && ends.length === 1) throw new DerStrictnessError(`${bytes.length - offset} octets follow the outer element at offset ${offset}`);
    first = false;
    if (offset + 2 > limit) throw new DerStrictnessError(`truncated element at offset ${offset}`);
    const tag = bytes[offset]!;
    if ((tag & 0x1f) === 0x1f) throw new DerStrictnessError(`high tag number form at offset ${offset} is not accepted`);
    if (tag === 0x00) throw new DerStrictnessError(`tag 0 (a BER end-of-contents marker) at offset ${offset}`);
    let length = bytes[offset + 1]!;
    let contentStart = offset + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0) throw new DerStrictnessError(`indefinite length at offset ${offset} (BER, not DER)`);
      if (octets > 4) throw new DerStrictnessError(`length of ${octets} octets at offset ${offset} is too large`);
      if (contentStart + octets > limit) throw new DerStrictnessError(`truncated length at offset ${offset}`);
      if (bytes[contentStart] === 0) throw new DerStrictnessError(`non-minimal length at offset ${offset} (leading zero octet; BER, not DER)`);
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + bytes[contentStart + i]!;
      if (length < 0x80) throw new DerStrictnessError(`non-minimal length at offset ${offset} (${length} in long form; BER, not DER)`);
      contentStart += octets;
    }
    const end = contentStart + length;
    if (end > limit) throw new DerStrictnessError(`element at offset ${offset} runs past its container`);
    if ((tag & CLASS_MASK) === UNIVERSAL) checkUniversal(bytes, tag, offset, contentStart, end);
    if (tag & CONSTRUCTED) {
      if (ends.length > MAX_DEPTH) throw new DerStrictnessError(`nesting deeper than ${MAX_DEPTH} at offset ${offset}`);
      ends.push(end);
      offset = contentStart;
    } else {
      offset = end;
    }
  }
}

function checkUniversal(bytes: Uint8Array, tag: number, offset: number, start: number, end: number): void {
  const number = tag & 0x1f;
  const constructed = (tag & CONSTRUCTED) !== 0;
  if (number === SEQUENCE_NUMBER || number === SET_NUMBER) {
    if (!constructed) throw new DerStrictnessError(`primitive ${number === SET_NUMBER ? 'SET' : 'SEQUENCE'} at offset ${offset}`);
    return;
  }
  if (constructed) throw new DerStrictnessError(`constructed universal type ${number} at offset ${offset} (BER, not DER)`);
  const length = end - start;
  switch (number) {
    case BOOLEAN:
      if (length !== 1 || (bytes[start] !== 0x00 && bytes[start] !== 0xff))
        throw new DerStrictnessError(`BOOLEAN at offset ${offset} is not one octet 0x00 or 0xFF`);
      return;
    case INTEGER:
    case ENUMERATED: {
      const what = number === INTEGER ? 'INTEGER' : 'ENUMERATED';
      if (length === 0) throw new DerStrictnessError(`empty ${what} at offset ${offset}`);
      if (length > 1) {
        const [a, b] = [bytes[start]!, bytes[start + 1]!];
        if ((a === 0x00 && (b & 0x80) === 0) || (a === 0xff && (b & 0x80) !== 0))
          throw new DerStrictnessError(`${what} at offset ${offset} has a redundant leading octet`);
      }
      return;
    }
    case NULL:
      if (length !== 0) throw new DerStrictnessError(`NULL at offset ${offset} has content`);
      return;
    case BIT_STRING: {
      if (length === 0) throw new DerStrictnessError(`BIT STRING at offset ${offset} has no unused-bits octet`);
      const unused = bytes[start]!;
      if (unused > 7 || (length === 1 && unused !== 0)) throw new DerStrictnessError(`BIT STRING at offset ${offset} claims ${unused} unused bits`);
      if (unused > 0 && (bytes[end - 1]! & ((1 << unused) - 1)) !== 0)
        throw new DerStrictnessError(`BIT STRING at offset ${offset} has unused bits that are not zero`);
      return;
    }
    case OID: {
      if (length === 0 || (bytes[end - 1]! & 0x80) !== 0) throw new DerStrictnessError(`OBJECT IDENTIFIER at offset ${offset} is malformed`);
      for (let i = start; i < end; i++) {
        if (bytes[i] === 0x80 && (i === start || (bytes[i - 1]! & 0x80) === 0))
          throw new DerStrictnessError(`OBJECT IDENTIFIER at offset ${offset} has a non-minimal sub-identifier`);
      }
      return;
    }
    default:
      return;
  }
}

/**
 * A minimal DER writer for the hot issuance path: tag-length-value concatenation with definite,
 * shortest-form lengths. It knows nothing of X.509; callers compose structures from these parts.
 * @peculiar/asn1-schema stays the reference encoder (the tests compare the two byte for byte); this
 * exists because building a certificate through it costs about a millisecond.
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag [n]; constructed for EXPLICIT tagging and for IMPLICIT tagging of constructed types. */
export function contextTag(n: number, constructed: boolean): number {
  if (n > 30) throw new RangeError(`context tag [${n}] needs the high-tag-number form, which this writer does not produce`);
  return (constructed ? 0xa0 : 0x80) | n;
}

export function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of content) length += part.length;
  const lengthOctets = length < 0x80 ? 0 : length < 0x100 ? 1 : length < 0x10000 ? 2 : length < 0x1000000 ? 3 : 4;
  const out = new Uint8Array(2 + lengthOctets + length);
  out[0] = tag;
  if (lengthOctets === 0) out[1] = length;
  else {
    out[1] = 0x80 | lengthOctets;
    for (let i = lengthOctets; i > 0; i--) out[1 + i] = (length >>> (8 * (lengthOctets - i))) & 0xff;
  }
  let at = 2 + lengthOctets;
  for (const part of content) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export const sequence = (...content: readonly Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, ...content);
export const set = (...content: readonly Uint8Array[]): Uint8Array => tlv(TAG.SET, ...content);
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, bytes);
export const utf8String = (text: string): Uint8Array => tlv(TAG.UTF8_STRING, Buffer.from(text, 'utf8'));
/** IA5 is 7-bit ASCII; anything else cannot be written as one. */
export function ia5String(text: string): Uint8Array {
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(text)) throw new RangeError('IA5String value is not ASCII');
  return tlv(TAG.IA5_STRING, Buffer.from(text, 'latin1'));
}
export const BOOLEAN_TRUE = new Uint8Array([TAG.BOOLEAN, 0x01, 0xff]);
export const NULL = new Uint8Array([TAG.NULL, 0x00]);

/** INTEGER from content octets that are already minimal two's complement (see serial-number.ts). */
export const integerFromContent = (content: Uint8Array): Uint8Array => tlv(TAG.INTEGER, content);

/** INTEGER for a small non-negative number (versions, path lengths). */
export function smallInteger(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${value} is not a small non-negative integer`);
  const octets: number[] = [];
  do {
    octets.unshift(value & 0xff);
    value = Math.floor(value / 256);
  } while (value > 0);
  if (octets[0]! & 0x80) octets.unshift(0);
  return tlv(TAG.INTEGER, Uint8Array.from(octets));
}

/** BIT STRING holding whole octets (keys, signatures). */
export const bitString = (bytes: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, new Uint8Array([0]), bytes);

/** A NamedBitList BIT STRING (X.680 22.7): bit 0 is the first octet's top bit, trailing zero bits dropped as DER requires. */
export function namedBits(flags: number): Uint8Array {
  if (!Number.isSafeInteger(flags) || flags < 0) throw new RangeError(`${flags} is not a set of bit flags`);
  if (flags === 0) return tlv(TAG.BIT_STRING, new Uint8Array([0]));
  const highest = Math.floor(Math.log2(flags));
  const octets = new Uint8Array((highest >> 3) + 1);
  for (let bit = 0; bit <= highest; bit++) if (Math.floor(flags / 2 ** bit) % 2 === 1) octets[bit >> 3]! |= 0x80 >> (bit & 7);
  return tlv(TAG.BIT_STRING, new Uint8Array([octets.length * 8 - (highest + 1)]), octets);
}

const oidCache = new Map<string, Uint8Array>();

/** OBJECT IDENTIFIER from dotted form; the few OIDs a CA uses are encoded once. */
export function oid(dotted: string): Uint8Array {
  let encoded = oidCache.get(dotted);
  if (!encoded) {
    encoded = tlv(TAG.OID, oidContent(dotted));
    if (oidCache.size < 1024) oidCache.set(dotted, encoded);
  }
  return encoded;
}

function oidContent(dotted: string): Uint8Array {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new RangeError(`"${dotted}" is not an object identifier`);
  const arcs = dotted.split('.').map(BigInt);
  if (arcs[0]! < 2n && arcs[1]! > 39n) throw new RangeError(`"${dotted}" is not an object identifier`);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)]) {
    const base128: number[] = [Number(arc & 0x7fn)];
    for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) base128.unshift(Number(rest & 0x7fn) | 0x80);
    out.push(...base128);
  }
  return Uint8Array.from(out);
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, always "Z". */
export function time(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms % 1000 !== 0) throw new RangeError('certificate times must be whole seconds');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`year ${year} cannot be written in a certificate`);
  const two = (n: number) => String(n).padStart(2, '0');
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year < 2050
    ? tlv(TAG.UTC_TIME, Buffer.from(`${two(year % 100)}${rest}`, 'latin1'))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(`${year}${rest}`, 'latin1'));
}

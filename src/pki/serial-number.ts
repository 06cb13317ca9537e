/**
 * Certificate serial numbers: 128 random bits (RFC 5280 4.1.2.2 allows up to 20 octets; CA/B
 * practice wants at least 64 unpredictable bits). One canonical text form is used everywhere —
 * store, CRL, OCSP, logs — so a serial read back from any structure compares equal.
 */
import { BadRequestError } from '../core/errors.js';

export const SERIAL_ENTROPY_BYTES = 16;
const MAX_SERIAL_OCTETS = 20;

export interface SerialNumber {
  /** Canonical form: lower-case hex of the positive value, no leading zero octets. */
  hex: string;
  /** Content octets of the DER INTEGER (minimal two's complement, so 0x00 leads when the top bit is set). */
  der: Uint8Array;
}

/**
 * `randomBytes` is injected (node:crypto's in production) so the domain stays free of ambient
 * sources. A zero draw — a serial must be positive — is drawn again.
 */
export function newSerialNumber(randomBytes: (n: number) => Uint8Array): SerialNumber {
  for (;;) {
    const random = randomBytes(SERIAL_ENTROPY_BYTES);
    if (random.length !== SERIAL_ENTROPY_BYTES) throw new Error(`randomBytes returned ${random.length} bytes, wanted ${SERIAL_ENTROPY_BYTES}`);
    const magnitude = stripLeadingZeros(random);
    if (magnitude.length > 0) return { hex: Buffer.from(magnitude).toString('hex'), der: integerContent(magnitude) };
  }
}

/**
 * Canonical hex of a serial given as DER INTEGER content octets (as found in a certificate, a CRL
 * entry or an OCSP CertID). Rejects zero and negative values, which no Hearth CA issues.
 */
export function serialHexFromInteger(content: Uint8Array): string {
  if (content.length === 0) throw new BadRequestError('serial number is empty', 'invalid-serial');
  if ((content[0]! & 0x80) !== 0) throw new BadRequestError('serial number is negative', 'invalid-serial');
  const magnitude = stripLeadingZeros(content);
  if (magnitude.length === 0) throw new BadRequestError('serial number is zero', 'invalid-serial');
  return Buffer.from(magnitude).toString('hex');
}

/** DER INTEGER content octets for a serial in hex (any case, leading zeros tolerated). */
export function serialIntegerFromHex(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new BadRequestError('serial number must be hexadecimal', 'invalid-serial');
  const magnitude = stripLeadingZeros(Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex'));
  if (magnitude.length === 0) throw new BadRequestError('serial number is zero', 'invalid-serial');
  const content = integerContent(magnitude);
  if (content.length > MAX_SERIAL_OCTETS) throw new BadRequestError(`serial number is longer than ${MAX_SERIAL_OCTETS} octets`, 'invalid-serial');
  return content;
}

export function canonicalSerialHex(hex: string): string {
  // The same result and the same refusals as serialHexFromInteger(serialIntegerFromHex(hex)),
  // by string operations alone: the gateway runs this on every device connection.
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new BadRequestError('serial number must be hexadecimal', 'invalid-serial');
  let start = 0;
  while (start < hex.length && hex.charCodeAt(start) === 0x30 /* '0' */) start++;
  if (start === hex.length) throw new BadRequestError('serial number is zero', 'invalid-serial');
  let digits = hex.slice(start).toLowerCase();
  if (digits.length % 2 === 1) digits = `0${digits}`;
  // A leading digit of 8 or more sets the top bit: DER then needs a 0x00 octet in front.
  const octets = digits.length / 2 + (digits.charCodeAt(0) >= 0x38 /* '8' */ ? 1 : 0);
  if (octets > MAX_SERIAL_OCTETS) throw new BadRequestError(`serial number is longer than ${MAX_SERIAL_OCTETS} octets`, 'invalid-serial');
  return digits;
}

function stripLeadingZeros(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return bytes.slice(i);
}

function integerContent(magnitude: Uint8Array): Uint8Array {
  if ((magnitude[0]! & 0x80) === 0) return Uint8Array.from(magnitude);
  const out = new Uint8Array(magnitude.length + 1);
  out.set(magnitude, 1);
  return out;
}

/**
 * Setup codes: what a homeowner types (or scans) to claim a device. Ten characters from an
 * alphabet without 0/O and 1/I, so a printed label cannot be misread: nine random characters
 * (45 bits) and a check character that catches every single mistyped character and every swap of
 * two neighbours before the code is ever sent.
 *
 * The check character follows Damm's algorithm over a weakly totally anti-symmetric quasigroup of
 * order 32: x∘y = 2·x + y in GF(2^5) (polynomial x^5 + x^2 + 1). Each step y ↦ 2·x + y and
 * x ↦ 2·x + y is a bijection, so one changed character always changes the final value; and
 * (c∘x)∘y = (c∘y)∘x only when x = y, so swapping two different neighbours does too.
 */
import { FactoryError } from './factory-error.js';

export const SETUP_CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
export const SETUP_CODE_LENGTH = 10;
const DATA_LENGTH = SETUP_CODE_LENGTH - 1;
/** Version 1 of the QR payload: `HEARTH:1:<serial>:<code>`. Upper-case so QR alphanumeric mode can hold it. */
export const SETUP_QR_PREFIX = 'HEARTH:1:';

function gfDouble(x: number): number {
  const shifted = x << 1;
  return shifted & 0b100000 ? shifted ^ 0b100101 : shifted;
}

function step(interim: number, value: number): number {
  return gfDouble(interim) ^ value;
}

function valuesOf(text: string): number[] {
  return Array.from(text, (char) => SETUP_CODE_ALPHABET.indexOf(char));
}

/** The check character for the given data characters (all from SETUP_CODE_ALPHABET). */
export function setupCodeCheckCharacter(data: string): string {
  const interim = valuesOf(data).reduce(step, 0);
  // interim∘d = 0 ⇔ d = 2·interim in characteristic 2.
  return SETUP_CODE_ALPHABET[gfDouble(interim)] as string;
}

/** A new setup code; `random` returns n uniformly random bytes (crypto.randomBytes). */
export function generateSetupCode(random: (n: number) => Uint8Array): string {
  // 256 is a multiple of 32, so the low five bits of a random byte are uniform.
  const data = Array.from(random(DATA_LENGTH), (byte) => SETUP_CODE_ALPHABET[byte & 31]).join('');
  return data + setupCodeCheckCharacter(data);
}

/**
 * Reads a code as a person typed it: case, spaces and hyphens are ignored. Throws a FactoryError
 * saying what is wrong (length, a character outside the alphabet, a failed check character).
 */
export function parseSetupCode(input: string): string {
  const code = input.toUpperCase().replace(/[\s-]/g, '');
  if (code.length !== SETUP_CODE_LENGTH) {
    throw new FactoryError(`a setup code has ${SETUP_CODE_LENGTH} characters, this one has ${code.length}`, 'invalid-setup-code');
  }
  for (const char of code) {
    if (!SETUP_CODE_ALPHABET.includes(char)) {
      const hint = char === '0' || char === 'O' || char === '1' || char === 'I' ? ' (setup codes never contain 0, O, 1 or I)' : '';
      throw new FactoryError(`a setup code cannot contain "${char}"${hint}`, 'invalid-setup-code');
    }
  }
  if (valuesOf(code).reduce(step, 0) !== 0) throw new FactoryError('setup code check character does not match: a character is mistyped', 'invalid-setup-code');
  return code;
}

/** As printed on a label: two groups of five. */
export function formatSetupCode(code: string): string {
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

export function setupQrPayload(serial: string, code: string): string {
  return `${SETUP_QR_PREFIX}${serial}:${code}`;
}

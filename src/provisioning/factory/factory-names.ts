/**
 * The names a factory stamps on its devices. Every device must later be able to hold a Hearth
 * device identity `urn:dev:ops:<manufacturer>-<model>-<serial>` (RFC 9039, see pki/device-id.ts),
 * so the manufacturer and model use that identifier's vendor/model characters and the three
 * together must fit the 64 characters of a certificate's common name.
 */
import { DEVICE_ID_MAX_LENGTH, DEVICE_ID_PREFIX, formatDeviceId } from '../../pki/device-id.js';
import { FactoryError } from './factory-error.js';

export const MAX_MANUFACTURER_LENGTH = 24;
export const MAX_MODEL_LENGTH = 24;
export const MAX_SERIAL_LENGTH = 32;
export const MAX_BATCH_SIZE = 100_000;

const VENDOR_OR_MODEL = /^[A-Za-z0-9._~]+$/;
/**
 * Letters, digits, "." and "-" only: the serial also goes into the subject's serialNumber
 * attribute, a PrintableString, and into the `HEARTH:1:<serial>:<code>` QR payload, so neither
 * "_", "~" nor ":" may appear. It starts with a letter or digit and ends with a digit, the part
 * that counts up through a batch.
 */
const SERIAL = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[0-9])?$/;

function checkIdentifierPart(what: string, value: string, max: number): string {
  if (value.length === 0) throw new FactoryError(`${what} is empty`, `invalid-${what}`);
  if (value.length > max) throw new FactoryError(`${what} "${value}" is longer than ${max} characters`, `invalid-${what}`);
  if (!VENDOR_OR_MODEL.test(value)) {
    throw new FactoryError(
      `${what} "${value}" may contain only letters, digits, ".", "_" and "~" (it is part of device identifiers ${DEVICE_ID_PREFIX}<manufacturer>-<model>-<serial>)`,
      `invalid-${what}`,
    );
  }
  return value;
}

/**
 * WebAuthn §8.2.1 asks the attestation certificate's subject C for "the ISO 3166 code specifying
 * the country where the Authenticator vendor is incorporated": two upper-case letters.
 */
export function checkCountry(value: string): string {
  if (!/^[A-Z]{2}$/.test(value))
    throw new FactoryError(
      `country "${value}" is not an ISO 3166-1 alpha-2 code (two upper-case letters, such as DE or US): WebAuthn 8.2.1 puts it in every factory certificate's subject C`,
      'invalid-country',
    );
  return value;
}

/** The subject O of factory certificates (WebAuthn 8.2.1: the authenticator vendor's legal name). */
export function checkOrganization(value: string): string {
  if (value.trim().length === 0 || value.length > 64 || [...value].some((c) => c < ' ' || c === '\x7f'))
    throw new FactoryError(`organization ${JSON.stringify(value)} must be 1-64 printable characters (X.520 ub-organization-name)`, 'invalid-organization');
  return value;
}

export function checkManufacturer(value: string): string {
  return checkIdentifierPart('manufacturer', value, MAX_MANUFACTURER_LENGTH);
}

export function checkModel(value: string): string {
  return checkIdentifierPart('model', value, MAX_MODEL_LENGTH);
}

export function checkSerial(value: string): string {
  if (value.length === 0) throw new FactoryError('serial is empty', 'invalid-serial');
  if (value.length > MAX_SERIAL_LENGTH) throw new FactoryError(`serial "${value}" is longer than ${MAX_SERIAL_LENGTH} characters`, 'invalid-serial');
  if (!SERIAL.test(value)) {
    throw new FactoryError(`serial "${value}" must be letters, digits, "." and "-", start with a letter or digit and end with a digit`, 'invalid-serial');
  }
  return value;
}

/** Parses a device count given as text: a whole decimal number from 1 to MAX_BATCH_SIZE. */
export function parseBatchCount(text: string): number {
  if (!/^[0-9]+$/.test(text)) throw new FactoryError(`count "${text}" is not a whole number`, 'invalid-count');
  const count = Number(text);
  if (count < 1 || count > MAX_BATCH_SIZE) throw new FactoryError(`count ${text} is outside 1..${MAX_BATCH_SIZE}`, 'invalid-count');
  return count;
}

/**
 * The batch's serials: the trailing digits of `first` count up, keeping their width, so
 * `AB-0098` with count 3 gives AB-0098, AB-0099, AB-0100. A range that would need more digits
 * is refused rather than widened, since a wider serial would no longer sort or look like its
 * neighbours.
 */
export function serialRange(first: string, count: number): string[] {
  checkSerial(first);
  const digits = /[0-9]+$/.exec(first)?.[0] as string;
  const prefix = first.slice(0, first.length - digits.length);
  const start = BigInt(digits);
  const room = 10n ** BigInt(digits.length) - start;
  if (BigInt(count) > room) {
    throw new FactoryError(
      `first serial "${first}" leaves room for only ${room} serials in its ${digits.length} trailing digits, not ${count}`,
      'invalid-serial',
    );
  }
  const serials: string[] = [];
  for (let i = 0n; i < BigInt(count); i++) serials.push(prefix + (start + i).toString().padStart(digits.length, '0'));
  return serials;
}

const PREFIX_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

/**
 * A first serial for a batch started without one: 8 random characters (40 bits, so two batches
 * almost never share a prefix) and a six-digit counter from 000001.
 */
export function defaultFirstSerial(random: (n: number) => Uint8Array): string {
  const prefix = Array.from(random(8), (byte) => PREFIX_ALPHABET[byte & 31]).join('');
  return `${prefix}-000001`;
}

/** Refuses names whose device identifier would not fit in a certificate's common name. */
export function checkDeviceIdFits(manufacturer: string, model: string, serial: string): void {
  const id = `${DEVICE_ID_PREFIX}${manufacturer}-${model}-${serial}`;
  if (id.length > DEVICE_ID_MAX_LENGTH) {
    throw new FactoryError(
      `device identifier ${id} is ${id.length} characters, more than ${DEVICE_ID_MAX_LENGTH}; shorten the manufacturer, model or serial`,
      'invalid-serial',
    );
  }
  formatDeviceId({ vendor: manufacturer, model, serial });
}

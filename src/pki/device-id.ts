/**
 * Device identifiers: `urn:dev:ops:<vendor>-<model>-<serial>` (RFC 9039 "ops" form, with the
 * organisation part being the vendor's name and the product class its model).
 */
import { BadRequestError } from '../core/errors.js';
import { MAX_COMMON_NAME_LENGTH } from './name.js';

export const DEVICE_ID_PREFIX = 'urn:dev:ops:';
/**
 * The identifier is also the certificate's subject CN, so it must fit ub-common-name (64); a
 * longer one would be refused by toolkits that enforce the bound.
 */
export const DEVICE_ID_MAX_LENGTH = MAX_COMMON_NAME_LENGTH;

export interface DeviceId {
  vendor: string;
  model: string;
  serial: string;
}

/**
 * RFC 3986 unreserved characters. "-" separates the parts, so vendor and model cannot contain it;
 * the serial is last and may (manufacturers' serials often do).
 */
const VENDOR_OR_MODEL = /^[A-Za-z0-9._~]+$/;
const SERIAL = /^[A-Za-z0-9._~-]+$/;

export function parseDeviceId(value: string): DeviceId {
  const reject = (reason: string): never => {
    throw new BadRequestError(`invalid device identifier: ${reason}`, 'invalid-device-id');
  };
  if (typeof value !== 'string') return reject('not a string');
  if (value.length > DEVICE_ID_MAX_LENGTH) return reject(`longer than ${DEVICE_ID_MAX_LENGTH} characters`);
  if (!value.startsWith(DEVICE_ID_PREFIX)) {
    // The URN scheme and NID are case-insensitive, but an identity compared byte for byte needs one spelling.
    return value.toLowerCase().startsWith(DEVICE_ID_PREFIX)
      ? reject(`the prefix must be written in lower case as "${DEVICE_ID_PREFIX}"`)
      : reject(`must start with "${DEVICE_ID_PREFIX}"`);
  }
  const body = value.slice(DEVICE_ID_PREFIX.length);
  const first = body.indexOf('-');
  const second = first < 0 ? -1 : body.indexOf('-', first + 1);
  if (first < 0 || second < 0) return reject('expected <vendor>-<model>-<serial> after the prefix');
  const vendor = body.slice(0, first);
  const model = body.slice(first + 1, second);
  const serial = body.slice(second + 1);
  for (const [part, text, pattern] of [
    ['vendor', vendor, VENDOR_OR_MODEL],
    ['model', model, VENDOR_OR_MODEL],
    ['serial', serial, SERIAL],
  ] as const) {
    if (text.length === 0) return reject(`${part} is empty`);
    if (!pattern.test(text)) {
      return reject(`${part} may contain only letters, digits${part === 'serial' ? ', "-"' : ''}, ".", "_" and "~"`);
    }
  }
  return { vendor, model, serial };
}

export function isDeviceId(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    parseDeviceId(value);
    return true;
  } catch {
    return false;
  }
}

export function formatDeviceId(id: DeviceId): string {
  const value = `${DEVICE_ID_PREFIX}${id.vendor}-${id.model}-${id.serial}`;
  parseDeviceId(value);
  return value;
}

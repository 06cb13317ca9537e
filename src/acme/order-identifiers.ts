/**
 * The identifiers a newOrder asks for (RFC 8555 7.4): DNS names, lower-cased and checked, or one
 * device's permanent identifier (draft-acme-device-attest). Whether the account may have them is
 * the identifier policy's and the order admission's business; this only reads the request.
 */
import { isValidDnsName } from '../pki/name.js';
import { isDeviceId } from '../pki/device-id.js';
import type { AcmeIdentifier } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { PERMANENT_IDENTIFIER } from './device-attest01-validator.js';

const MAX_IDENTIFIERS = 100;

export function requestedIdentifiers(payload: unknown): AcmeIdentifier[] {
  const identifiers = (payload as { identifiers?: unknown } | undefined)?.identifiers;
  if (!Array.isArray(identifiers) || identifiers.length === 0) throw new AcmeError('malformed', 'an order needs a non-empty identifiers array');
  if (identifiers.length > MAX_IDENTIFIERS) throw new AcmeError('rejectedIdentifier', `at most ${MAX_IDENTIFIERS} identifiers per order`);
  const seen = new Set<string>();
  return identifiers.map((raw: unknown) => {
    const { type, value } = (raw ?? {}) as { type?: unknown; value?: unknown };
    if (typeof type !== 'string' || typeof value !== 'string') throw new AcmeError('malformed', 'an identifier is {"type": ..., "value": ...}');
    if (type === PERMANENT_IDENTIFIER) {
      // draft-acme-device-attest: the device's permanent identifier, here its urn:dev:ops identifier, compared byte for byte.
      if (!isDeviceId(value))
        throw new AcmeError('rejectedIdentifier', `${JSON.stringify(value)} is not a device identifier (urn:dev:ops:<manufacturer>-<model>-<serial>)`);
      if (identifiers.length !== 1) throw new AcmeError('rejectedIdentifier', 'a device certificate names one device: order a permanent-identifier alone');
      return { type, value };
    }
    if (type !== 'dns')
      throw new AcmeError('unsupportedIdentifier', `identifier type ${JSON.stringify(type)} is not supported here; use dns or permanent-identifier`);
    const name = value.toLowerCase();
    if (!isValidDnsName(name, { allowWildcard: false }))
      throw new AcmeError('rejectedIdentifier', `${JSON.stringify(value)} is not a DNS name this server issues for`);
    if (seen.has(name)) throw new AcmeError('malformed', `identifier ${name} is repeated`);
    seen.add(name);
    return { type, value: name };
  });
}

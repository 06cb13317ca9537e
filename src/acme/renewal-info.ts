/**
 * ACME Renewal Information (RFC 9773): the certificate identifier clients name a certificate by,
 * and the window in which Hearth suggests renewing it. Pure: the routes bring the certificate,
 * the clock and any window an operator set.
 */
import { serialHexFromInteger, serialIntegerFromHex } from '../pki/serial-number.js';
import { AcmeError } from './acme-error.js';

export interface RenewalWindow {
  start: Date;
  end: Date;
}

/** Longest AKI accepted in an identifier: SHA-256 key ids are 32 bytes; anything longer is no CA of ours. */
const MAX_KEY_IDENTIFIER_BYTES = 64;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER INTEGER content octets),
 * both without padding.
 */
export function certificateIdentifier(keyIdentifier: Uint8Array, serialHex: string): string {
  return `${Buffer.from(keyIdentifier).toString('base64url')}.${Buffer.from(serialIntegerFromHex(serialHex)).toString('base64url')}`;
}

export function parseCertificateIdentifier(id: string): { keyIdentifier: Uint8Array; serialHex: string } {
  const parts = id.split('.');
  if (parts.length !== 2 || !parts.every((p) => BASE64URL.test(p))) {
    throw new AcmeError('malformed', 'a certificate identifier is base64url(AKI keyIdentifier) "." base64url(serial), without padding (RFC 9773 4.1)');
  }
  const keyIdentifier = new Uint8Array(Buffer.from(parts[0] as string, 'base64url'));
  const serial = new Uint8Array(Buffer.from(parts[1] as string, 'base64url'));
  if (keyIdentifier.length === 0 || keyIdentifier.length > MAX_KEY_IDENTIFIER_BYTES)
    throw new AcmeError('malformed', 'the certificate identifier has no usable key identifier');
  // The serial must be the INTEGER's exact content octets: no redundant leading zero, not negative.
  let serialHex: string;
  try {
    serialHex = serialHexFromInteger(serial);
    if (!Buffer.from(serialIntegerFromHex(serialHex)).equals(serial)) throw new Error('serial number is not minimally encoded');
  } catch (error) {
    throw new AcmeError('malformed', `the certificate identifier's ${(error as Error).message}`);
  }
  return { keyIdentifier, serialHex };
}

/** By default the last third of the certificate's lifetime, as Let's Encrypt and most clients expect. */
export function defaultRenewalWindow(notBefore: Date, notAfter: Date): RenewalWindow {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return { start: new Date(notAfter.getTime() - Math.floor(lifetime / 3)), end: notAfter };
}

/**
 * How soon a client should ask again (RFC 9773 4.3 wants between a minute and a day): a twelfth of
 * the lifetime, so a 24-hour device certificate is asked about every two hours and a 90-day server
 * certificate every six.
 */
export function renewalInfoRetryAfterSeconds(notBefore: Date, notAfter: Date): number {
  const seconds = Math.floor((notAfter.getTime() - notBefore.getTime()) / 12_000);
  return Math.min(6 * 3600, Math.max(60, seconds));
}

/**
 * Which of this installation's issuing CAs the root's CRL revokes. Revoking an issuing CA is done
 * offline with the root key (`hearth ca sign-root-crl --revoke-ca`); from then on every relying
 * party that checks the root CRL rejects what that CA signs, so the authority must not sign with
 * it either: it refuses to issue from a CA listed here until the CA is replaced.
 */
import type { RevokedSerial } from '../pki/crl.js';
import type { RootCrl } from './root-crl.js';
import type { IssuingCa } from './issuing-ca.js';

export type RevokedIssuingCas = ReadonlyMap<string, RevokedSerial>;

export function issuingCasRevokedBy(crl: RootCrl | undefined, cas: ReadonlyMap<string, IssuingCa>): RevokedIssuingCas {
  const revoked = new Map<string, RevokedSerial>();
  if (!crl) return revoked;
  const bySerial = new Map(crl.revoked.map((entry) => [entry.serial, entry]));
  for (const ca of cas.values()) {
    const entry = bySerial.get(ca.certificate.serialHex);
    if (entry) revoked.set(ca.name, entry);
  }
  return revoked;
}

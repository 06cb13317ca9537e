/**
 * ARI's `replaces` (RFC 9773 5): a newOrder may say which certificate it renews, so the server can
 * tie the two and clients can renew early without counting against limits twice.
 */
import type { Authority } from '../authority/authority.js';
import type { Clock } from '../core/clock.js';
import { certificateDnsNames } from '../pki/certificate-facts.js';
import type { AcmeAccountRecord, AcmeIdentifier, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { certificateByIdentifier } from './renewal-suggestions.js';

export interface ReplacesDeps {
  store: Store;
  clock: Clock;
  authority: Pick<Authority, 'issuingCa'>;
}

/**
 * RFC 9773 5: `replaces` names, by its renewal-information identifier, a certificate this
 * account was issued and that no other live order replaces; the new order must share a name with it.
 * Returns the replaced certificate's serial, or null when the order replaces nothing.
 */
export async function replacedCertificate(
  deps: ReplacesDeps,
  id: unknown,
  account: AcmeAccountRecord,
  identifiers: readonly AcmeIdentifier[],
): Promise<string | null> {
  const { store, clock } = deps;
  if (id === undefined) return null;
  if (typeof id !== 'string') throw new AcmeError('malformed', 'replaces must be a certificate identifier (RFC 9773 4.1)');
  const record = await certificateByIdentifier(store, deps.authority, id);
  if (!record?.der) throw new AcmeError('malformed', 'replaces names no certificate this server issued');
  const original = await store.acme.findAcmeOrderByCertificate(record.serial);
  if (original?.accountId !== account.id) throw new AcmeError('unauthorized', 'the certificate named by replaces was not issued to this account');
  const names = new Set([...certificateDnsNames(record.der), record.identifier]);
  if (!identifiers.some((i) => names.has(i.value))) throw new AcmeError('malformed', 'the order shares no identifier with the certificate it replaces');
  const other = await store.acme.findAcmeOrderReplacing(record.serial, clock.now());
  if (other) throw new AcmeError('alreadyReplaced', `certificate ${record.serial} is already replaced by order ${other.id}`);
  return record.serial;
}

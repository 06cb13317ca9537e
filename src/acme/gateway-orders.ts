/** What an account bound to a registered gateway may order, checked at newOrder and again at finalize. */
import type { AcmeAccountRecord, AcmeIdentifier, Store } from '../store/store.js';
import type { GatewayRecord } from '../store/gateway-store.js';
import { AcmeError } from './acme-error.js';

/**
 * An account bound with a registered gateway's EAB key is that gateway: it orders its registered
 * name alone, and gets `gateway` certificates, the only ones the API takes as a gateway's; a
 * retired gateway gets nothing. Any other account gets `service` certificates, which never act as
 * a gateway. Returns the gateway, or undefined for other accounts.
 */
export async function checkGatewayOrder(store: Store, account: AcmeAccountRecord, identifiers: readonly AcmeIdentifier[]): Promise<GatewayRecord | undefined> {
  const gateway = await store.gateways.findGatewayByAccount(account.id);
  if (!gateway) return undefined;
  if (gateway.status !== 'active') throw new AcmeError('unauthorized', `gateway ${gateway.name} is ${gateway.status}; its account may not order certificates`);
  if (identifiers.length !== 1 || identifiers[0]?.type !== 'dns' || identifiers[0].value !== gateway.name) {
    throw new AcmeError('rejectedIdentifier', `this account is gateway ${gateway.name}'s: it may order a certificate for ${gateway.name} alone`);
  }
  return gateway;
}
